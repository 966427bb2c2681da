//! Reading a crate's files: the `mod` tree, `use` trees and `crate::`/`super::` paths.

use std::collections::VecDeque;
use std::fs;
use std::path::Path;

use super::lexer::{Token, TokenKind, tokens};
use super::{ModulePath, SourceFile};

/// Every file of the crate reached from `root` by `mod name;`, root first.
pub(crate) fn module_files(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut queue = VecDeque::from([(root.to_owned(), ModulePath::new())]);
    while let Some((path, module)) = queue.pop_front() {
        let source = fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let file = SourceFile {
            tokens: tokens(&source),
            path,
            module,
            source,
        };
        let owns_directory = matches!(
            file.path.file_name().and_then(|name| name.to_str()),
            Some("lib.rs" | "main.rs" | "mod.rs")
        ) || file.module.is_empty();
        let directory = if owns_directory {
            file.path.parent().unwrap().to_owned()
        } else {
            file.path.with_extension("")
        };
        for (declared, is_file) in declarations_with_kind(&file) {
            if !is_file {
                continue;
            }
            let relative = &declared[file.module.len()..];
            let mut base = directory.clone();
            for segment in &relative[..relative.len() - 1] {
                base.push(segment);
            }
            let name = relative.last().unwrap();
            let flat = base.join(format!("{name}.rs"));
            let nested = base.join(name).join("mod.rs");
            let child = if flat.is_file() { flat } else { nested };
            queue.push_back((child, declared));
        }
        files.push(file);
    }
    files
}

/// The modules a file declares, as (parent module, name).
pub(crate) fn module_declarations(file: &SourceFile) -> Vec<(ModulePath, String)> {
    declarations_with_kind(file)
        .into_iter()
        .map(|(mut path, _)| {
            let name = path.pop().unwrap();
            (path, name)
        })
        .collect()
}

/// The full path of every module a file declares, and whether it lives in its own file
/// (`mod name;`) or inline (`mod name { … }`).
fn declarations_with_kind(file: &SourceFile) -> Vec<(ModulePath, bool)> {
    let mut found = Vec::new();
    walk(file, |event| {
        if let Event::Module { path, is_file } = event {
            found.push((path, is_file));
        }
    });
    found
}

/// A path found in a file: one leaf of a `use` tree, or a `crate::…`/`super::…` path.
#[derive(Debug)]
pub(crate) struct Reference {
    /// The module the path is written in (the file's module and any inline modules).
    pub(crate) module: ModulePath,
    pub(crate) segments: Vec<String>,
    pub(crate) alias: Option<String>,
    pub(crate) in_use: bool,
    pub(crate) line: usize,
}

pub(crate) fn references(file: &SourceFile) -> Vec<Reference> {
    let mut found = Vec::new();
    walk(file, |event| {
        if let Event::Reference(reference) = event {
            found.push(reference);
        }
    });
    found
}

enum Event {
    Module { path: ModulePath, is_file: bool },
    Reference(Reference),
}

