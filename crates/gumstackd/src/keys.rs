//! `gumstackd key …`: master keys (add, rotate, retire, verify) and the signing keys
//! (rotate-signing). They work on a data directory beside a running platform: the platform
//! reloads its key files and signing keys within seconds, and a rotation re-seals values in
//! small transactions while it serves.
//!
//! With several instances on one database: `key add` on every instance (the same key line:
//! `key add --print` once, `key add --stdin` on each), then `key rotate` once, then `key retire`
//! on every instance.

use std::io::Read as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use gumstack_platform::Platform;
use gumstack_platform::keys::OVERLAP_SECONDS;
use gumstack_platform::rotation::{KeyAdmin, RotateOptions};
use gumstack_platform::vault::key_file;
use secrecy::{ExposeSecret as _, SecretString};

use gumstack_platform::audit::{AuditAction, AuditEvent, Target, TargetKind};

use crate::audit::record_offline;
use crate::console::say;
use crate::data_dir::{DataDir, options};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a new master key: appended to `<data-dir>/master.key`, where it becomes the active
    /// key (running instances reload it within seconds). Then run `key rotate`.
    Add {
        /// Print a new key line (`<id> <base64>`, secret) instead of writing it, for key files
        /// the operator manages or for other instances (`key add --stdin` there).
        #[arg(long, conflicts_with = "stdin")]
        print: bool,
        /// Append the key line read from standard input (one printed by `key add --print`).
        #[arg(long)]
        stdin: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Re-seal every sealed value under the active key, in batches, while the platform serves.
    /// Waits until every running instance seals with that key. Safe to run again: it resumes.
    Rotate {
        /// Add a new key first (as `key add` does).
        #[arg(long)]
        add: bool,
        /// Values per batch (each batch is one transaction).
        #[arg(long, default_value_t = 200)]
        batch_size: u32,
        /// Pause between batches, in milliseconds, to go easy on a busy database.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
        /// How long to wait for every running instance to seal with the new key.
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove a master key from the key files, once no sealed value and no running instance
    /// uses it (run `key rotate` first).
    Retire {
        /// The key id (the first word of its line in the key file).
        id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Decrypt every sealed value; list each that does not decrypt (table, column, row id) and
    /// exit non-zero if any.
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
    /// The master keys held, what uses each, and the running instances' keys.
    Status {
        #[command(flatten)]
        data: DataDir,
    },
    /// Make a new Ed25519 signing key the signer. It is published in the JWKS at once and signs
    /// after `--activate-in-secs`; the current key keeps verifying until every token it signed
    /// has expired, then it is removed.
    RotateSigning {
        /// Seconds until the new key signs: long enough for every instance to load it and for
        /// cached JWKS documents (max-age 300) to include it.
        #[arg(long, default_value_t = 300)]
        activate_in_secs: u64,
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Add { print, stdin, data } => {
            if let Some(id) = add(print, stdin, &data)? {
                record_offline(
                    &data,
                    AuditEvent::new(
                        AuditAction::MasterKeyAdded,
                        Target::new(TargetKind::MasterKey, &id, id.clone()),
                    ),
                )
                .await?;
            }
            Ok(())
        }
        KeyCommand::Rotate {
            add: add_first,
            batch_size,
            pause_ms,
            wait_secs,
            data,
        } => {
            if add_first && let Some(id) = add(false, false, &data)? {
                record_offline(
                    &data,
                    AuditEvent::new(
                        AuditAction::MasterKeyAdded,
                        Target::new(TargetKind::MasterKey, &id, id.clone()),
                    ),
                )
                .await?;
            }
            let admin = open(&data).await?;
            let options = RotateOptions {
                batch_size,
                pause: Duration::from_millis(pause_ms),
                wait_for_instances: Duration::from_secs(wait_secs),
            };
            let target = admin.vault().active_key_id();
            say(&format!(
                "rotating to key {target}: waiting for every running instance to seal with it"
            ));
            let report = admin
                .rotate(&options, &mut |column, tally| {
                    say(&format!(
                        "progress: {column} {} re-sealed, {} already on {target}",
                        tally.resealed, tally.current
                    ));
                })
                .await?;
            for (column, tally) in &report.columns {
                say(&format!(
                    "{column}: {} re-sealed, {} already on {}",
                    tally.resealed, tally.current, report.target
                ));
            }
            for failure in &report.failures {
                say(&format!("does not decrypt: {failure}"));
            }
            anyhow::ensure!(
                report.failures.is_empty(),
                "{} sealed value(s) do not decrypt and stay as they are; see `gumstackd key verify`",
                report.failures.len()
            );
            anyhow::ensure!(
                report.remaining == 0,
                "{} value(s) were written with an older key during the rotation; run it again",
                report.remaining
            );
            say(&format!(
                "rotated: every sealed value uses key {}",
                report.target
            ));
            let resealed: u64 = report.columns.iter().map(|(_, t)| t.resealed).sum();
            record_offline(
                &data,
                AuditEvent::new(
                    AuditAction::MasterKeyRotated,
                    Target::new(TargetKind::MasterKey, &report.target, report.target.clone()),
                )
                .with("resealed", resealed),
            )
            .await?;
            Ok(())
        }
        KeyCommand::Retire { id, data } => {
            let admin = open(&data).await?;
            let edited = admin.retire(&id).await?;
            for file in &edited {
                say(&format!("retired: {id} removed from {}", file.display()));
            }
            record_offline(
                &data,
                AuditEvent::new(
                    AuditAction::MasterKeyRetired,
                    Target::new(TargetKind::MasterKey, &id, id.clone()),
                )
                .with("files", edited.len()),
            )
            .await?;
            Ok(())
        }
        KeyCommand::Verify { data } => {
            let admin = open(&data).await?;
            let usage = admin.usage(true).await?;
            for failure in &usage.failures {
                say(&format!("does not decrypt: {failure}"));
            }
            print_usage(&admin, &usage);
            anyhow::ensure!(
                usage.failures.is_empty(),
                "{} of {} sealed value(s) do not decrypt",
                usage.failures.len(),
                usage.values
            );
            say(&format!(
                "verified: {} sealed value(s) decrypt",
                usage.values
            ));
            Ok(())
        }
        KeyCommand::Status { data } => {
            let admin = open(&data).await?;
            let usage = admin.usage(false).await?;
            print_usage(&admin, &usage);
            for instance in admin.live_instances().await? {
                say(&format!(
                    "instance: {} seals with {} and holds {}",
                    instance.instance,
                    instance.active_key.as_deref().unwrap_or("(not reported)"),
                    instance
                        .key_ids
                        .map_or_else(|| "(not reported)".to_owned(), |ids| ids.join(" "))
                ));
            }
            Ok(())
        }
        KeyCommand::RotateSigning {
            activate_in_secs,
            data,
        } => {
            let admin = open(&data).await?;
            let (kid, activates_at) = admin
                .add_signing_key(Duration::from_secs(activate_in_secs))
                .await?;
            say(&format!(
                "signing key: {kid} published now, signs from {activates_at} (Unix time)"
            ));
            say(&format!(
                "the keys it replaces verify until {} (Unix time): every token they signed has expired by then",
                activates_at + OVERLAP_SECONDS
            ));
            record_offline(
                &data,
                AuditEvent::new(
                    AuditAction::SigningKeyRotated,
                    Target::new(TargetKind::SigningKey, &kid, kid.clone()),
                )
                .with("activates_at", activates_at),
            )
            .await?;
            Ok(())
        }
    }
}

async fn open(data: &DataDir) -> anyhow::Result<KeyAdmin> {
    Ok(Platform::master_keys(&options(data)).await?)
}

fn print_usage(admin: &KeyAdmin, usage: &gumstack_platform::rotation::KeyUsage) {
    let active = admin.vault().active_key_id();
    for id in admin.vault().key_ids() {
        let columns = usage.by_key.get(&id);
        let count: u64 = columns.map_or(0, |c| c.values().sum());
        let role = if id == active { " (active)" } else { "" };
        say(&format!("key: {id}{role} seals {count} value(s)"));
    }
    for (id, columns) in &usage.by_key {
        if !admin.vault().has_key(id) {
            let count: u64 = columns.values().sum();
            say(&format!(
                "key: {id} (missing from the key files) seals {count} value(s)"
            ));
        }
    }
}

/// Adds a key (its id), or prints a key line (`None`: nothing changed here).
fn add(print: bool, from_stdin: bool, data: &DataDir) -> anyhow::Result<Option<String>> {
    if print {
        let (_, line) = key_file::new_key_line();
        say(&line);
        return Ok(None);
    }
    let Some(path) = Platform::data_dir_key_file(&options(data)) else {
        anyhow::bail!(
            "the master keys come from --master-key-file: add the new key to those files \
             yourself (`gumstackd key add --print` prints a key line), then run `gumstackd key rotate`"
        );
    };
    anyhow::ensure!(
        path.exists(),
        "{} does not exist yet: start the platform once (it creates it)",
        path.display()
    );
    let line = if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .context("reading the key line from standard input")?;
        SecretString::from(text.trim().to_owned())
    } else {
        SecretString::from(key_file::new_key_line().1.to_string())
    };
    let id = key_file::append_key(&path, line.expose_secret())?;
    say(&format!(
        "key: {id} added to {}; it is the active key (running instances load it within seconds)",
        path.display()
    ));
    Ok(Some(id))
}
