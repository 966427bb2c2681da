//! The CSV export's lines (RFC 4180), with spreadsheet formula injection neutralised: a cell
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
//! target label such as `=HYPERLINK(…)` is shown as text, never run.

use crate::store::AuditRecord;

const COLUMNS: [&str; 11] = [
    "seq",
    "time",
    "actor",
    "actor_id",
    "action",
    "target_kind",
    "target_id",
    "target",
    "details",
    "source",
    "hash",
];

/// One cell, neutralised and quoted when needed.
pub(crate) fn cell(value: &str) -> String {
    let mut text = String::with_capacity(value.len() + 2);
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.push('\'');
    }
    text.push_str(value);
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn line(cells: &[&str]) -> String {
    let mut out = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

pub(crate) fn header() -> String {
    line(&COLUMNS)
}

/// A time as RFC 3339 in UTC.
pub(crate) fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

pub(crate) fn row(record: &AuditRecord) -> String {
    let d = &record.draft;
    line(&[
        &record.seq.to_string(),
        &rfc3339(d.at),
        &d.actor_label,
        d.actor_id.as_deref().unwrap_or(""),
        &d.action,
        &d.target_kind,
        d.target_id.as_deref().unwrap_or(""),
        &d.target_label,
        &d.details,
        d.source.as_deref().unwrap_or(""),
        &record.hash,
    ])
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }
}
