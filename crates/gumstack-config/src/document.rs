//! YAML text to a located tree: every [`Node`] and every mapping key keeps its line and column.
//!
//! This is where YAML itself is checked: syntax (with the parser's position), a single document
//! that is not empty, mapping keys that are strings and unique, aliases that resolve, and tags
//! limited to the core schema. Scalars are resolved as YAML 1.2's core schema does, so that
//! `secret: true` is a boolean and `secret: "true"` a string.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

use crate::ConfigError;
use crate::mark::Mark;

/// The deepest nesting accepted; a config.yaml needs four levels.
const MAX_DEPTH: usize = 64;

/// The most nodes a document may expand to, aliases included: stops "billion laughs" files.
const MAX_NODES: usize = 10_000;

/// A YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) mark: Mark,
    pub(crate) value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// Entries in document order, keys unique.
    Mapping(Vec<Entry>),
}

/// A scalar's text and what the core schema resolves it to.
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    pub(crate) kind: ScalarKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Null,
    Bool(bool),
    Number,
    String,
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_mark: Mark,
    pub(crate) value: Node,
}

impl Node {
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(scalar) if scalar.kind == ScalarKind::Null)
    }

    /// How an error message names this node: "a list", "the string \"yes\"", ...
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            Value::Mapping(_) => "a mapping".to_owned(),
            Value::Sequence(_) => "a list".to_owned(),
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => "an empty value".to_owned(),
                ScalarKind::Bool(value) => format!("the boolean `{value}`"),
                ScalarKind::Number => format!("the number `{}`", scalar.text),
                ScalarKind::String => format!("the string {}", quote(&scalar.text)),
            },
        }
    }
}

/// `text` in double quotes, shortened when long.
pub(crate) fn quote(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        format!("{text:?}")
    } else {
        let start: String = text.chars().take(SHOWN).collect();
        format!("{start:?}…")
    }
}

/// The path of `key` inside the mapping at `parent`.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of item `index` of the list at `parent`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Parses `text` as a single YAML document whose root is not empty.
pub(crate) fn load(text: &str) -> Result<Node, ConfigError> {
    let mut loader = Loader {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    loop {
        match loader.next()? {
            (Event::DocumentStart(_), _) => break,
            (Event::StreamEnd, _) => return Err(empty_document()),
            _ => {}
        }
    }
    let (event, span) = loader.next()?;
    let root = loader.node(event, span, "", 0)?;
    loop {
        match loader.next()? {
            (Event::StreamEnd, _) => break,
            (Event::DocumentStart(_), span) => {
                return Err(ConfigError::at(
                    "",
                    span.start.into(),
                    "config.yaml must hold a single YAML document, but a second one starts here",
                ));
            }
            _ => {}
        }
    }
    if root.is_null() {
        return Err(empty_document());
    }
    Ok(root)
}

fn empty_document() -> ConfigError {
    ConfigError::document(
        "the document is empty; expected a mapping with at least `name` and `auth`",
    )
}

/// Builds the tree from the parser's events, depth first.
struct Loader<'input> {
    events: Parser<'input, StrInput<'input>>,
    /// Finished anchored nodes by anchor id, with how many nodes each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted as the nodes they copy.
    nodes: usize,
}

