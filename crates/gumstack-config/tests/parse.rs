//! Valid config.yaml files and what they parse to.

use std::collections::BTreeMap;

use gumstack_config::{Auth, AuthType, Config, CredentialField, ToolMeta};

fn parse(yaml: &str) -> Config {
    match Config::parse(yaml) {
        Ok(config) => config,
        Err(error) => panic!("expected a valid config, got: {error}"),
    }
}

#[test]
fn full_oauth_config_with_a_provider_list() {
    let config = parse(
        r#"# Linear, with a GitHub fallback
name: "Linear"
description: "Linear issues"
icon: "assets/icon.png"
auth:
  type: oauth
  provider:
    - linear
    - "github-app"
tools:
  - name: "list_issues"
    description: "List the issues assigned to you"
  - name: create_issue
    scopes:
      github-app: [repo, "read:org", repo]
"#,
    );
    assert_eq!(
        config,
        Config {
            name: "Linear".to_owned(),
            description: "Linear issues".to_owned(),
            icon: Some("assets/icon.png".to_owned()),
            auth: Auth {
                kind: AuthType::Oauth,
                providers: vec!["linear".to_owned(), "github-app".to_owned()],
                credentials: Vec::new(),
            },
            tools: vec![
                ToolMeta {
                    name: "list_issues".to_owned(),
                    description: Some("List the issues assigned to you".to_owned()),
                    scopes: BTreeMap::new(),
                },
                ToolMeta {
                    name: "create_issue".to_owned(),
                    description: None,
                    scopes: BTreeMap::from([(
                        "github-app".to_owned(),
                        vec!["repo".to_owned(), "read:org".to_owned()],
                    )]),
                },
            ],
        }
    );
}

#[test]
fn oauth_with_a_single_provider_string() {
    let config = parse("name: Linear\nauth:\n  type: oauth\n  provider: linear\n");
    assert_eq!(config.auth.providers, ["linear"]);
    let config = parse("name: Linear\nauth: {type: oauth, provider: [linear, m365]}\n");
    assert_eq!(config.auth.providers, ["linear", "m365"]);
}

#[test]
fn cred_config() {
    let config = parse(
        r#"name: OpenAI
description: Chat completions
auth:
  type: cred
  credentials:
    - name: "api_key"
      label: "API Key"
      description: "Your OpenAI API key"
      placeholder: "sk-..."
      secret: true
      required: true
    - name: organization
      label: Organization
      required: false
"#,
    );
    assert_eq!(config.auth.kind, AuthType::Cred);
    assert!(config.auth.providers.is_empty());
    assert_eq!(
        config.auth.credentials,
        [
            CredentialField {
                name: "api_key".to_owned(),
                label: "API Key".to_owned(),
                description: Some("Your OpenAI API key".to_owned()),
                placeholder: Some("sk-...".to_owned()),
                secret: true,
                required: true,
            },
            CredentialField {
                name: "organization".to_owned(),
                label: "Organization".to_owned(),
                description: None,
                placeholder: None,
                secret: false,
                required: false,
            },
        ]
    );
    assert_eq!(config.auth.credentials[0].env_var_name(), "API_KEY");
}

#[test]
fn none_config_with_credentials_documenting_env_vars() {
    let config = parse(
        "name: Weather\nauth:\n  type: none\n  credentials:\n    - name: weather_token\n      secret: true\n",
    );
    assert_eq!(config.auth.kind, AuthType::None);
    assert_eq!(config.auth.credentials.len(), 1);
    assert_eq!(config.auth.credentials[0].env_var_name(), "WEATHER_TOKEN");
}

#[test]
fn none_config_without_credentials() {
    let config = parse("name: Echo\nauth:\n  type: none\n");
    assert_eq!(config.auth.kind, AuthType::None);
    assert!(config.auth.credentials.is_empty());
    let config = parse("name: Echo\nauth:\n  type: none\n  credentials: []\n");
    assert!(config.auth.credentials.is_empty());
}

#[test]
fn defaults() {
    let config = parse("name: Echo\nauth:\n  type: cred\n  credentials:\n    - name: token\n");
    assert_eq!(config.description, "");
    assert_eq!(config.icon, None);
    assert!(config.tools.is_empty());
    assert_eq!(
        config.auth.credentials,
        [CredentialField {
            name: "token".to_owned(),
            label: "token".to_owned(),
            description: None,
            placeholder: None,
            secret: false,
            required: true,
        }]
    );
}

