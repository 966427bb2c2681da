//! The command line: `serve`, `demo`, and the admin commands that work on a data directory.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gumstack_platform::api::API_TOKEN_PREFIX;

use gumstack_platform::Platform;
use gumstack_platform::app::FIRST_ADMIN_EMAIL;
use gumstack_platform::crypto::{random_token, token_hash};
use gumstack_platform::servers::NewServer;
use gumstack_platform::store::{Role, RuntimeSpec};
use secrecy::{ExposeSecret, SecretString};

use crate::console::{say, shutdown_signal};
use crate::data_dir::{DataDir, options};
use crate::demo::DemoArgs;
use crate::listener::ListenerArgs;
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
    /// Manage admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Master keys (add, rotate, retire, verify) and signing keys (rotate-signing).
    #[command(subcommand)]
    Key(crate::keys::KeyCommand),
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
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    refresh: RefreshArgs,
    #[command(flatten)]
    listener: ListenerArgs,
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

#[derive(Debug, Subcommand)]
enum UserCommand {
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
    /// sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an admin API token for scripts and print it (shown once).
    Create {
        /// The account the token acts as (admin or developer).
        #[arg(long, default_value = FIRST_ADMIN_EMAIL)]
        email: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Opens a data directory for an admin command (no listener).
async fn open_offline(data: &DataDir) -> anyhow::Result<Platform> {
    let unbound: SocketAddr = ([127, 0, 0, 1], 0).into();
    Ok(Platform::open(options(data), unbound).await?)
}

fn read_password(from_stdin: bool) -> anyhow::Result<Option<SecretString>> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Some(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    )))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Key(command) => crate::keys::run(command).await,
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
                    }),
                    slug,
                    ..NewServer::default()
                })
                .await?;
            say(&format!(
                "server: {} ({}) id {}",
                server.slug,
                server.auth_type.as_str(),
                server.id
            ));
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            role,
            password_stdin,
            data,
        }) => {
            let password = read_password(password_stdin)?;
            let platform = open_offline(&data).await?;
            let created = platform
                .state
                .accounts
                .create(&email, role, password)
                .await?;
            say(&format!(
                "user: {} ({})",
                created.user.email,
                created.user.role.as_str()
            ));
            if let Some(password) = created.generated_password {
                say(&format!("password: {}", password.expose_secret()));
            }
            Ok(())
        }
        Command::User(UserCommand::ResetPassword {
            email,
            password_stdin,
            data,
        }) => {
            let password = read_password(password_stdin)?;
            let platform = open_offline(&data).await?;
            let (user, generated) = platform
                .state
                .accounts
                .reset_password(&email, password)
                .await?;
            say(&format!("user: {} (sessions ended)", user.email));
            if let Some(password) = generated {
                say(&format!("password: {}", password.expose_secret()));
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create { email, name, data }) => {
            let platform = open_offline(&data).await?;
            let user = platform
                .state
                .store
                .user_by_email(&email.trim().to_lowercase())
                .await
                .with_context(|| format!("no user with email {email}"))?;
            anyhow::ensure!(
                user.role.manages_servers(),
                "{} is a {}; API tokens are for admins and developers",
                user.email,
                user.role.as_str()
            );
            let token = random_token(API_TOKEN_PREFIX);
            platform
                .state
                .store
                .insert_api_token(user.id, &name, &token_hash(&token))
                .await?;
            say(token.expose_secret());
            Ok(())
        }
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = args.listener.bind(args.listen)?;
    let mut options = options(&args.data);
    options.public_url = args.public_url;
    options.trusted_proxies = args.trusted_proxies;
    args.refresh.apply(&mut options);
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
