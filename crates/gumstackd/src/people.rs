//! The `user` and `token` commands: accounts (add, reset a password, disable, enable, delete)
//! and API tokens (create, list, revoke), on a data directory.
//!
//! These commands run without the platform's server processes, so disabling or deleting an
//! account here cannot reach the providers of its OAuth connections: the report lists them as
//! not revoked (disabling keeps their tokens, unusable, so that disabling again from the
//! dashboard or `POST /api/users/{id}/disable`, where the servers run, revokes them).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use gumstack_platform::api_tokens::ApiTokenSettings;
use gumstack_platform::app::FIRST_ADMIN_EMAIL;
use gumstack_platform::audit::{
    AuditAction, AuditEvent, Target, offboarded, token_created, token_revoked,
};
use gumstack_platform::connections::RevokeOutcome;
use gumstack_platform::offboarding::{Action, OffboardReport};
use gumstack_platform::store::Uuid;
use gumstack_platform::store::{Role, User};
use gumstack_platform::{Platform, PlatformOptions};
use secrecy::ExposeSecret;

use crate::audit::record;
use crate::console::say;
use crate::data_dir::{DataDir, open_offline, open_offline_with, read_password};

/// How long API tokens live: `serve` and `token create` read the same settings.
#[derive(Debug, Args)]
pub(crate) struct TokenLifetimeArgs {
    /// Days an API token lives when its creator does not choose.
    #[arg(long, env = "GUMSTACK_API_TOKEN_DAYS", default_value_t = ApiTokenSettings::default().default_days)]
    api_token_days: u32,
    /// The longest lifetime (days) anyone may choose for an API token.
    #[arg(long, env = "GUMSTACK_API_TOKEN_MAX_DAYS", default_value_t = ApiTokenSettings::default().max_days)]
    api_token_max_days: u32,
}

