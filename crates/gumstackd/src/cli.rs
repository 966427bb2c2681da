//! The command line: `serve`, `demo`, and the admin commands that work on a data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gumstack_platform::Platform;
use gumstack_platform::audit::{AuditAction, AuditEvent, Target};
use gumstack_platform::servers::NewServer;
use gumstack_platform::store::RuntimeSpec;
use secrecy::ExposeSecret;

use crate::activity::ActivityArgs;
use crate::console::{say, shutdown_signal};
use crate::data_dir::{DataDir, open_offline};
use crate::demo::DemoArgs;
use crate::isolation::IsolationArgs;
use crate::listener::ListenerArgs;
use crate::people::{TokenCommand, TokenLifetimeArgs, UserCommand};
use crate::refresh::RefreshArgs;

#[derive(Debug, Parser)]
#[command(
    name = "gumstackd",
    version,
    about = "Hosts MCP servers and handles their authentication"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform.
    Serve(ServeArgs),
    /// Run the platform with embedded defaults: a temporary SQLite data directory, the example
    /// servers hosted, and a fresh admin login printed.
    Demo(DemoArgs),
    /// Manage servers in a data directory.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Manage user accounts in a data directory.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Master keys (add, rotate, retire, verify) and signing keys (rotate-signing).
    #[command(subcommand)]
    Key(crate::keys::KeyCommand),
    /// The audit trail of admin and developer actions: verify its chain, list records.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, env = "GUMSTACK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL users, MCP clients and providers see (https unless loopback); defaults to
    /// `http://<listen address>`.
    #[arg(long, env = "GUMSTACK_PUBLIC_URL")]
    public_url: Option<String>,
    /// The address of a reverse proxy in front of the platform (repeatable): from it,
    /// `X-Forwarded-For` names the client for per-address limits such as login attempts.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Accept MCP clients identified by a client ID metadata document only from this domain
    /// or its subdomains (repeatable, or comma-separated in the variable). Without it any
    /// public https host is accepted. Clients registered dynamically are not affected.
    #[arg(
        long = "client-id-domain",
        value_name = "DOMAIN",
        env = "GUMSTACK_CLIENT_ID_DOMAINS",
        value_delimiter = ',',
        value_parser = parse_domain
    )]
    client_id_domains: Vec<String>,
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    refresh: RefreshArgs,
    #[command(flatten)]
    listener: ListenerArgs,
    #[command(flatten)]
    tokens: TokenLifetimeArgs,
    #[command(flatten)]
    activity: ActivityArgs,
    #[command(flatten)]
    isolation: IsolationArgs,
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// Register a server from a directory holding its config.yaml.
    Create {
        /// The server's directory (with config.yaml); also its working directory.
        #[arg(long)]
        from: PathBuf,
        /// The program that starts the server.
        #[arg(long)]
        command: String,
        /// An argument for the program (repeat for several).
        #[arg(long = "arg", allow_hyphen_values = true)]
        args: Vec<String>,
        /// URL slug; derived from the name when absent.
        #[arg(long)]
        slug: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Key(command) => crate::keys::run(command).await,
        Command::Audit(command) => crate::audit::run(command).await,
        Command::Server(ServerCommand::Create {
            from,
            command,
            args,
            slug,
            data,
        }) => {
            let platform = open_offline(&data).await?;
            let config_path = from.join("config.yaml");
            let config_yaml = std::fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?;
            let working_dir = absolute(&from)?;
            let server = platform
                .state
                .servers
                .create(NewServer {
                    config_yaml,
                    runtime: Some(RuntimeSpec {
                        command,
                        args,
                        working_dir: Some(working_dir.display().to_string()),
                        limits: Default::default(),
                    }),
                    slug,
                    ..NewServer::default()
                })
                .await?;
            crate::audit::record(
                &platform,
                AuditEvent::new(AuditAction::ServerCreated, Target::server(&server))
                    .with("auth_type", server.auth_type.as_str()),
            )
            .await?;
            say(&format!(
                "server: {} ({}) id {}",
                server.slug,
                server.auth_type.as_str(),
                server.id
            ));
            Ok(())
        }
        Command::User(command) => crate::people::run_user(command).await,
        Command::Token(command) => crate::people::run_token(command).await,
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = args.listener.bind(args.listen)?;
    let mut options = args.data.options();
    options.public_url = args.public_url;
    options.trusted_proxies = args.trusted_proxies;
    options.client_id_domains = args.client_id_domains;
    args.refresh.apply(&mut options);
    args.tokens.apply(&mut options);
    args.activity.apply(&mut options);
    args.isolation.apply(&mut options);
    let platform = Platform::open(options, listener.local_addr()?).await?;
    let first_admin = platform.ensure_first_admin().await?;
    say(&format!("dashboard: {}", platform.state.urls.base()));
    if let Some(admin) = first_admin
        && let Some(password) = admin.generated_password
    {
        say(&format!(
            "login: {} / {}",
            admin.user.email,
            password.expose_secret()
        ));
    }
    platform.run(listener, shutdown_signal()).await?;
    Ok(())
}

/// A client ID domain as the operator wrote it: a host name (letters, digits, `-`, dots), no
/// scheme, port or path.
fn parse_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_matches('.').to_ascii_lowercase();
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if domain.is_empty() || !labels_ok {
        return Err(format!(
            "`{text}` is not a domain name (write it as example.com: no scheme, port or path)"
        ));
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::parse_domain;

    #[test]
    fn client_id_domains_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_domain(" Clients.Example.org. ").as_deref(),
            Ok("clients.example.org")
        );
        for bad in [
            "",
            ".",
            "https://example.org",
            "example.org/path",
            "example.org:443",
            "a..b",
            "ex ample.org",
        ] {
            let error = parse_domain(bad).unwrap_err();
            assert!(error.contains("is not a domain name"), "{bad}: {error}");
        }
    }
}
