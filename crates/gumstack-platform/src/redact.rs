//! Redaction of secret values from text the platform stores or shows (deployment errors and
//! logs today; the activity log later, SPEC §9).

/// What a redacted secret is replaced with.
pub(crate) const REDACTED: &str = "****SECRET_REDACTED****";

/// Values shorter than this are not redacted: replacing every `1` or `on` would destroy the
/// text while protecting nothing.
const MIN_SECRET_LEN: usize = 4;

/// Replaces every occurrence of each secret in `text`, longest secrets first (so a secret that
/// contains another is replaced whole).
pub(crate) fn redact_secrets<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut secrets: Vec<&str> = secrets
        .into_iter()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let text = "key=sk-abcdef and again sk-abcdef; prefix sk-abc";
        let out = redact_secrets(text, ["sk-abc", "sk-abcdef"]);
        assert_eq!(
            out,
            format!("key={REDACTED} and again {REDACTED}; prefix {REDACTED}")
        );
    }

    #[test]
    fn short_values_are_left_alone() {
        assert_eq!(redact_secrets("debug=1", ["1"]), "debug=1");
    }
}
