//! The outline of a JSON-RPC message: which of its top-level keys `method`, `error` and
//! `result` it has, and whether its `result` says `isError: true`. Read in one pass that
//! builds nothing (every other value is skipped), where a `serde_json::Value` of the whole
//! answer cost an allocation per key and string: this runs once per logged call.
//!
//! What it reads is what `Value` would give: a key is matched after unescaping, the last of
//! duplicate keys wins, a key present with `null` is present, and the text must be one whole
//! JSON value.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The top-level keys that tell a message's kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Outline {
    /// `method` is present: a request or notification.
    pub(super) method: bool,
    /// `error` is present (whatever its value).
    pub(super) error: bool,
    /// `result`, if present.
    pub(super) result: Option<ResultOutline>,
}

/// What a `result` says of how the tool call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResultOutline {
    /// An object whose `isError` is `true`.
    IsError,
    /// An object whose `resultType` is `"input_required"` (2026-07-28: the client is asked for
    /// input and retries).
    InputRequired,
    /// Anything else.
    Other,
}

/// A key the outline looks for; any other key is skipped.
enum Key {
    Method,
    Error,
    Result,
    IsError,
    ResultType,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "method" => Key::Method,
                    "error" => Key::Error,
                    "result" => Key::Result,
                    "isError" => Key::IsError,
                    "resultType" => Key::ResultType,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Outline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OutlineVisitor;
        impl<'de> Visitor<'de> for OutlineVisitor {
            type Value = Outline;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message (an object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
                let mut outline = Outline::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Method => {
                            map.next_value::<IgnoredAny>()?;
                            outline.method = true;
                        }
                        Key::Error => {
                            map.next_value::<IgnoredAny>()?;
                            outline.error = true;
                        }
                        Key::Result => outline.result = Some(map.next_value()?),
                        Key::IsError | Key::ResultType | Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(outline)
            }
        }
        deserializer.deserialize_map(OutlineVisitor)
    }
}

impl<'de> Deserialize<'de> for ResultOutline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ResultVisitor)
    }
}

/// A `result` of any type: only an object can say `isError: true`.
struct ResultVisitor;

impl<'de> Visitor<'de> for ResultVisitor {
    type Value = ResultOutline;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResultOutline, A::Error> {
        let (mut is_error, mut input_required) = (false, false);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::IsError => is_error = map.next_value::<Flag>()?.0,
                Key::ResultType => {
                    let value: serde_json::Value = map.next_value()?;
                    input_required = value.as_str() == Some("input_required");
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if input_required {
            ResultOutline::InputRequired
        } else if is_error {
            ResultOutline::IsError
        } else {
            ResultOutline::Other
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ResultOutline, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(ResultOutline::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<ResultOutline, E> {
        Ok(ResultOutline::Other)
    }
}

/// Whether a value is the boolean `true` (any other value, skipped, is not).
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Flag, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(Flag(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Flag, A::Error> {
                IgnoredAny.visit_map(map)?;
                Ok(Flag(false))
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(text: &str) -> Option<Outline> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn the_kind_is_read_from_the_top_level_keys() {
        let ok = outline(
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#,
        );
        assert_eq!(
            ok,
            Some(Outline {
                result: Some(ResultOutline::Other),
                ..Outline::default()
            })
        );
        let tool_error =
            outline(r#"{"id":1,"result":{"isError":true,"content":[{"text":"no"}]}}"#).unwrap();
        assert_eq!(tool_error.result, Some(ResultOutline::IsError));
        let rpc_error = outline(r#"{"id":1,"error":{"code":-32602,"message":"bad"}}"#).unwrap();
        assert!(rpc_error.error && rpc_error.result.is_none());
        let request = outline(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#).unwrap();
        assert!(request.method);
    }

    #[test]
    fn is_error_counts_only_when_it_is_true_in_the_result_itself() {
        for (text, expected) in [
            (r#"{"result":{"isError":false}}"#, ResultOutline::Other),
            (r#"{"result":{"isError":"true"}}"#, ResultOutline::Other),
            (r#"{"result":{"isError":[true]}}"#, ResultOutline::Other),
            (
                r#"{"result":{"isError":{"isError":true}}}"#,
                ResultOutline::Other,
            ),
            (
                r#"{"result":{"content":{"isError":true}}}"#,
                ResultOutline::Other,
            ),
            (r#"{"result":[{"isError":true}]}"#, ResultOutline::Other),
            (r#"{"result":null}"#, ResultOutline::Other),
            (r#"{"result":"text"}"#, ResultOutline::Other),
            (
                r#"{"result":{"isError":true,"isError":false}}"#,
                ResultOutline::Other,
            ),
            (
                r#"{"result":{"isError":false,"isError":true}}"#,
                ResultOutline::IsError,
            ),
            (
                r#"{"result":{"is\u0045rror":true}}"#,
                ResultOutline::IsError,
            ),
            (r#"{"isError":true,"result":{}}"#, ResultOutline::Other),
        ] {
            assert_eq!(outline(text).unwrap().result, Some(expected), "{text}");
        }
    }

    #[test]
    fn keys_are_matched_like_a_parsed_object_would_match_them() {
        // Escaped, present with null, repeated: as `serde_json::Value` reads them.
        assert!(outline(r#"{"\u006dethod":"x"}"#).unwrap().method);
        assert!(outline(r#"{"error":null,"id":1}"#).unwrap().error);
        assert!(outline(r#"{"method":null}"#).unwrap().method);
        let nested = outline(r#"{"params":{"method":"x","error":1},"result":{}}"#).unwrap();
        assert!(!nested.method && !nested.error);
    }

    #[test]
    fn what_is_not_one_json_object_has_no_outline() {
        for text in [
            "",
            "not json",
            "[1,2]",
            "\"result\"",
            r#"{"result":{}"#,
            r#"{"result":{}} trailing"#,
            r#"{"result":{"content":[}}"#,
            r#"{"result":tru}"#,
        ] {
            assert!(outline(text).is_none(), "{text}");
        }
    }
}
