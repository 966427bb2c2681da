//! Typed reading of the located tree: mappings with a fixed set of keys, strings, booleans and
//! lists, each failure an error that names the field's path and position.

use crate::ConfigError;
use crate::document::{Entry, Node, ScalarKind, Value, index_path, key_path};
use crate::mark::Mark;
use crate::names::closest;

/// A mapping whose keys have all been checked against the expected ones.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    path: String,
    mark: Mark,
    entries: &'a [Entry],
}

/// A value found in a document, with the path that names it.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    pub(crate) path: String,
    pub(crate) node: &'a Node,
}

impl<'a> Fields<'a> {
    /// Reads `node` as a mapping whose keys are all in `expected`.
    pub(crate) fn read(node: &'a Node, path: &str, expected: &[&str]) -> Result<Self, ConfigError> {
        let Value::Mapping(entries) = &node.value else {
            return Err(type_error(path, node, "a mapping"));
        };
        if let Some(unknown) = entries
            .iter()
            .find(|entry| !expected.contains(&entry.key.as_str()))
        {
            return Err(unknown_key(path, unknown, expected));
        }
        Ok(Fields {
            path: path.to_owned(),
            mark: node.mark,
            entries,
        })
    }

    /// The path of the mapping itself.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The entry of `key` as written, even when its value is empty.
    pub(crate) fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    /// The value of `key`, or `None` when the key is absent or its value empty (null).
    pub(crate) fn optional(&self, key: &str) -> Option<Field<'a>> {
        self.entry(key)
            .filter(|entry| !entry.value.is_null())
            .map(|entry| Field {
                path: key_path(&self.path, key),
                node: &entry.value,
            })
    }

    /// The value of `key`, which must be present and not empty.
    pub(crate) fn required(&self, key: &str) -> Result<Field<'a>, ConfigError> {
        self.required_or(key, &format!("missing required key `{key}`"))
    }

    /// Like [`Fields::required`], with `message` when the key is absent.
    pub(crate) fn required_or(&self, key: &str, message: &str) -> Result<Field<'a>, ConfigError> {
        let path = key_path(&self.path, key);
        match self.entry(key) {
            None => Err(ConfigError::at(path, self.mark, message)),
            Some(entry) if entry.value.is_null() => Err(ConfigError::at(
                path,
                entry.value.mark,
                format!("`{key}` is required but has no value"),
            )),
            Some(entry) => Ok(Field {
                path,
                node: &entry.value,
            }),
        }
    }

    /// An optional string; `None` when absent or empty.
    pub(crate) fn optional_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.optional(key).map(|field| field.string()).transpose()
    }

    /// An optional boolean; `default` when absent or empty.
    pub(crate) fn optional_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self
            .optional(key)
            .map(|field| field.bool())
            .transpose()?
            .unwrap_or(default))
    }
}

impl<'a> Field<'a> {
    /// Where the value starts.
    pub(crate) fn mark(&self) -> Mark {
        self.node.mark
    }

    /// An error about this value.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path.clone(), self.node.mark, message)
    }

    /// The value as text. Plain numbers and booleans are taken as they are written
    /// (`name: 2024` is the string `2024`); an empty value, a list or a mapping is refused.
    pub(crate) fn string(&self) -> Result<String, ConfigError> {
        match &self.node.value {
            Value::Scalar(scalar) if scalar.kind != ScalarKind::Null => Ok(scalar.text.clone()),
            _ => Err(type_error(&self.path, self.node, "a string")),
        }
    }

    /// The value as a boolean: only an unquoted `true` or `false`.
    pub(crate) fn bool(&self) -> Result<bool, ConfigError> {
        let expected = "`true` or `false`";
        match &self.node.value {
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Bool(value) => Ok(value),
                ScalarKind::String
                    if ["true", "false"]
                        .iter()
                        .any(|word| scalar.text.eq_ignore_ascii_case(word)) =>
                {
                    let error = type_error(&self.path, self.node, expected);
                    Err(ConfigError {
                        message: format!("{}; write it without quotes", error.message),
                        ..error
                    })
                }
                _ => Err(type_error(&self.path, self.node, expected)),
            },
            _ => Err(type_error(&self.path, self.node, expected)),
        }
    }

    /// The items of a list, each with its path.
    pub(crate) fn items(&self, what: &str) -> Result<Vec<Field<'a>>, ConfigError> {
        let Value::Sequence(items) = &self.node.value else {
            return Err(type_error(&self.path, self.node, what));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, node)| Field {
                path: index_path(&self.path, index),
                node,
            })
            .collect())
    }

    /// The value as a mapping whose keys are all in `expected`.
    pub(crate) fn fields(&self, expected: &[&str]) -> Result<Fields<'a>, ConfigError> {
        Fields::read(self.node, &self.path, expected)
    }
}

/// "expected {expected}, found {what the node is}".
pub(crate) fn type_error(path: &str, node: &Node, expected: &str) -> ConfigError {
    ConfigError::at(
        path,
        node.mark,
        format!("expected {expected}, found {}", node.describe()),
    )
}

fn unknown_key(path: &str, entry: &Entry, expected: &[&str]) -> ConfigError {
    let suggestion = closest(&entry.key, expected)
        .map(|key| format!(" (did you mean `{key}`?)"))
        .unwrap_or_default();
    let expected = expected
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ConfigError::at(
        key_path(path, &entry.key),
        entry.key_mark,
        format!(
            "unknown key `{}`{suggestion}; expected one of {expected}",
            entry.key
        ),
    )
}
