//! config.yaml parsing (`gumstack_config::Config::parse`): any text is either a `Config` or a
//! `ConfigError` that points inside the text, never a panic; a parsed `Config` written back out
//! as YAML parses to the same `Config`, and its JSON form (what the platform API serves) is
//! valid JSON.
#![no_main]

use gumstack_config::{Config, CredentialField};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            let json = serde_json::to_string(&config).expect("a Config serializes to JSON");
            serde_json::from_str::<serde_json::Value>(&json).expect("valid JSON");
            let written = to_yaml(&config);
            let again = Config::parse(&written)
                .unwrap_or_else(|e| panic!("{written:?} written from {text:?} is refused: {e}"));
            assert_eq!(again, config, "round trip through {written:?}");
        }
        Err(error) => {
            // Lines and columns count from 1 and stay inside the text (one past its end at most).
            // YAML breaks lines at LF, CR and CRLF.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            if let Some(line) = error.line {
                assert!(
                    line >= 1 && line <= lines + 1,
                    "line {line} of {lines}: {error}"
                );
            }
            if let Some(column) = error.column {
                assert!(column >= 1, "column {column}: {error}");
            }
            assert!(!error.message.is_empty());
            let _ = error.to_string();
        }
    }
});

/// `config` as config.yaml, every string double-quoted with ASCII-only escapes.
fn to_yaml(config: &Config) -> String {
    let mut out = format!("name: {}\n", quote(&config.name));
    out += &format!("description: {}\n", quote(&config.description));
    if let Some(icon) = &config.icon {
        out += &format!("icon: {}\n", quote(icon));
    }
    out += &format!("auth:\n  type: {}\n", config.auth.kind.as_str());
    if !config.auth.providers.is_empty() {
        let providers: Vec<String> = config.auth.providers.iter().map(|p| quote(p)).collect();
        out += &format!("  provider: [{}]\n", providers.join(", "));
    }
    if !config.auth.credentials.is_empty() {
        out += "  credentials:\n";
        for field in &config.auth.credentials {
            out += &credential(field);
        }
    }
    if !config.tools.is_empty() {
        out += "tools:\n";
        for tool in &config.tools {
            out += &format!("  - name: {}\n", quote(&tool.name));
            if let Some(description) = &tool.description {
                out += &format!("    description: {}\n", quote(description));
            }
        }
    }
    out
}

fn credential(field: &CredentialField) -> String {
    let mut out = format!("    - name: {}\n", quote(&field.name));
    out += &format!("      label: {}\n", quote(&field.label));
    for (key, value) in [
        ("description", &field.description),
        ("placeholder", &field.placeholder),
    ] {
        if let Some(value) = value {
            out += &format!("      {key}: {}\n", quote(value));
        }
    }
    out += &format!("      secret: {}\n", field.secret);
    out += &format!("      required: {}\n", field.required);
    out
}

/// A YAML double-quoted scalar holding exactly `text` (printable ASCII as is, the rest escaped).
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}
