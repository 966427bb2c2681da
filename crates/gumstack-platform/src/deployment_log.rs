//! What is kept of a deployment's process for people to read — its recent output, why its
//! tool discovery failed — always redacted of the server's env values first (SPEC §9, §12).
//!
//! [`redact`] is the one place this text is redacted, with the platform's one redaction
//! ([`crate::redact`]: the env values in every encoding, and every secret shape).

use crate::redact::SecretValues;

/// The most output kept per deployment: its last 16 KiB.
pub(crate) const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// `text` with every value of `secrets` (the deployment's environment) and every secret shape
/// replaced.
pub(crate) fn redact(text: &str, secrets: &SecretValues) -> String {
    crate::redact::redact(text, &[secrets]).into_owned()
}

/// The output `lines` (oldest first) as one text without terminal escapes (colours) or other
/// control characters, redacted, then cut to its last [`MAX_OUTPUT_BYTES`] at a line boundary
/// when it can be (redacting first, so a cut never leaves half a secret readable).
pub(crate) fn redacted_output(lines: &[String], secrets: &SecretValues) -> String {
    let plain: Vec<String> = lines.iter().map(|line| printable(line)).collect();
    let text = redact(&plain.join("\n"), secrets);
    if text.len() <= MAX_OUTPUT_BYTES {
        return text;
    }
    let mut start = text.len() - MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    match tail.find('\n') {
        Some(newline) if newline + 1 < tail.len() => tail[newline + 1..].to_owned(),
        _ => tail.to_owned(),
    }
}

/// `line` without ANSI escape sequences (`ESC [ … letter`, `ESC ] … BEL`) and with any other
/// control character but a tab dropped.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    for c in chars.by_ref() {
                        if c == '\u{7}' {
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::redact::REDACTED;

    #[test]
    fn output_is_redacted_before_it_is_cut() {
        let secret = SecretString::from("hunter2-secret");
        let mut lines = vec!["x".repeat(100); 200];
        lines.push("token hunter2-secret".to_owned());
        let out = redacted_output(&lines, &SecretValues::new([secret]));
        assert!(out.len() <= MAX_OUTPUT_BYTES);
        assert!(out.ends_with(&format!("token {REDACTED}")), "{out}");
        assert!(!out.contains("hunter2"));
        assert!(out.starts_with('x'), "cut at a line boundary");
    }

    #[test]
    fn colours_and_control_characters_are_dropped() {
        let line = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m ready\u{7}\tok\r";
        assert_eq!(printable(line), "2026  INFO ready\tok");
        // A secret coloured in the middle is still found once the escapes are gone.
        let secret = SecretString::from("abc-secret");
        let out = redacted_output(
            &["key abc-\u{1b}[1msecret".to_owned()],
            &SecretValues::new([secret]),
        );
        assert_eq!(out, format!("key {REDACTED}"));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let lines = vec!["é".repeat(MAX_OUTPUT_BYTES)];
        let out = redacted_output(&lines, &SecretValues::default());
        assert!(out.len() <= MAX_OUTPUT_BYTES && out.chars().all(|c| c == 'é'));
    }
}
