//! Redaction of secrets from text the platform stores or shows (SPEC §9): the activity log's
//! inputs, outputs and errors, and deployment errors and output. [`redact`] is the one
//! function all of them call.
//!
//! Two kinds of secret are replaced with [`REDACTED`]:
//!
//! - **Values the platform knows** ([`SecretValues`]): for a call, the credentials and tokens
//!   released to the server during it and the caller's own bearer token; for a deployment,
//!   its env values. A value shorter than [`MIN_SECRET_CHARS`] is not matched (a
//!   `GREETING=Hello` must not blank every greeting). Each value is matched as it is, as it
//!   reads inside a JSON string, base64-encoded (standard and URL-safe alphabets, with and
//!   without padding) and URL-encoded (`%20` and `+` for spaces), all in one pass of an
//!   Aho-Corasick automaton built once per set.
//! - **Shapes** that are secrets whatever their value: `Bearer` credentials, `Basic`
//!   credentials (base64 of `user:password`), `Authorization` values, keys shaped like
//!   `sk-…`, `pk-…`, `api-…`, `key-…` (and the platform's own `gsk_`/`gst_` tokens),
//!   JWT-shaped strings, and email addresses.
//!
//! Values go first, so a secret is replaced whole even when a shape would match part of it.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use regex::{Captures, Regex};
use secrecy::{ExposeSecret, SecretString};

/// What a redacted secret is replaced with.
pub(crate) const REDACTED: &str = "****SECRET_REDACTED****";

/// Values with fewer characters than this are not matched: replacing every `1` or `Hello`
/// would destroy the text while protecting nothing.
pub(crate) const MIN_SECRET_CHARS: usize = 6;

/// Secret values to redact, with the automaton that finds them (and their encodings), built
/// on first use and kept: a deployment's set is built once, not per call.
pub(crate) struct SecretValues {
    values: Vec<SecretString>,
    matcher: OnceLock<Option<AhoCorasick>>,
}

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValues")
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Default for SecretValues {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl SecretValues {
    /// The values long enough to be matched.
    pub(crate) fn new(values: impl IntoIterator<Item = SecretString>) -> Self {
        Self {
            values: values
                .into_iter()
                .filter(|value| value.expose_secret().chars().count() >= MIN_SECRET_CHARS)
                .collect(),
            matcher: OnceLock::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn matcher(&self) -> Option<&AhoCorasick> {
        self.matcher
            .get_or_init(|| {
                let mut patterns: Vec<String> = self
                    .values
                    .iter()
                    .flat_map(|value| encodings(value.expose_secret()))
                    .collect();
                patterns.sort_unstable();
                patterns.dedup();
                if patterns.is_empty() {
                    return None;
                }
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .inspect_err(|error| tracing::error!(%error, "secret matcher not built"))
                    .ok()
            })
            .as_ref()
    }

    /// `text` with every value (in every encoding) replaced.
    fn replace<'t>(&self, text: Cow<'t, str>) -> Cow<'t, str> {
        let Some(matcher) = self.matcher() else {
            return text;
        };
        if !matcher.is_match(text.as_ref()) {
            return text;
        }
        let patterns = matcher.patterns_len();
        let replacements = vec![REDACTED; patterns];
        Cow::Owned(matcher.replace_all(text.as_ref(), &replacements))
    }
}

/// How a value may appear in text: as it is, inside a JSON string, base64 (both alphabets,
/// with and without padding) and URL-encoded.
fn encodings(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut out = vec![
        value.to_owned(),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        url::form_urlencoded::byte_serialize(bytes).collect(),
        percent_encode(bytes),
    ];
    let json = serde_json::to_string(value).expect("a string serializes");
    out.push(json[1..json.len() - 1].to_owned());
    out
}

/// Every byte but RFC 3986's unreserved characters as `%XX` (what `encodeURIComponent` and
/// Python's `quote(safe='')` give, up to `!*'()`, which are matched by the form encoding).
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every shape of secret, one alternative per named group, then (in [`SHAPES`] only) runs of
/// base64 long enough to hide one.
macro_rules! shapes {
    ($($extra:literal)?) => {
        concat!(
        // `Authorization: …`, `"authorization": "…"`, `Proxy-Authorization=…`: the value.
        r#"(?P<header>\b(?i:(?:proxy-)?authorization)\b["']?\s*[:=]\s*["']?)(?P<header_value>[^"'\r\n,;}]+)"#,
        r"|(?P<scheme>\b(?i:bearer|basic)\s+)(?P<credential>[A-Za-z0-9\-._~+/]+=*)",
        r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)",
        r"|(?P<key>\b(?i:sk|pk|api|key|gsk|gst)[-_][A-Za-z0-9_\-]{8,})",
        r"|(?P<email>\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)",
        $($extra)?
        )
    };
}

