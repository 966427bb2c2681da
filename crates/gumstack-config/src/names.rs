//! The patterns names must follow, and "did you mean" suggestions for misspelled keys.

/// What an error says a credential name must look like.
pub(crate) const CREDENTIAL_NAME_RULE: &str =
    "a lower-case letter followed by lower-case letters, digits or `_` (pattern `[a-z][a-z0-9_]*`)";

/// What an error says a provider name must look like.
pub(crate) const PROVIDER_NAME_RULE: &str = "a lower-case letter or digit followed by lower-case letters, digits, `_` or `-` (pattern `[a-z0-9][a-z0-9_-]*`)";

/// What an error says a tool name must look like.
pub(crate) const TOOL_NAME_RULE: &str =
    "1 to 128 letters, digits, `_`, `-` or `.` (pattern `[A-Za-z0-9_.-]{1,128}`)";

/// `[a-z][a-z0-9_]*`: a key of `get_credentials()`, upper-cased into an environment variable.
pub(crate) fn is_credential_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `[a-z0-9][a-z0-9_-]*`: used in routes and storage keys.
pub(crate) fn is_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// What an error says an OAuth scope must look like.
pub(crate) const SCOPE_RULE: &str = "1 to 128 printable ASCII characters without spaces, commas, quotes or backslashes (an RFC 6749 scope-token)";

/// An RFC 6749 scope-token (printable ASCII except space, `"` and `\`) without a comma (some
/// providers separate granted scopes with commas), 1 to 128 bytes.
pub fn is_scope(scope: &str) -> bool {
    (1..=128).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b == 0x21 || ((0x23..=0x7E).contains(&b) && b != b'\\' && b != b','))
}

/// `[A-Za-z0-9_.-]{1,128}`: the characters and length MCP recommends for tool names.
pub(crate) fn is_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The expected key that `key` most likely misspells, if any is close enough.
pub(crate) fn closest<'a>(key: &str, expected: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    if key.chars().count() >= 3
        && let Some(start) = expected
            .iter()
            .find(|candidate| candidate.starts_with(&key))
    {
        return Some(start);
    }
    expected
        .iter()
        .map(|candidate| (edit_distance(&key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2 && *distance < candidate.len() / 2 + 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names() {
        for good in ["api_key", "a", "key2", "a_b_c"] {
            assert!(is_credential_name(good), "{good}");
        }
        for bad in ["", "Api_key", "2key", "_key", "api-key", "api key", "ключ"] {
            assert!(!is_credential_name(bad), "{bad}");
        }
    }

    #[test]
    fn provider_names() {
        for good in ["linear", "google-drive", "m365", "3d", "a_b"] {
            assert!(is_provider_name(good), "{good}");
        }
        for bad in ["", "Linear", "-x", "_x", "a b", "a.b"] {
            assert!(!is_provider_name(bad), "{bad}");
        }
    }

    #[test]
    fn tool_names() {
        for good in ["list_issues", "getUser", "v2.search", "a-b", "9"] {
            assert!(is_tool_name(good), "{good}");
        }
        for bad in ["", "list issues", "a/b", "é"] {
            assert!(!is_tool_name(bad), "{bad}");
        }
        assert!(is_tool_name(&"a".repeat(128)));
        assert!(!is_tool_name(&"a".repeat(129)));
    }

    #[test]
    fn suggestions() {
        let keys = [
            "name",
            "label",
            "description",
            "placeholder",
            "secret",
            "required",
        ];
        assert_eq!(closest("labl", &keys), Some("label"));
        assert_eq!(closest("Name", &keys), Some("name"));
        assert_eq!(closest("desc", &keys), Some("description"));
        assert_eq!(closest("requried", &keys), Some("required"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &keys), None);
        assert_eq!(
            closest("credential", &["type", "provider", "credentials"]),
            Some("credentials")
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
