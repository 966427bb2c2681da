//! [`ConfigError`], the one error of this crate.

use std::fmt;

use serde::Serialize;

use crate::mark::Mark;

/// Why a config.yaml was refused: which field, where in the file, and what is wrong.
///
/// Every error is a problem with the file itself: the caller shows it to the developer, who
/// fixes the file and tries again. Retrying the same text gives the same error.
///
/// `Display` gives one line such as
/// ``config.yaml: auth.credentials[1].name (line 9, column 15): duplicate credential name `api_key` ``,
/// leaving out the path and the position when they are unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Path of the offending field, such as `auth.credentials[1].name` or `tools[0]`; empty when
    /// the error is about the document as a whole (syntax, empty file, top-level shape).
    pub path: String,
    /// Line of the offending text, counted from 1, when known.
    pub line: Option<usize>,
    /// Column of the offending text, counted in characters from 1, when known.
    pub column: Option<usize>,
    /// What is wrong, written for the developer who edits the file.
    pub message: String,
}

impl ConfigError {
    /// An error about the text at `mark`, for the field at `path`.
    pub(crate) fn at(path: impl Into<String>, mark: Mark, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: Some(mark.line),
            column: Some(mark.column),
            message: message.into(),
        }
    }

    /// An error about the document as a whole, with no position.
    pub(crate) fn document(message: impl Into<String>) -> Self {
        ConfigError {
            path: String::new(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("config.yaml")?;
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line}")?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
            f.write_str(")")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &str, line: Option<usize>, column: Option<usize>) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            line,
            column,
            message: "something is wrong".to_owned(),
        }
    }

    #[test]
    fn display_with_every_part() {
        assert_eq!(
            error("auth.credentials[1].name", Some(9), Some(15)).to_string(),
            "config.yaml: auth.credentials[1].name (line 9, column 15): something is wrong"
        );
    }

    #[test]
    fn display_leaves_out_missing_parts() {
        assert_eq!(
            error("", Some(3), Some(1)).to_string(),
            "config.yaml (line 3, column 1): something is wrong"
        );
        assert_eq!(
            error("name", Some(3), None).to_string(),
            "config.yaml: name (line 3): something is wrong"
        );
        assert_eq!(
            error("name", None, None).to_string(),
            "config.yaml: name: something is wrong"
        );
        assert_eq!(
            error("", None, None).to_string(),
            "config.yaml: something is wrong"
        );
    }
}
