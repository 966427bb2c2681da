//! The config.yaml of a Gumstack server: parsing and validation with precise errors.
//!
//! ```
//! use gumstack_config::{AuthType, Config};
//!
//! let config = Config::parse(
//!     "name: Linear\nauth:\n  type: oauth\n  provider: linear\n",
//! )?;
//! assert_eq!(config.auth.kind, AuthType::Oauth);
//! assert_eq!(config.auth.providers, ["linear"]);
//!
//! let error = Config::parse("name: Linear\nauth:\n  type: oath\n").unwrap_err();
//! assert_eq!(error.path, "auth.type");
//! assert_eq!(error.line, Some(3));
//! # Ok::<(), gumstack_config::ConfigError>(())
//! ```
//!
//! A file is refused at its first problem, with a [`ConfigError`] that names the field's path
//! (`auth.credentials[1].name`), the line and column, and what is wrong: unknown keys (with the
//! expected ones), wrong types, missing fields, duplicates (YAML keys, credential, provider and
//! tool names), names that break their pattern, and invalid YAML.
//!
//! # Layout
//!
//! - `model`: the validated types ([`Config`], [`Auth`], [`AuthType`], [`CredentialField`],
//!   [`ToolMeta`]), which serialize to JSON for the platform API.
//! - `error`: [`ConfigError`] and its one-line `Display`.
//! - `mark`: a position in the text (line and column), kept by the tree and by the errors.
//! - `document`: YAML text to a tree in which every node and key keeps its line and column;
//!   YAML-level checks (syntax, one non-empty document, unique keys, aliases, tags).
//! - `reader`: typed reading of that tree (mappings with known keys, strings, booleans, lists),
//!   so each wrong type or missing key becomes an error with its path and position.
//! - `schema`: the config.yaml schema and the rules across fields (auth type against
//!   `provider`/`credentials`, uniqueness, name lengths).
//! - `names`: the name patterns and "did you mean" suggestions for misspelled keys.

mod document;
mod error;
mod mark;
mod model;
mod names;
mod reader;
mod schema;

use std::path::Path;

pub use error::ConfigError;
pub use model::{
    Auth, AuthType, Config, CredentialField, InvalidAuthType, MAX_NAME_CHARS, ToolMeta,
};
pub use names::is_scope;

impl Config {
    /// The scopes of `provider` that `tool` declares it needs (`tools[].scopes`); empty when
    /// it declares none.
    pub fn tool_scopes(&self, tool: &str, provider: &str) -> &[String] {
        self.tools
            .iter()
            .find(|t| t.name == tool)
            .and_then(|t| t.scopes.get(provider))
            .map_or(&[], Vec::as_slice)
    }

    /// Parses and validates the text of a config.yaml.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first problem found in the text; the developer must fix the
    /// file.
    pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
        let root = document::load(yaml)?;
        schema::decode(&root)
    }

    /// Reads the file at `path` and parses it as [`Config::parse`] does.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] with no position when the file cannot be read (missing, unreadable,
    /// not UTF-8), otherwise as [`Config::parse`].
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::document(format!("cannot read {}: {error}", path.display()))
        })?;
        Config::parse(&text)
    }
}