/// The shapes, and base64 runs (decoded and redacted when they hide a shape: a key the
/// platform only knows by its hash, sent base64-encoded).
static SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(shapes!(r"|(?P<b64>[A-Za-z0-9+/_-]{24,}={0,2})")).expect("the secret shapes compile")
    // The `24` is BASE64_RUN (a literal: `concat!` takes no constant).
});

/// The shapes alone, looked for inside decoded base64.
static INNER_SHAPES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(shapes!()).expect("the secret shapes compile"));

/// What every match of [`SHAPES`] holds, but for its base64 runs: a header name, a scheme, a
/// JWT's start, a key's prefix, an email's `@` (matched without case: a superset of the
/// shapes' own case rules). See [`may_hold_a_shape`].
static ANCHORS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "authorization",
            "bearer",
            "basic",
            "eyj",
            "sk-",
            "sk_",
            "pk-",
            "pk_",
            "api-",
            "api_",
            "key-",
            "key_",
            "gst-",
            "gst_",
            "@",
        ])
        .expect("the anchors of the secret shapes build")
});

/// The shortest run of base64 [`SHAPES`] looks into.
const BASE64_RUN: usize = 24;

/// Whether `text` may match [`SHAPES`]: false only when it cannot, so that most texts (which
/// hold no secret) skip the regex. Text that is not ASCII always goes to the regex: its
/// case-insensitive matching also takes a few non-ASCII letters (the Kelvin sign for `k`, the
/// long `ſ` for `s`).
fn may_hold_a_shape(text: &str) -> bool {
    if !text.is_ascii() || ANCHORS.is_match(text) {
        return true;
    }
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-') {
            run += 1;
            if run >= BASE64_RUN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Whether a run of base64 decodes to text holding a secret shape.
fn hides_a_shape(run: &str) -> bool {
    let run = run.trim_end_matches('=');
    let whole = &run[..run.len() - run.len() % 4];
    let engine = if run.contains(['-', '_']) {
        URL_SAFE_NO_PAD
    } else {
        STANDARD_NO_PAD
    };
    engine
        .decode(whole)
        .is_ok_and(|decoded| INNER_SHAPES.is_match(&String::from_utf8_lossy(&decoded)))
}

/// The replacement of one shape match (the match itself when it is not a secret after all).
fn replace_shape(caps: &Captures<'_>) -> String {
    let whole = &caps[0];
    if let (Some(header), Some(_)) = (caps.name("header"), caps.name("header_value")) {
        return format!("{}{REDACTED}", header.as_str());
    }
    if let (Some(scheme), Some(credential)) = (caps.name("scheme"), caps.name("credential")) {
        let credential = credential.as_str();
        let is_secret = if scheme.as_str().trim().eq_ignore_ascii_case("basic") {
            // Base64 of `user:password`; "basic settings" is English.
            credential.len() >= 8
                && STANDARD
                    .decode(credential.trim_end_matches('='))
                    .or_else(|_| STANDARD_NO_PAD.decode(credential.trim_end_matches('=')))
                    .is_ok_and(|decoded| decoded.contains(&b':'))
        } else {
            // A token has some character that is not a letter; "bearer responsibilities" not.
            credential.len() >= 8 && !credential.bytes().all(|b| b.is_ascii_alphabetic())
        };
        return if is_secret {
            format!("{}{REDACTED}", scheme.as_str())
        } else {
            whole.to_owned()
        };
    }
    if let Some(run) = caps.name("b64") {
        return if hides_a_shape(run.as_str()) {
            REDACTED.to_owned()
        } else {
            whole.to_owned()
        };
    }
    if let Some(key) = caps.name("key") {
        let key = key.as_str();
        let (prefix, tail) = key.split_at(key.find(['-', '_']).unwrap_or(0));
        // `api-…` and `key-…` are also English (`key-value-store`): a key has a digit.
        let wordlike = matches!(prefix.to_ascii_lowercase().as_str(), "api" | "key");
        if wordlike && !tail.bytes().any(|b| b.is_ascii_digit()) {
            return whole.to_owned();
        }
    }
    REDACTED.to_owned()
}

/// `text` with every known value of `values` (in every encoding) and every secret shape
/// replaced by [`REDACTED`]. Borrowed when nothing was found.
pub(crate) fn redact<'t>(text: &'t str, values: &[&SecretValues]) -> Cow<'t, str> {
    let mut out = Cow::Borrowed(text);
    for set in values {
        out = set.replace(out);
    }
    if !may_hold_a_shape(&out) {
        return out;
    }
    match SHAPES.replace_all(out.as_ref(), replace_shape) {
        Cow::Borrowed(_) => out,
        Cow::Owned(replaced) => Cow::Owned(replaced),
    }
}