impl TokenLifetimeArgs {
    pub(crate) fn apply(&self, options: &mut PlatformOptions) {
        options.api_tokens = ApiTokenSettings {
            default_days: self.api_token_days,
            max_days: self.api_token_max_days,
        };
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add an account; prints the generated password unless --password-stdin is given.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member")]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Set a new password (generated and printed unless --password-stdin); ends the account's
    /// sessions and API tokens.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Disable an account: ends its sessions, API tokens and MCP clients' access at once,
    /// refuses its logins, and tries to revoke its connections at their providers. Fails
    /// (exit 1, after the report) when a connection could not be revoked.
    Disable {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Let a disabled account log in again (ended tokens and authorizations stay ended).
    Enable {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Delete an account with its saved credentials and connections; its servers pass to
    /// --servers-to, an enabled admin.
    Delete {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = FIRST_ADMIN_EMAIL)]
        servers_to: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an API token for scripts and print it (shown once). It acts with the account's
    /// current role.
    Create {
        /// The account the token acts as.
        #[arg(long, default_value = FIRST_ADMIN_EMAIL)]
        email: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until it expires (`--api-token-days` when absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        lifetime: TokenLifetimeArgs,
        #[command(flatten)]
        data: DataDir,
    },
    /// List API tokens (never the tokens themselves): id, user, name, role made under,
    /// created, last used, expires.
    List {
        /// Only this account's tokens.
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke an API token by id (from `token list`).
    Revoke {
        id: Uuid,
        #[command(flatten)]
        data: DataDir,
    },
}

async fn user(platform: &Platform, email: &str) -> anyhow::Result<User> {
    platform
        .state
        .store
        .user_by_email(&email.trim().to_lowercase())
        .await
        .with_context(|| format!("no user with email {email}"))
}

fn time(at: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Prints an offboarding report; an error when a connection was not revoked.
fn print_report(report: &OffboardReport) -> anyhow::Result<()> {
    let verb = match report.action {
        Action::Disabled => "disabled",
        Action::Deleted => "deleted",
    };
    say(&format!("user: {} {verb}", report.email));
    say(&format!(
        "ended: {} sessions, {} API tokens, {} MCP client authorizations",
        report.ended.sessions, report.ended.api_tokens, report.ended.grants
    ));
    for c in &report.connections {
        let outcome = match &c.outcome {
            RevokeOutcome::Revoked => "revoked".to_owned(),
            RevokeOutcome::Unsupported => {
                "not revoked: the server cannot revoke at this provider".to_owned()
            }
            RevokeOutcome::Failed { why } => format!("not revoked: {why}"),
        };
        let kept = if c.deleted { "" } else { " (tokens kept)" };
        say(&format!(
            "connection: {} {} ({}): {outcome}{kept}",
            c.server_slug, c.provider, c.nickname
        ));
    }
    if let Some(removed) = &report.removed {
        say(&format!(
            "removed: {} saved credentials; servers passed on: {}",
            removed.credentials,
            if removed.servers_reassigned.is_empty() {
                "none".to_owned()
            } else {
                removed.servers_reassigned.join(", ")
            }
        ));
    }
    let failures = report.failures();
    anyhow::ensure!(
        failures == 0,
        "{failures} connection(s) not revoked at their provider: this command does not run the \
         servers; disable the account again from the dashboard or the API to retry, or revoke \
         the access at the provider"
    );
    Ok(())
}

pub(crate) async fn run_user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            role,
            password_stdin,
            data,
        } => {
            let password = read_password(password_stdin)?;
            let platform = open_offline(&data).await?;
            let created = platform
                .state
                .accounts
                .create(&email, role, password)
                .await?;
            record(
                &platform,
                AuditEvent::new(AuditAction::UserCreated, Target::user(&created.user))
                    .with("role", created.user.role.as_str()),
            )
            .await?;
            say(&format!(
                "user: {} ({})",
                created.user.email,
                created.user.role.as_str()
            ));
            if let Some(password) = created.generated_password {
                say(&format!("password: {}", password.expose_secret()));
            }
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
            data,
        } => {
            let password = read_password(password_stdin)?;
            let platform = open_offline(&data).await?;
            let (user, generated) = platform
                .state
                .accounts
                .reset_password(&email, password)
                .await?;
            record(
                &platform,
                AuditEvent::new(AuditAction::UserPasswordReset, Target::user(&user))
                    .with("generated", generated.is_some()),
            )
            .await?;
            say(&format!(
                "user: {} (sessions and API tokens ended)",
                user.email
            ));
            if let Some(password) = generated {
                say(&format!("password: {}", password.expose_secret()));
            }
        }
        UserCommand::Disable { email, data } => {
            let platform = open_offline(&data).await?;
            let target = user(&platform, &email).await?;
            let report = platform.state.offboarding.disable(target.id, None).await?;
            record(&platform, offboarded(AuditAction::UserDisabled, &report)).await?;
            print_report(&report)?;
        }
        UserCommand::Enable { email, data } => {
            let platform = open_offline(&data).await?;
            let target = user(&platform, &email).await?;
            let enabled = platform.state.offboarding.enable(target.id).await?;
            record(
                &platform,
                AuditEvent::new(AuditAction::UserEnabled, Target::user(&enabled)),
            )
            .await?;
            say(&format!("user: {} enabled", enabled.email));
        }
        UserCommand::Delete {
            email,
            servers_to,
            data,
        } => {
            let platform = open_offline(&data).await?;
            let target = user(&platform, &email).await?;
            let heir = user(&platform, &servers_to).await?;
            let report = platform
                .state
                .offboarding
                .delete(target.id, None, &heir)
                .await?;
            record(&platform, offboarded(AuditAction::UserDeleted, &report)).await?;
            print_report(&report)?;
        }
    }
    Ok(())
}

pub(crate) async fn run_token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            email,
            name,
            expires_in_days,
            lifetime,
            data,
        } => {
            let platform = open_offline_with(&data, |o| lifetime.apply(o)).await?;
            let owner = user(&platform, &email).await?;
            let created = platform
                .state
                .api_tokens
                .create(&owner, &name, expires_in_days)
                .await?;
            record(&platform, token_created(&created.record)).await?;
            // The token alone on stdout (scripts read it); what it is on stderr.
            eprintln!(
                "API token {} for {} ({}), expires {}",
                created.record.id,
                owner.email,
                owner.role.as_str(),
                time(created.record.expires_at)
            );
            say(created.token.expose_secret());
        }
        TokenCommand::List { email, data } => {
            let platform = open_offline(&data).await?;
            let only = match email {
                Some(email) => Some(user(&platform, &email).await?.id),
                None => None,
            };
            let now = platform.state.clock.now();
            for t in platform.state.api_tokens.list(only).await? {
                let expired = if t.expires_at <= now {
                    " (expired)"
                } else {
                    ""
                };
                say(&format!(
                    "{}\t{}\t{}\t{}\tcreated {}\tlast used {}\texpires {}{expired}",
                    t.id,
                    t.user_email,
                    t.name,
                    t.role.as_str(),
                    time(t.created_at),
                    t.last_used_at.map_or_else(|| "never".to_owned(), time),
                    time(t.expires_at),
                ));
            }
        }
        TokenCommand::Revoke { id, data } => {
            let platform = open_offline(&data).await?;
            let revoked = platform.state.api_tokens.revoke(None, id).await?;
            record(&platform, token_revoked(&revoked)).await?;
            say(&format!(
                "revoked: {} ({} of {})",
                revoked.id, revoked.name, revoked.user_email
            ));
        }
    }
    Ok(())
}
