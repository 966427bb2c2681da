//! Refused config.yaml files: each error names the field's path, its line (and column) and
//! what is wrong.

use gumstack_config::{Config, ConfigError};

/// The error for `yaml`, checked against the expected path, line and message fragment.
#[track_caller]
fn refused(yaml: &str, path: &str, line: Option<usize>, fragment: &str) -> ConfigError {
    let error = match Config::parse(yaml) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(error) => error,
    };
    assert_eq!(error.path, path, "path of: {error}");
    assert_eq!(error.line, line, "line of: {error}");
    assert!(
        error.message.contains(fragment),
        "message of `{error}` lacks `{fragment}`"
    );
    error
}

const CRED_HEADER: &str = "name: Echo\nauth:\n  type: cred\n  credentials:\n";

// --- keys -------------------------------------------------------------------------------------

#[test]
fn unknown_top_level_key() {
    let error = refused(
        "name: Echo\ndescripton: x\nauth: {type: none}\n",
        "descripton",
        Some(2),
        "unknown key `descripton` (did you mean `description`?)",
    );
    assert_eq!(error.column, Some(1));
    assert!(
        error
            .message
            .contains("expected one of `name`, `description`, `icon`, `auth`, `tools`"),
        "{error}"
    );
}

#[test]
fn unknown_key_in_a_credential_names_its_full_path() {
    let error = refused(
        &format!("{CRED_HEADER}    - name: api_key\n      labl: API Key\n"),
        "auth.credentials[0].labl",
        Some(6),
        "unknown key `labl` (did you mean `label`?)",
    );
    assert_eq!(error.column, Some(7));
    assert!(
        error.message.contains(
            "expected one of `name`, `label`, `description`, `placeholder`, `secret`, `required`"
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "config.yaml: auth.credentials[0].labl (line 6, column 7): unknown key `labl` (did you \
         mean `label`?); expected one of `name`, `label`, `description`, `placeholder`, \
         `secret`, `required`"
    );
}

#[test]
fn unknown_keys_in_auth_and_tools() {
    refused(
        "name: Echo\nauth:\n  type: oauth\n  providers: [linear]\n",
        "auth.providers",
        Some(4),
        "did you mean `provider`?",
    );
    refused(
        "name: Echo\nauth: {type: none}\ntools:\n  - name: a\n  - name: b\n    desc: x\n",
        "tools[1].desc",
        Some(6),
        "did you mean `description`?",
    );
    refused(
        "name: Echo\nauth: {type: none}\nversion: 2\n",
        "version",
        Some(3),
        "unknown key `version`; expected one of",
    );
}

#[test]
fn duplicate_yaml_keys() {
    let error = refused(
        "name: Echo\nauth: {type: none}\nname: Other\n",
        "name",
        Some(3),
        "duplicate key `name` (first defined on line 1)",
    );
    assert_eq!(error.column, Some(1));
    refused(
        &format!("{CRED_HEADER}    - name: a\n      secret: true\n      secret: false\n"),
        "auth.credentials[0].secret",
        Some(7),
        "duplicate key `secret` (first defined on line 6)",
    );
    refused(
        "name: Echo\nauth: {type: none, type: cred}\n",
        "auth.type",
        Some(2),
        "duplicate key `type`",
    );
}

// --- types ------------------------------------------------------------------------------------

#[test]
fn quoted_boolean_is_a_wrong_type() {
    let error = refused(
        &format!("{CRED_HEADER}    - name: api_key\n      secret: \"yes\"\n"),
        "auth.credentials[0].secret",
        Some(6),
        "expected `true` or `false`, found the string \"yes\"",
    );
    assert_eq!(error.column, Some(15));
    refused(
        &format!("{CRED_HEADER}    - name: api_key\n      secret: \"true\"\n"),
        "auth.credentials[0].secret",
        Some(6),
        "found the string \"true\"; write it without quotes",
    );
}

#[test]
fn other_wrong_types() {
    refused(
        &format!("{CRED_HEADER}    - name: api_key\n      required: 1\n"),
        "auth.credentials[0].required",
        Some(6),
        "found the number `1`",
    );
    refused(
        "name: [Echo]\nauth: {type: none}\n",
        "name",
        Some(1),
        "expected a string, found a list",
    );
    refused(
        "name: Echo\nauth: {type: none}\ntools:\n  name: list_issues\n",
        "tools",
        Some(4),
        "expected a list of tools, found a mapping",
    );
    refused(
        "name: Echo\nauth:\n  type: cred\n  credentials: api_key\n",
        "auth.credentials",
        Some(4),
        "expected a list of credential fields, found the string \"api_key\"",
    );
    refused(
        &format!("{CRED_HEADER}    - api_key\n"),
        "auth.credentials[0]",
        Some(5),
        "expected a mapping, found the string \"api_key\"",
    );
    refused(
        "name: Echo\nauth: none\n",
        "auth",
        Some(2),
        "expected a mapping, found the string \"none\"",
    );
    refused(
        "name: Echo\nicon: {path: x}\nauth: {type: none}\n",
        "icon",
        Some(2),
        "expected a string, found a mapping",
    );
    refused(
        "name: Echo\nauth:\n  type: oauth\n  provider: {name: linear}\n",
        "auth.provider",
        Some(4),
        "expected a provider name or a list of provider names, found a mapping",
    );
}

// --- required fields --------------------------------------------------------------------------

#[test]
fn missing_required_fields() {
    refused(
        "description: x\nauth: {type: none}\n",
        "name",
        Some(1),
        "missing required key `name`",
    );
    refused(
        "name: Echo\n",
        "auth",
        Some(1),
        "missing required key `auth`",
    );
    refused(
        "name: Echo\nauth:\n  provider: linear\n",
        "auth.type",
        Some(3),
        "missing required key `type` (one of `oauth`, `cred`, `none`)",
    );
    refused(
        &format!("{CRED_HEADER}    - name: a\n    - label: Second\n"),
        "auth.credentials[1].name",
        Some(6),
        "missing required key `name`",
    );
    refused(
        "name: Echo\nauth: {type: none}\ntools:\n  - description: x\n",
        "tools[0].name",
        Some(4),
        "missing required key `name`",
    );
}

#[test]
fn required_fields_without_a_value() {
    refused(
        "name:\nauth: {type: none}\n",
        "name",
        Some(1),
        "`name` is required but has no value",
    );
    refused(
        "name: Echo\nauth:\n",
        "auth",
        Some(2),
        "`auth` is required but has no value",
    );
}

// --- auth -------------------------------------------------------------------------------------

#[test]
fn invalid_auth_type() {
    let error = refused(
        "name: Echo\nauth:\n  type: oath\n",
        "auth.type",
        Some(3),
        "invalid auth type `oath`; expected one of `oauth`, `cred`, `none`",
    );
    assert_eq!(error.column, Some(9));
    refused(
        "name: Echo\nauth:\n  type: OAuth\n",
        "auth.type",
        Some(3),
        "invalid auth type `OAuth`",
    );
    refused(
        "name: Echo\nauth:\n  type: [oauth]\n",
        "auth.type",
        Some(3),
        "expected a string, found a list",
    );
}

#[test]
fn oauth_needs_a_provider() {
    refused(
        "name: Echo\nauth:\n  type: oauth\n",
        "auth.provider",
        Some(3),
        "auth type `oauth` requires `provider`",
    );
    refused(
        "name: Echo\nauth:\n  type: oauth\n  provider: []\n",
        "auth.provider",
        Some(4),
        "lists no provider",
    );
}

#[test]
fn oauth_refuses_credentials() {
    refused(
        "name: Echo\nauth:\n  type: oauth\n  provider: linear\n  credentials:\n    - name: a\n",
        "auth.credentials",
        Some(5),
        "`credentials` is not allowed with auth type `oauth`",
    );
}

#[test]
fn cred_and_none_refuse_a_provider() {
    refused(
        "name: Echo\nauth:\n  type: cred\n  provider: linear\n  credentials:\n    - name: a\n",
        "auth.provider",
        Some(4),
        "`provider` is only allowed with auth type `oauth`, and this one is `cred`",
    );
    refused(
        "name: Echo\nauth:\n  type: none\n  provider:\n",
        "auth.provider",
        Some(4),
        "this one is `none`",
    );
}

#[test]
fn cred_needs_at_least_one_credential() {
    refused(
        "name: Echo\nauth:\n  type: cred\n",
        "auth.credentials",
        Some(3),
        "auth type `cred` requires `credentials`",
    );
    refused(
        "name: Echo\nauth:\n  type: cred\n  credentials: []\n",
        "auth.credentials",
        Some(4),
        "requires at least one credential",
    );
}

// --- names ------------------------------------------------------------------------------------

#[test]
fn bad_credential_name() {
    let error = refused(
        &format!("{CRED_HEADER}    - name: API-Key\n"),
        "auth.credentials[0].name",
        Some(5),
        "invalid credential name `API-Key`",
    );
    assert!(error.message.contains("[a-z][a-z0-9_]*"), "{error}");
    assert_eq!(error.column, Some(13));
}

#[test]
fn bad_provider_name() {
    let error = refused(
        "name: Echo\nauth:\n  type: oauth\n  provider: Linear\n",
        "auth.provider",
        Some(4),
        "invalid provider name `Linear`",
    );
    assert!(error.message.contains("[a-z0-9][a-z0-9_-]*"), "{error}");
    refused(
        "name: Echo\nauth:\n  type: oauth\n  provider:\n    - linear\n    - git hub\n",
        "auth.provider[1]",
        Some(6),
        "invalid provider name `git hub`",
    );
}

#[test]
fn bad_tool_name() {
    let error = refused(
        "name: Echo\nauth: {type: none}\ntools:\n  - name: list issues\n",
        "tools[0].name",
        Some(4),
        "invalid tool name `list issues`",
    );
    assert!(error.message.contains("[A-Za-z0-9_.-]{1,128}"), "{error}");
    refused(
        &format!(
            "name: Echo\nauth: {{type: none}}\ntools:\n  - name: {}\n",
            "t".repeat(129)
        ),
        "tools[0].name",
        Some(4),
        "invalid tool name",
    );
}

#[test]
fn duplicate_credential_name() {
    let error = refused(
        &format!(
            "{CRED_HEADER}    - name: api_key\n      secret: true\n    - name: org\n    - name: \"api_key\"\n"
        ),
        "auth.credentials[2].name",
        Some(8),
        "duplicate credential name `api_key` (first defined on line 5)",
    );
    assert_eq!(error.column, Some(13));
}

#[test]
fn duplicate_tool_name() {
    refused(
        "name: Echo\nauth: {type: none}\ntools:\n  - name: a\n  - name: b\n  - name: a\n",
        "tools[2].name",
        Some(6),
        "duplicate tool name `a` (first defined on line 4)",
    );
}

#[test]
fn duplicate_provider() {
    refused(
        "name: Echo\nauth:\n  type: oauth\n  provider:\n    - linear\n    - github\n    - linear\n",
        "auth.provider[2]",
        Some(7),
        "duplicate provider `linear` (first defined on line 5)",
    );
}

#[test]
fn server_name_rules() {
    let long = "x".repeat(101);
    refused(
        &format!("name: {long}\nauth: {{type: none}}\n"),
        "name",
        Some(1),
        "`name` is 101 characters long; at most 100 are allowed",
    );
    refused(
        "name: '   '\nauth: {type: none}\n",
        "name",
        Some(1),
        "`name` must not be empty",
    );
}

#[test]
fn blank_label() {
    refused(
        &format!("{CRED_HEADER}    - name: a\n      label: ' '\n"),
        "auth.credentials[0].label",
        Some(6),
        "`label` must not be blank",
    );
}

// --- the document -----------------------------------------------------------------------------

#[test]
fn empty_documents() {
    for yaml in ["", "\n\n", "# only a comment\n", "---\n", "~\n", "null"] {
        let error = refused(yaml, "", None, "the document is empty");
        assert_eq!(error.column, None);
    }
}

#[test]
fn top_level_must_be_a_mapping() {
    refused(
        "- name: Echo\n",
        "",
        Some(1),
        "expected a mapping at the top level (with `name`, `auth`, ...), found a list",
    );
    refused(
        "# heading\nJust text\n",
        "",
        Some(2),
        "found the string \"Just text\"",
    );
}

#[test]
fn invalid_yaml_syntax() {
    let error = refused(
        "name: Echo\nauth:\n  type: \"oauth\n",
        "",
        Some(3),
        "invalid YAML: ",
    );
    assert_eq!(error.column, Some(9));
    let error = refused(
        "name: Echo\nauth:\n  type: none\n provider: x\n",
        "",
        Some(4),
        "invalid YAML: ",
    );
    assert_eq!(error.column, Some(2));
    refused("name: Echo\nauth: [none\n", "", Some(3), "invalid YAML: ");
    refused(
        "name: Echo\nauth: *missing\n",
        "",
        Some(2),
        "invalid YAML: ",
    );
}

#[test]
fn only_one_document() {
    refused(
        "name: Echo\nauth: {type: none}\n---\nname: Other\n",
        "",
        Some(3),
        "single YAML document",
    );
}

#[test]
fn custom_tags_are_refused() {
    refused(
        "name: !env SERVER_NAME\nauth: {type: none}\n",
        "name",
        Some(1),
        "unsupported YAML tag `!env`",
    );
}

#[test]
fn merge_keys_are_unknown_keys() {
    refused(
        "base: &base {type: none}\nname: Echo\nauth:\n  <<: *base\n",
        "base",
        Some(1),
        "unknown key `base`",
    );
}

// --- tool scopes ------------------------------------------------------------------------------

#[test]
fn tool_scopes_are_for_oauth_servers_and_their_providers() {
    refused(
        "name: Keys\nauth:\n  type: cred\n  credentials: [{name: api_key}]\ntools:\n  - name: t\n    scopes: [repo]\n",
        "tools[0].scopes",
        Some(7),
        "for auth type `oauth` only",
    );
    refused(
        "name: Two\nauth: {type: oauth, provider: [github, slack]}\ntools:\n  - name: t\n    scopes: [repo]\n",
        "tools[0].scopes",
        Some(5),
        "map each to its scopes",
    );
    refused(
        "name: Two\nauth: {type: oauth, provider: [github, slack]}\ntools:\n  - name: t\n    scopes: {gitlab: [api]}\n",
        "tools[0].scopes.gitlab",
        Some(5),
        "unknown key `gitlab`",
    );
}

#[test]
fn a_scope_that_is_not_one_is_named() {
    for (scope, line) in [
        ("\"a b\"", 5),
        ("\"a,b\"", 5),
        ("'back\\slash'", 5),
        ("\"\"", 5),
    ] {
        refused(
            &format!(
                "name: One\nauth: {{type: oauth, provider: github}}\ntools:\n  - name: t\n    scopes: [repo, {scope}]\n"
            ),
            "tools[0].scopes[1]",
            Some(line),
            "expected 1 to 128 printable ASCII characters",
        );
    }
    refused(
        "name: One\nauth: {type: oauth, provider: github}\ntools:\n  - name: t\n    scopes: repo\n",
        "tools[0].scopes",
        Some(5),
        "a list of scopes",
    );
}