/// Replaces every occurrence of each secret in `text`, and every secret shape: [`redact`] with
/// a set made for this text.
#[cfg(test)]
fn redact_secrets<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let set = SecretValues::new(
        secrets
            .into_iter()
            .map(|secret| SecretString::from(secret.to_owned())),
    );
    redact(text, &[&set]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> SecretValues {
        SecretValues::new(list.iter().map(|v| SecretString::from((*v).to_owned())))
    }

    fn clean(text: &str) -> String {
        redact(text, &[]).into_owned()
    }

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let text = "key=s3cr3t-abcdef and again s3cr3t-abcdef; prefix s3cr3t-abc";
        let out = redact_secrets(text, ["s3cr3t-abc", "s3cr3t-abcdef"]);
        assert_eq!(
            out,
            format!("key={REDACTED} and again {REDACTED}; prefix {REDACTED}")
        );
    }

    #[test]
    fn short_values_are_left_alone() {
        assert_eq!(redact_secrets("debug=1", ["1"]), "debug=1");
        assert_eq!(
            redact_secrets("Hello, Ada! Hello again", ["Hello"]),
            "Hello, Ada! Hello again"
        );
        let six = redact_secrets("Bonjo! Bonjour", ["Bonjou"]);
        assert_eq!(six, format!("Bonjo! {REDACTED}r"));
    }

    #[test]
    fn values_are_found_in_every_encoding() {
        let secret = "p@ss word/with+odd?chars=1";
        let set = values(&[secret]);
        let encoded = [
            secret.to_owned(),
            STANDARD.encode(secret),
            STANDARD_NO_PAD.encode(secret),
            URL_SAFE.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            percent_encode(secret.as_bytes()),
        ];
        for form in encoded {
            let text = format!("before {form} after");
            let out = redact(&text, &[&set]);
            assert_eq!(out, format!("before {REDACTED} after"), "{form}");
        }
        let quoted = "a \"quoted\" value\\n";
        let json = serde_json::json!({ "echo": quoted }).to_string();
        let out = redact(&json, &[&values(&[quoted])]);
        assert!(!out.contains("quoted"), "{out}");
    }

    #[test]
    fn no_secret_survives_a_mixed_text() {
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
        let env = "hunter2-very-secret";
        let text = format!(
            "args {{\"token\":\"{token}\",\"b64\":\"{}\"}} env {env} url {}",
            STANDARD.encode(env),
            percent_encode(env.as_bytes())
        );
        let deployment = values(&[env]);
        let call = values(&[token]);
        let out = redact(&text, &[&deployment, &call]);
        for leaked in [token, env, &STANDARD.encode(env), "hunter2"] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
    }

    #[test]
    fn shapes_are_redacted_without_knowing_the_value() {
        let cases = [
            ("Authorization: Bearer abc.def-123", "Authorization: "),
            (
                r#"{"authorization": "Token xyz987"}"#,
                r#"{"authorization": "#,
            ),
            ("sent Bearer abcdef123456 to it", "sent Bearer "),
            (
                "curl -H 'x' Basic dXNlcjpwYXNzd29yZA==",
                "curl -H 'x' Basic ",
            ),
            ("openai sk-proj-AbC123dEf456gHi789", "openai "),
            ("stripe pk_live_51Habcdefgh", "stripe "),
            ("use api-9f8e7d6c5b4a here", "use "),
            ("KEY-0123456789abcdef", ""),
            ("platform gsk_AbCdEfGhIjKlMnOp", "platform "),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x",
                "jwt ",
            ),
            ("write to ada.lovelace+x@example.co.uk now", "write to "),
        ];
        for (text, kept) in cases {
            let out = clean(text);
            assert!(out.starts_with(kept), "{text} → {out}");
            assert!(out.contains(REDACTED), "{text} → {out}");
        }
    }

    #[test]
    fn base64_hiding_a_shape_is_redacted() {
        let key = "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd";
        for encoded in [
            STANDARD.encode(key),
            URL_SAFE_NO_PAD.encode(key),
            STANDARD.encode(format!("token={key}")),
            STANDARD.encode("someone.else@example.com"),
        ] {
            let text = format!("x {encoded} y");
            assert_eq!(clean(&text), format!("x {REDACTED} y"), "{encoded}");
        }
        let harmless = STANDARD.encode("just an ordinary sentence, nothing secret");
        assert_eq!(clean(&harmless), harmless);
        let identifier = "GUMSTACK_DEPLOYMENT_ID_is_not_base64_at_all";
        assert_eq!(clean(identifier), identifier);
    }

    #[test]
    fn english_that_looks_like_a_shape_is_kept() {
        for text in [
            "a basic example of the bearer responsibilities",
            "the key-value store and the api-gateway-service",
            "skip this task-management thing",
            "no secrets here: 42",
        ] {
            assert_eq!(clean(text), text);
        }
    }

    #[test]
    fn the_pre_check_lets_every_shape_through() {
        let shaped = [
            "Authorization: x",
            "PROXY-AUTHORIZATION=abc",
            "bEaReR abcdef123456",
            "Basic dXNlcjpwYXNzd29yZA==",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
            "SK-proj-AbC123dEf456",
            "pk_live_51Habcdefgh",
            "Api-9f8e7d6c5b4a",
            "key_0123456789abcdef",
            "GST_abcdefghij",
            "a@b.io",
            // Base64 of an email address: no anchor, a long run.
            "c29tZW9uZS5lbHNlQGV4YW1wbGUuY29t",
            // Non-ASCII letters that case-insensitive `k` and `s` also match.
            "\u{212A}ey-0123456789ab",
            "\u{17F}k-0123456789abcdef",
        ];
        for text in shaped {
            assert!(may_hold_a_shape(text), "{text}");
            assert!(SHAPES.is_match(text), "{text} is a shape");
            assert!(clean(text).contains(REDACTED), "{text}");
        }
        let plain = [
            "",
            r#"{"name":"Ada"}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Hello, Ada!"}]}}"#,
            "a key value store, skipping the api: 12345678901234567890123",
        ];
        for text in plain {
            assert!(!may_hold_a_shape(text), "{text}");
            assert!(!SHAPES.is_match(text), "{text}");
            assert_eq!(clean(text), text);
        }
    }

    #[test]
    fn the_marker_is_stable() {
        let once = clean("Bearer abcdef123456 and x@y.org");
        assert_eq!(clean(&once), once);
    }
}