/// Walks a file's tokens, tracking inline modules by brace depth.
fn walk(file: &SourceFile, mut on: impl FnMut(Event)) {
    let tokens = &file.tokens;
    let mut module = file.module.clone();
    // Brace depth at which each open inline module closes.
    let mut inline_closes: Vec<usize> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        // `#[cfg(test)]` items are left out: a test may reach across layers.
        if token.kind == TokenKind::Punct('#')
            && tokens.get(i + 1).map(|t| &t.kind) == Some(&TokenKind::Punct('['))
        {
            let close = matching(tokens, i + 1, '[', ']');
            let cfg_test = tokens[i + 2..close.min(tokens.len())]
                .iter()
                .map(|t| &t.kind)
                .eq([
                    &TokenKind::Ident("cfg".to_owned()),
                    &TokenKind::Punct('('),
                    &TokenKind::Ident("test".to_owned()),
                    &TokenKind::Punct(')'),
                ]);
            i = close + 1;
            if cfg_test {
                i = end_of_item(tokens, i);
            }
            continue;
        }
        match &token.kind {
            TokenKind::Punct('{') => depth += 1,
            TokenKind::Punct('}') => {
                if inline_closes.last() == Some(&depth) {
                    inline_closes.pop();
                    module.pop();
                }
                depth -= 1;
            }
            TokenKind::Ident(word) if word == "mod" => {
                if let (Some(TokenKind::Ident(name)), Some(TokenKind::Punct(after))) = (
                    tokens.get(i + 1).map(|t| &t.kind),
                    tokens.get(i + 2).map(|t| &t.kind),
                ) && (*after == ';' || *after == '{')
                {
                    let mut path = module.clone();
                    path.push(name.clone());
                    on(Event::Module {
                        path: path.clone(),
                        is_file: *after == ';',
                    });
                    if *after == '{' {
                        depth += 1;
                        inline_closes.push(depth);
                        module = path;
                    }
                    i += 3;
                    continue;
                }
            }
            TokenKind::Ident(word)
                if word == "use"
                    && !matches!(tokens.get(i + 1), Some(t) if t.kind == TokenKind::Punct('<')) =>
            {
                let end = (i + 1..tokens.len())
                    .find(|&j| tokens[j].kind == TokenKind::Punct(';'))
                    .unwrap_or(tokens.len());
                let mut leaves = Vec::new();
                use_tree(&tokens[i + 1..end], &mut Vec::new(), &mut leaves);
                for (segments, alias, line) in leaves {
                    on(Event::Reference(Reference {
                        module: module.clone(),
                        segments,
                        alias,
                        in_use: true,
                        line,
                    }));
                }
                i = end + 1;
                continue;
            }
            TokenKind::Ident(word)
                if (word == "crate" || word == "super")
                    && matches!(tokens.get(i + 1), Some(t) if t.kind == TokenKind::PathSep)
                    && !matches!(
                        i.checked_sub(1).map(|j| &tokens[j].kind),
                        Some(TokenKind::Punct('$') | TokenKind::PathSep)
                    )
                    && !matches!(i.checked_sub(1).map(|j| &tokens[j].kind),
                        Some(TokenKind::Ident(before)) if before == "in") =>
            {
                // A path in an expression or a type; `$crate` and `pub(in crate::…)` are
                // none.
                let mut segments = Vec::new();
                let mut j = i;
                while let Some(TokenKind::Ident(segment)) = tokens.get(j).map(|t| &t.kind) {
                    segments.push(segment.clone());
                    if tokens.get(j + 1).map(|t| &t.kind) != Some(&TokenKind::PathSep) {
                        break;
                    }
                    j += 2;
                }
                let line = tokens[j.min(tokens.len() - 1)].line;
                on(Event::Reference(Reference {
                    module: module.clone(),
                    segments,
                    alias: None,
                    in_use: false,
                    line,
                }));
                i = j + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Flattens a `use` tree into its leaves: (path, alias, line of the last segment).
fn use_tree(
    tokens: &[Token],
    prefix: &mut Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>, usize)>,
) {
    // Split at top-level commas (only inside a group), then handle each item.
    let mut i = 0;
    let base = prefix.len();
    while i < tokens.len() {
        match &tokens[i].kind {
            TokenKind::Ident(word) if word == "as" => {
                if let (Some(TokenKind::Ident(alias)), Some(last)) =
                    (tokens.get(i + 1).map(|t| &t.kind), leaves.last_mut())
                {
                    last.1 = Some(alias.clone());
                }
                i += 2;
                continue;
            }
            TokenKind::Ident(segment) => {
                prefix.push(segment.clone());
                let next = tokens.get(i + 1).map(|t| &t.kind);
                if next != Some(&TokenKind::PathSep) {
                    leaves.push((prefix.clone(), None, tokens[i].line));
                }
            }
            TokenKind::Punct('*') => leaves.push((
                [&prefix[..], &["*".to_owned()]].concat(),
                None,
                tokens[i].line,
            )),
            TokenKind::Punct('{') => {
                let close = matching(tokens, i, '{', '}');
                for item in split_top_level(&tokens[i + 1..close]) {
                    use_tree(item, &mut prefix.clone(), leaves);
                }
                i = close;
            }
            TokenKind::Punct(',') => prefix.truncate(base),
            _ => {}
        }
        i += 1;
    }
}

/// The index of the bracket that closes the one at `open` (or the end of the tokens).
fn matching(tokens: &[Token], open: usize, opening: char, closing: char) -> usize {
    let mut depth = 0;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        if token.kind == TokenKind::Punct(opening) {
            depth += 1;
        } else if token.kind == TokenKind::Punct(closing) {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    tokens.len()
}

/// The index just past the item that starts at `start`: its `;`, or the `}` of its body.
fn end_of_item(tokens: &[Token], start: usize) -> usize {
    let mut nesting = 0_i32;
    for (j, token) in tokens.iter().enumerate().skip(start) {
        match token.kind {
            TokenKind::Punct('(' | '[') => nesting += 1,
            TokenKind::Punct(')' | ']') => nesting -= 1,
            TokenKind::Punct(';') if nesting == 0 => return j + 1,
            TokenKind::Punct('{') if nesting == 0 => return matching(tokens, j, '{', '}') + 1,
            _ => {}
        }
    }
    tokens.len()
}

fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (j, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::Punct('{') => depth += 1,
            TokenKind::Punct('}') => depth -= 1,
            TokenKind::Punct(',') if depth == 0 => {
                items.push(&tokens[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items
}
