//! The audit CSV export's lines, with cells from [`crate::csv`] (RFC 4180, spreadsheet formula
//! injection neutralised: a target label such as `=HYPERLINK(…)` is shown as text, never run).

use crate::csv::cell;
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
