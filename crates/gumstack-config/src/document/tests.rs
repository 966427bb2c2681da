use super::*;

fn load_ok(text: &str) -> Node {
    match load(text) {
        Ok(node) => node,
        Err(error) => panic!("{error}"),
    }
}

fn entries(node: &Node) -> &[Entry] {
    match &node.value {
        Value::Mapping(entries) => entries,
        other => panic!("not a mapping: {other:?}"),
    }
}

fn kind(node: &Node) -> ScalarKind {
    match &node.value {
        Value::Scalar(scalar) => scalar.kind,
        other => panic!("not a scalar: {other:?}"),
    }
}

#[test]
fn plain_scalars_follow_the_core_schema() {
    for null in ["", "~", "null", "Null", "NULL"] {
        assert_eq!(resolve_plain(null), ScalarKind::Null, "{null}");
    }
    assert_eq!(resolve_plain("True"), ScalarKind::Bool(true));
    assert_eq!(resolve_plain("FALSE"), ScalarKind::Bool(false));
    for number in [
        "0", "-12", "+3", "0o17", "0xFF", "1.5", ".5", "1.", "1e3", "2.5E-3", "-.inf", ".NaN",
    ] {
        assert_eq!(resolve_plain(number), ScalarKind::Number, "{number}");
    }
    for string in [
        "yes", "no", "on", "1_000", "0x", "1e", ".", "e3", "1.2.3", "sk-1", "nul",
    ] {
        assert_eq!(resolve_plain(string), ScalarKind::String, "{string}");
    }
}

#[test]
fn quoted_and_str_tagged_scalars_are_strings() {
    let root = load_ok("a: \"true\"\nb: 'null'\nc: !!str 12\nd: ! 12\ne: |\n  3\n");
    for entry in entries(&root) {
        assert_eq!(kind(&entry.value), ScalarKind::String, "{}", entry.key);
    }
}

#[test]
fn marks_are_counted_from_one() {
    let root = load_ok("# comment\nname: x\nauth:\n  type: oauth\n");
    let auth = &entries(&root)[1];
    assert_eq!(auth.key_mark, Mark { line: 3, column: 1 });
    let kind = &entries(&auth.value)[0];
    assert_eq!(kind.key_mark, Mark { line: 4, column: 3 });
    assert_eq!(kind.value.mark, Mark { line: 4, column: 9 });
}

#[test]
fn aliases_copy_the_anchored_node() {
    let root = load_ok("a: &text hello\nb: *text\n");
    let entries = entries(&root);
    assert!(matches!(&entries[1].value.value, Value::Scalar(s) if s.text == "hello"));
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..6 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    let error = load(&text).unwrap_err();
    assert!(error.message.contains("too large"), "{error}");
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let error = load(&text).unwrap_err();
    assert!(error.message.contains("nested"), "{error}");
}

#[test]
fn complex_keys_are_refused() {
    let error = load("? [a]\n: b\n").unwrap_err();
    assert_eq!(error.line, Some(1));
    assert!(error.message.contains("keys must be strings"), "{error}");
}

#[test]
fn custom_tags_are_refused() {
    let error = load("a: !secret x\n").unwrap_err();
    assert_eq!(error.path, "a");
    assert!(error.message.contains("`!secret`"), "{error}");
    let error = load("a: !!set {x}\n").unwrap_err();
    assert!(error.message.contains("`!!set`"), "{error}");
}

#[test]
fn paths_name_keys_and_indexes() {
    assert_eq!(key_path("", "auth"), "auth");
    assert_eq!(key_path("auth", "type"), "auth.type");
    assert_eq!(index_path("tools", 2), "tools[2]");
}
