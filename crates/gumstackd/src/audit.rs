//! `gumstackd audit …`: verify the audit trail's chain, list its records; and how the other
//! commands record what they did (the actor is `cli (operator)`, with no address).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use gumstack_platform::Platform;
use gumstack_platform::audit::{Actor, AuditEvent, AuditFilter, AuditTrail, FilterParams};

use crate::console::say;
use crate::data_dir::{DataDir, options};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the chain: every record's HMAC, its place and its link to the one before, then the
    /// head (count and last hash, so records cut off the end are found). Prints
    /// `audit: N records, chain intact`, or names the first broken record and exits 1.
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
    /// Print records, newest first, one per line (tab-separated: seq, time, actor, action,
    /// target kind, target, details, address).
    List {
        #[command(flatten)]
        filters: ListFilters,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ListFilters {
    /// An email, `cli (operator)`, or a user id.
    #[arg(long)]
    actor: Option<String>,
    /// An action such as `server.created`.
    #[arg(long)]
    action: Option<String>,
    /// A target kind such as `server` or `user`.
    #[arg(long)]
    target: Option<String>,
    /// From this date (YYYY-MM-DD, UTC) or Unix time, inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Up to this date (YYYY-MM-DD, UTC) or Unix time, inclusive.
    #[arg(long)]
    to: Option<String>,
    /// At most this many records (1–500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

pub(crate) async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data } => {
            let trail = open(&data).await?;
            let verification = trail.verify().await?;
            match verification.broken {
                None => {
                    say(&format!(
                        "audit: {} records, chain intact",
                        verification.records
                    ));
                    Ok(())
                }
                Some(broken) => {
                    say(&format!("audit: {broken}"));
                    anyhow::bail!(
                        "the audit trail was altered ({} records read)",
                        verification.records
                    )
                }
            }
        }
        AuditCommand::List { filters, data } => {
            let trail = open(&data).await?;
            let filter = AuditFilter::parse(&FilterParams {
                actor: filters.actor,
                action: filters.action,
                target: filters.target,
                from: filters.from,
                to: filters.to,
                before: None,
                limit: Some(filters.limit.to_string()),
            })?;
            let page = trail.page(&filter, filter.limit).await?;
            for record in page.records {
                let d = record.draft;
                say(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    record.seq,
                    d.at,
                    d.actor_label,
                    d.action,
                    d.target_kind,
                    d.target_label,
                    d.details,
                    d.source.as_deref().unwrap_or("-")
                ));
            }
            Ok(())
        }
    }
}

async fn open(data: &DataDir) -> anyhow::Result<AuditTrail> {
    Ok(Platform::audit_trail(&options(data)).await?)
}

/// Records what a command did, as the operator. An error says the action itself was done.
pub(crate) async fn record(platform: &Platform, event: AuditEvent) -> anyhow::Result<()> {
    record_in(&platform.state.audit, event).await
}

/// [`record`] for the commands that open only the keys.
pub(crate) async fn record_offline(data: &DataDir, event: AuditEvent) -> anyhow::Result<()> {
    record_in(&open(data).await?, event).await
}

async fn record_in(trail: &AuditTrail, event: AuditEvent) -> anyhow::Result<()> {
    trail
        .record(&Actor::Operator, None, event)
        .await
        .map(|_| ())
        .context("the action was done, but it could not be recorded in the audit trail")
}
