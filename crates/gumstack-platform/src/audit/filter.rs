//! The filters of the audit views, as the page's form and the API's query string send them
//! (every field optional, empty meaning absent), checked into an [`AuditQuery`]. Anything that
//! does not parse is refused with a message saying what and why, never ignored.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuditAction, TargetKind};
use crate::error::{DomainError, ErrorClass};
use crate::store::{AuditQuery, Timestamp};

/// The most records one page or API call returns.
pub const MAX_LIMIT: u32 = 500;
/// Records per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;

/// The filters as typed: `actor` (an email, `cli (operator)`, or a user id), `action`
/// (`server.created`…), `target` (a target kind: `server`, `user`…), `from` and `to` (a date
/// `YYYY-MM-DD` in UTC, or Unix seconds; both inclusive), `before` (the cursor of the next
/// page), `limit` (1–500).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct FilterParams {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// A filter that does not parse: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter `{field}`: {reason}")]
pub struct FilterError {
    pub field: &'static str,
    pub reason: String,
}

impl DomainError for FilterError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }

    fn code(&self) -> &'static str {
        "invalid_filter"
    }
}

/// Checked filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub query: AuditQuery,
    pub limit: u32,
    /// The filters as given (without `before` and `limit`), trimmed, for the page's form and
    /// its links.
    pub given: FilterParams,
}

fn present(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> FilterError {
    FilterError {
        field,
        reason: reason.into(),
    }
}

/// A date `YYYY-MM-DD` (UTC midnight) or Unix seconds; `end` moves a date to the next day's
/// midnight and seconds one past (the bound is inclusive).
fn time_bound(field: &'static str, text: &str, end: bool) -> Result<Timestamp, FilterError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(if end {
            seconds.saturating_add(1)
        } else {
            seconds
        });
    }
    let bad = || {
        invalid(
            field,
            format!("`{text}` is not a date (YYYY-MM-DD) or Unix seconds"),
        )
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(bad());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u8 = month.parse().map_err(|_| bad())?;
    let day: u8 = day.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let start = date.midnight().assume_utc().unix_timestamp();
    Ok(if end { start + 86_400 } else { start })
}

impl AuditFilter {
    /// Checks `params`.
    pub fn parse(params: &FilterParams) -> Result<Self, FilterError> {
        let mut query = AuditQuery::default();
        let mut given = FilterParams::default();
        if let Some(actor) = present(params.actor.as_ref()) {
            if actor.len() > 320 {
                return Err(invalid("actor", "longer than 320 characters"));
            }
            match Uuid::parse_str(actor) {
                Ok(id) => query.actor_id = Some(id),
                Err(_) => query.actor_label = Some(actor.to_owned()),
            }
            given.actor = Some(actor.to_owned());
        }
        if let Some(action) = present(params.action.as_ref()) {
            let known = AuditAction::parse(action).ok_or_else(|| {
                let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                invalid(
                    "action",
                    format!("unknown action `{action}`; one of {}", all.join(", ")),
                )
            })?;
            query.action = Some(known.as_str().to_owned());
            given.action = Some(action.to_owned());
        }
        if let Some(target) = present(params.target.as_ref()) {
            let known = TargetKind::parse(target).ok_or_else(|| {
                let all: Vec<&str> = TargetKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(
                    "target",
                    format!("unknown target kind `{target}`; one of {}", all.join(", ")),
                )
            })?;
            query.target_kind = Some(known.as_str().to_owned());
            given.target = Some(target.to_owned());
        }
        if let Some(from) = present(params.from.as_ref()) {
            query.from = Some(time_bound("from", from, false)?);
            given.from = Some(from.to_owned());
        }
        if let Some(to) = present(params.to.as_ref()) {
            query.until = Some(time_bound("to", to, true)?);
            given.to = Some(to.to_owned());
        }
        if let (Some(from), Some(until)) = (query.from, query.until)
            && from >= until
        {
            return Err(invalid("to", "the range ends before it starts"));
        }
        if let Some(before) = present(params.before.as_ref()) {
            let seq = before
                .parse::<i64>()
                .ok()
                .filter(|seq| *seq > 0)
                .ok_or_else(|| invalid("before", format!("`{before}` is not a record number")))?;
            query.before = Some(seq);
        }
        let limit = match present(params.limit.as_ref()) {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "limit",
                        format!("`{text}` is not a number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        Ok(Self {
            query,
            limit,
            given,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> FilterParams {
        let value = serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect(),
        );
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn empty_fields_are_absent_and_dates_are_whole_days() {
        let filter = AuditFilter::parse(&params(&[
            ("actor", " "),
            ("from", "2026-01-02"),
            ("to", "2026-01-02"),
        ]))
        .unwrap();
        assert_eq!(filter.query.actor_label, None);
        assert_eq!(filter.query.from, Some(1_767_312_000));
        assert_eq!(filter.query.until, Some(1_767_312_000 + 86_400));
        assert_eq!(filter.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_input_names_the_field() {
        for (pairs, field) in [
            (vec![("action", "server.exploded")], "action"),
            (vec![("target", "planet")], "target"),
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "2026-02-30")], "to"),
            (vec![("from", "2026-03-02"), ("to", "2026-03-01")], "to"),
            (vec![("before", "-3")], "before"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "501")], "limit"),
        ] {
            let err = AuditFilter::parse(&params(&pairs)).unwrap_err();
            assert_eq!(err.field, field, "{pairs:?}");
        }
    }

    #[test]
    fn an_actor_is_an_id_or_a_label() {
        let id = Uuid::new_v4();
        let by_id = AuditFilter::parse(&params(&[("actor", &id.to_string())])).unwrap();
        assert_eq!(by_id.query.actor_id, Some(id));
        let by_label = AuditFilter::parse(&params(&[("actor", "cli (operator)")])).unwrap();
        assert_eq!(
            by_label.query.actor_label.as_deref(),
            Some("cli (operator)")
        );
    }
}