#[test]
fn empty_optional_values_are_absent() {
    let config = parse(
        "name: Echo\ndescription:\nicon: ~\nauth:\n  type: cred\n  credentials:\n    - name: token\n      label:\n      secret: null\ntools:\n",
    );
    assert_eq!(config.description, "");
    assert_eq!(config.icon, None);
    assert!(config.tools.is_empty());
    let field = &config.auth.credentials[0];
    assert_eq!(field.label, "token");
    assert!(!field.secret);
}

#[test]
fn name_is_trimmed_and_may_have_100_characters() {
    assert_eq!(parse("name: '  Echo  '\nauth: {type: none}\n").name, "Echo");
    let long = "é".repeat(100);
    assert_eq!(
        parse(&format!("name: {long}\nauth: {{type: none}}\n")).name,
        long
    );
}

#[test]
fn plain_numbers_and_booleans_read_as_text_where_a_string_is_expected() {
    let config = parse("name: 2024\ndescription: true\nauth: {type: none}\n");
    assert_eq!(config.name, "2024");
    assert_eq!(config.description, "true");
}

#[test]
fn core_schema_booleans_and_block_scalars() {
    let config = parse(
        "name: Echo\ndescription: |\n  Two\n  lines\nauth:\n  type: cred\n  credentials:\n    - name: key\n      secret: True\n      required: FALSE\n",
    );
    assert_eq!(config.description, "Two\nlines\n");
    assert!(config.auth.credentials[0].secret);
    assert!(!config.auth.credentials[0].required);
}

#[test]
fn aliases_and_explicit_str_tags() {
    let config = parse(
        "name: !!str 42\ndescription: &text Shared text\nauth: {type: none}\ntools:\n  - name: a\n    description: *text\n",
    );
    assert_eq!(config.name, "42");
    assert_eq!(config.tools[0].description.as_deref(), Some("Shared text"));
}

#[test]
fn document_markers_bom_and_crlf_are_accepted() {
    let config = parse("\u{feff}---\r\nname: Echo\r\nauth:\r\n  type: none\r\n...\r\n");
    assert_eq!(config.name, "Echo");
}

#[test]
fn config_serializes_to_json_for_the_api() {
    let config = parse(
        "name: Linear\nauth:\n  type: oauth\n  provider: linear\ntools:\n  - name: list_issues\n  - name: admin\n    scopes: [admin]\n",
    );
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "Linear",
            "description": "",
            "icon": null,
            "auth": {"type": "oauth", "providers": ["linear"], "credentials": []},
            "tools": [
                {"name": "list_issues", "description": null},
                {"name": "admin", "description": null, "scopes": {"linear": ["admin"]}},
            ],
        })
    );
}

#[test]
fn auth_type_serde_uses_lower_case_names() {
    for kind in [AuthType::Oauth, AuthType::Cred, AuthType::None] {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{kind}\""));
        let back: AuthType = serde_json::from_str(&json).unwrap();
        assert_eq!(back, kind);
    }
    assert!(serde_json::from_str::<AuthType>("\"OAuth\"").is_err());
}

#[test]
fn from_file_reads_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "name: Echo\nauth:\n  type: none\n").unwrap();
    let config = Config::from_file(&path).unwrap();
    assert_eq!(config.name, "Echo");
}

#[test]
fn from_file_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let error = Config::from_file(&path).unwrap_err();
    assert_eq!(error.path, "");
    assert_eq!(error.line, None);
    assert!(error.message.starts_with("cannot read "), "{error}");
    assert!(error.message.contains("missing.yaml"), "{error}");

    std::fs::write(&path, b"name: \xff\n").unwrap();
    let error = Config::from_file(&path).unwrap_err();
    assert!(error.message.contains("UTF-8"), "{error}");
}

#[test]
fn a_tools_scopes_of_the_one_provider_are_a_list() {
    let config = parse(
        "name: Account\nauth: {type: oauth, provider: oidc}\ntools:\n  - name: provider_name\n    scopes: [profile, email]\n  - name: whoami\n",
    );
    assert_eq!(
        config.tool_scopes("provider_name", "oidc"),
        ["profile", "email"]
    );
    assert!(config.tool_scopes("provider_name", "other").is_empty());
    assert!(config.tool_scopes("whoami", "oidc").is_empty());
    assert!(config.tool_scopes("unknown", "oidc").is_empty());
}