impl<'input> Loader<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), ConfigError> {
        match self.events.next() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(syntax_error(&error)),
            None => Err(ConfigError::document(
                "invalid YAML: the text ends in the middle of a value",
            )),
        }
    }

    /// Counts `added` more nodes against [`MAX_NODES`].
    fn count(&mut self, added: usize, mark: Mark) -> Result<(), ConfigError> {
        self.nodes += added;
        if self.nodes > MAX_NODES {
            return Err(ConfigError::at(
                "",
                mark,
                format!(
                    "the document is too large: more than {MAX_NODES} values (aliases count as the values they copy)"
                ),
            ));
        }
        Ok(())
    }

    /// The node that starts with `event`; `path` names it in errors.
    fn node(
        &mut self,
        event: Event<'input>,
        span: Span,
        path: &str,
        depth: usize,
    ) -> Result<Node, ConfigError> {
        let mark = Mark::from(span.start);
        if depth > MAX_DEPTH {
            return Err(ConfigError::at(
                path,
                mark,
                format!("values are nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let before = self.nodes;
        self.count(1, mark)?;
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (Value::Scalar(scalar(text, style, tag, path, mark)?), anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag, "seq", path, mark)?;
                (Value::Sequence(self.sequence(path, depth)?), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag, "map", path, mark)?;
                (Value::Mapping(self.mapping(path, depth)?), anchor)
            }
            Event::Alias(id) => return self.alias(id, path, mark),
            other => {
                return Err(ConfigError::at(
                    path,
                    mark,
                    format!("invalid YAML: unexpected {other:?}"),
                ));
            }
        };
        let node = Node { mark, value };
        if anchor != 0 {
            let size = self.nodes - before;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(node)
    }

    fn alias(&mut self, id: usize, path: &str, mark: Mark) -> Result<Node, ConfigError> {
        let Some((node, size)) = self.anchors.get(&id).cloned() else {
            return Err(ConfigError::at(
                path,
                mark,
                "an alias may not refer to a node that contains it",
            ));
        };
        self.count(size, mark)?;
        Ok(node)
    }

    fn sequence(&mut self, path: &str, depth: usize) -> Result<Vec<Node>, ConfigError> {
        let mut items = Vec::new();
        loop {
            match self.next()? {
                (Event::SequenceEnd, _) => return Ok(items),
                (event, span) => {
                    let item_path = index_path(path, items.len());
                    items.push(self.node(event, span, &item_path, depth + 1)?);
                }
            }
        }
    }

    fn mapping(&mut self, path: &str, depth: usize) -> Result<Vec<Entry>, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = match self.next()? {
                (Event::MappingEnd, _) => return Ok(entries),
                next => next,
            };
            let key_node = self.node(event, span, path, depth + 1)?;
            let key_mark = key_node.mark;
            let Value::Scalar(Scalar { text: key, .. }) = key_node.value else {
                return Err(ConfigError::at(
                    path,
                    key_mark,
                    format!(
                        "mapping keys must be strings, found {}",
                        key_node.describe()
                    ),
                ));
            };
            let entry_path = key_path(path, &key);
            if let Some(first) = entries.iter().find(|entry| entry.key == key) {
                return Err(ConfigError::at(
                    entry_path,
                    key_mark,
                    format!(
                        "duplicate key `{key}` (first defined on line {})",
                        first.key_mark.line
                    ),
                ));
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span, &entry_path, depth + 1)?;
            entries.push(Entry {
                key,
                key_mark,
                value,
            });
        }
    }
}

fn syntax_error(error: &ScanError) -> ConfigError {
    let mark = Mark::from(*error.marker());
    ConfigError::at("", mark, format!("invalid YAML: {}", error.info()))
}

/// Resolves a scalar the way YAML 1.2's core schema does; quoted scalars are strings.
fn scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<Cow<'_, Tag>>,
    path: &str,
    mark: Mark,
) -> Result<Scalar, ConfigError> {
    let plain = style == ScalarStyle::Plain;
    let kind = match tag.as_deref() {
        None if plain => resolve_plain(&text),
        None => ScalarKind::String,
        Some(tag) if is_non_specific(tag) => ScalarKind::String,
        Some(tag) if tag.is_yaml_core_schema() => match tag.suffix.as_str() {
            "str" => ScalarKind::String,
            "null" | "bool" | "int" | "float" => resolve_plain(&text),
            _ => return Err(unsupported_tag(tag, path, mark)),
        },
        Some(tag) => return Err(unsupported_tag(tag, path, mark)),
    };
    Ok(Scalar {
        text: text.into_owned(),
        kind,
    })
}

fn check_collection_tag(
    tag: Option<Cow<'_, Tag>>,
    core_suffix: &str,
    path: &str,
    mark: Mark,
) -> Result<(), ConfigError> {
    match tag.as_deref() {
        None => Ok(()),
        Some(tag) if tag.is_yaml_core_schema() && tag.suffix == core_suffix => Ok(()),
        Some(tag) => Err(unsupported_tag(tag, path, mark)),
    }
}

/// The `!` tag, which only says "not a plain scalar".
fn is_non_specific(tag: &Tag) -> bool {
    tag.handle.is_empty() && tag.suffix == "!"
}

fn unsupported_tag(tag: &Tag, path: &str, mark: Mark) -> ConfigError {
    let shown = if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        format!("!<{}>", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    ConfigError::at(
        path,
        mark,
        format!("unsupported YAML tag `{shown}`; config.yaml values take no custom tags"),
    )
}

fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => ScalarKind::Null,
        "true" | "True" | "TRUE" => ScalarKind::Bool(true),
        "false" | "False" | "FALSE" => ScalarKind::Bool(false),
        _ if is_number(text) => ScalarKind::Number,
        _ => ScalarKind::String,
    }
}

/// Whether a plain scalar is an int or a float in the core schema.
fn is_number(text: &str) -> bool {
    fn digits(text: &str, radix: u32) -> bool {
        !text.is_empty() && text.chars().all(|c| c.is_digit(radix))
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return digits(octal, 8);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return digits(hex, 16);
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction, 10),
        Some((whole, fraction)) => {
            digits(whole, 10) && fraction.chars().all(|c| c.is_ascii_digit())
        }
        None => digits(mantissa, 10),
    };
    let exponent_ok = exponent
        .is_none_or(|exponent| digits(exponent.strip_prefix(['+', '-']).unwrap_or(exponent), 10));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests;
