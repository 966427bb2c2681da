//! CSV cells for the exports (RFC 4180), safe to open in a spreadsheet.

/// Appends `value` as one CSV cell. A cell with a comma, quote or line break is quoted (quotes
/// doubled); a cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage
/// return first) gets a leading `'`, so an exported value can never run as one.
pub(crate) fn push_cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\n', '\r']);
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

#[cfg(test)]
mod tests {
    use super::push_cell;

    fn cell(value: &str) -> String {
        let mut out = String::new();
        push_cell(&mut out, value);
        out
    }

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
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    }
}
