//! CSV cells for the exports (RFC 4180), safe to open in a spreadsheet.

/// Appends `value` as one CSV cell. A cell a spreadsheet would read as a formula (`=`, `+`,
/// `-`, `@`, tab or carriage return first) gets a leading `'`, so an exported value can never
/// run as one; a cell with a comma, quote or line break is then quoted (quotes doubled).
pub(crate) fn push_cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quote {
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One CSV cell as [`push_cell`] writes it.
pub(crate) fn cell(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_cell(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn plain_values_stay_plain() {
        assert_eq!(cell("get_weather"), "get_weather");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn separators_and_quotes_are_quoted() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("=1,2"), "\"'=1,2\"");
    }
}
