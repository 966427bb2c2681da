//! Tokens enough to find paths: words, `::` and punctuation; no comment and no literal.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Ident(String),
    PathSep,
    Punct(char),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) line: usize,
}

/// Identifiers, `::` and single punctuation; comments, string, char and number literals are
/// dropped (so `"crate::x"` in a string or a doc comment is no reference).
pub(crate) fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips to just after the closing `"` of a string whose body starts at `i`.
    let skip_string = |mut i: usize, line: &mut usize| -> usize {
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    if at(i + 1) == '\n' {
                        *line += 1;
                    }
                    i += 2;
                    continue;
                }
                '"' => return i + 1,
                '\n' => *line += 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    // Skips a raw string whose `#`s start at `i`.
    let skip_raw_string = |mut i: usize, line: &mut usize| -> usize {
        let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
        i += hashes + 1;
        while i < chars.len() {
            if chars[i] == '"'
                && chars[i + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|c| **c == '#')
                    .count()
                    == hashes
            {
                return i + 1 + hashes;
            }
            if chars[i] == '\n' {
                *line += 1;
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut nesting = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        nesting += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        nesting -= 1;
                        i += 2;
                        if nesting == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(i + 1, &mut line),
            '\'' => {
                if at(i + 1) == '\\' {
                    // An escaped char literal: '\n', '\'', '\u{…}'.
                    i += 3;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == '\'' {
                    i += 3; // 'x'
                } else {
                    i += 1; // a lifetime or a label: its name follows as a word
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = at(i);
                if matches!(word.as_str(), "r" | "br" | "cr")
                    && (next == '"' || (next == '#' && (at(i + 1) == '"' || at(i + 1) == '#')))
                {
                    i = skip_raw_string(i, &mut line);
                } else if matches!(word.as_str(), "b" | "c") && next == '"' {
                    i = skip_string(i + 1, &mut line);
                } else if word == "b" && next == '\'' {
                    // A byte literal: let the `'` arm skip it.
                } else if word == "r" && next == '#' {
                    i += 1; // r#ident: the word follows
                } else if !c.is_ascii_digit() {
                    out.push(Token {
                        kind: TokenKind::Ident(word),
                        line,
                    });
                }
            }
            ':' if at(i + 1) == ':' => {
                out.push(Token {
                    kind: TokenKind::PathSep,
                    line,
                });
                i += 2;
            }
            other => {
                out.push(Token {
                    kind: TokenKind::Punct(other),
                    line,
                });
                i += 1;
            }
        }
    }
    out
}
