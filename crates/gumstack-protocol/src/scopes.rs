//! Provider scopes (docs/PROTOCOL.md §3, §4): what a tool says it needs, what a connection was
//! granted, and what a connect flow asks for.
//!
//! A scope list is written as OAuth writes it (RFC 6749 §3.3), space-separated; lists are also
//! read with commas as separators, as some providers (GitHub) answer, so no scope has a comma.

/// The most scopes one list may hold.
pub const MAX_SCOPES: usize = 32;

/// Whether `scope` is an RFC 6749 scope-token without a comma, at most 128 bytes: the rule
/// config.yaml's `tools[].scopes` follow too.
pub use gumstack_config::is_scope as is_scope_token;

/// The scopes of a list, in order, each once.
pub fn split(list: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in list.split(|c: char| c.is_whitespace() || c == ',') {
        if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}

/// The scopes a tool or a person asked for: scope-tokens, at most [`MAX_SCOPES`]. The error
/// says what is wrong.
pub fn parse_requested(list: &str) -> Result<Vec<String>, String> {
    let scopes = split(list);
    if scopes.len() > MAX_SCOPES {
        return Err(format!("at most {MAX_SCOPES} scopes may be asked for"));
    }
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(format!(
            "`{}` is not a scope (printable ASCII without spaces, commas, quotes or \
             backslashes, at most 128 bytes)",
            bad.escape_default()
        ));
    }
    Ok(scopes)
}

/// `first` followed by the scopes of `then` it does not hold.
pub fn union(first: &[String], then: &[String]) -> Vec<String> {
    let mut all = first.to_vec();
    for scope in then {
        if !all.contains(scope) {
            all.push(scope.clone());
        }
    }
    all
}

/// The scopes of `needed` that `granted` lacks.
pub fn missing(granted: &[String], needed: &[String]) -> Vec<String> {
    needed
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn granted_lists_split_on_spaces_and_commas() {
        assert_eq!(
            split("repo,gist read:org"),
            owned(&["repo", "gist", "read:org"])
        );
        assert_eq!(split("  a  a "), owned(&["a"]));
        assert!(split("").is_empty());
    }

    #[test]
    fn requested_scopes_are_scope_tokens() {
        assert_eq!(
            parse_requested("openid  profile,openid").unwrap(),
            owned(&["openid", "profile"])
        );
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "nul\u{0}"] {
            assert!(parse_requested(bad).is_err(), "{bad:?}");
        }
        assert!(parse_requested(&"x".repeat(129)).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        assert!(parse_requested(&many.join(" ")).is_err());
    }

    #[test]
    fn union_keeps_the_order_and_missing_lists_what_is_lacking() {
        let granted = owned(&["openid", "email"]);
        let needed = owned(&["profile", "email"]);
        assert_eq!(
            union(&granted, &needed),
            owned(&["openid", "email", "profile"])
        );
        assert_eq!(missing(&granted, &needed), owned(&["profile"]));
        assert!(missing(&granted, &owned(&["email"])).is_empty());
    }
}
