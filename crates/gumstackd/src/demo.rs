//! `gumstackd demo`: the platform with embedded defaults, ready to try. A temporary SQLite data
//! directory (unless `--data-dir`), the example servers registered and running, and a fresh
//! admin password at every start; the URLs and the login go to stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use gumstack_platform::Platform;
use gumstack_platform::PlatformOptions;
use gumstack_platform::app::FIRST_ADMIN_EMAIL;
use gumstack_platform::servers::{NewServer, ServerPatch};
use gumstack_platform::store::RuntimeSpec;
use secrecy::{ExposeSecret, SecretString};

use crate::console::{say, shutdown_signal};
use crate::listener::ListenerArgs;
use crate::refresh::RefreshArgs;

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the demo's data here instead of a fresh temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where the example server binaries are; defaults to the directory of `gumstackd` itself
    /// (`target/debug` after `cargo build --workspace`).
    #[arg(long)]
    pub examples_dir: Option<PathBuf>,
    /// How long the demo provider's access tokens work, in seconds: short, so that the
    /// platform's refresh shows up while you try the `account` example.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub demo_token_secs: u64,
    #[command(flatten)]
    pub refresh: RefreshArgs,
    #[command(flatten)]
    pub listener: ListenerArgs,
    #[command(flatten)]
    pub activity: crate::activity::ActivityArgs,
    #[command(flatten)]
    pub isolation: crate::isolation::IsolationArgs,
}

/// An example server the demo hosts.
struct Example {
    slug: &'static str,
    binary: &'static str,
    config_yaml: &'static str,
    /// Env vars the demo sets so the example works out of the box.
    env: &'static [(&'static str, &'static str)],
}

const EXAMPLES: &[Example] = &[
    Example {
        slug: "greeter",
        binary: "example-none-server",
        config_yaml: include_str!("../../../examples/none-server/config.yaml"),
        env: &[("GREETING", "Hello")],
    },
    Example {
        slug: "keys",
        binary: "example-cred-server",
        config_yaml: include_str!("../../../examples/cred-server/config.yaml"),
        env: &[],
    },
    // Pointed at the demo provider (`demo_provider_env`) at every start: its port and client
    // secret are new each time.
    Example {
        slug: "account",
        binary: "example-oauth-server",
        config_yaml: include_str!("../../../examples/oauth-server/config.yaml"),
        env: &[],
    },
];

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp;
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => {
            // Private from the start, as the platform wants its data directory.
            temp = tempfile::Builder::new()
                .prefix("gumstack-demo-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let examples_dir = match args.examples_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .context("locating the directory of gumstackd")?,
    };
    let listener = args.listener.bind(args.listen)?;
    let mut options = PlatformOptions::new(&data_dir);
    args.refresh.apply(&mut options);
    args.activity.apply(&mut options);
    args.isolation.apply(&mut options);
    let platform = Platform::open(options, listener.local_addr()?).await?;
    tracing::info!(data_dir = %data_dir.display(), "demo data directory");
    let password = platform.reset_first_admin().await?;
    let provider = gumstack_demo_provider::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        gumstack_demo_provider::Settings::new(
            &format!("{}/auth/callback", platform.state.urls.base()),
            Duration::from_secs(args.demo_token_secs),
        ),
    )?;

    let mut hosted = Vec::new();
    for example in EXAMPLES {
        let binary = examples_dir.join(example.binary);
        anyhow::ensure!(
            binary.is_file(),
            "example server {} not found; build the workspace first: cargo build --workspace",
            binary.display()
        );
        let server_id = register(&platform, example, binary).await?;
        if example.slug == "account" {
            point_at_demo_provider(&platform, example.slug, &provider, &data_dir).await?;
        }
        hosted.push(server_id);
    }

    let running = tokio::spawn(platform.clone().run(listener, shutdown_signal()));
    let mut lines = Vec::new();
    for server_id in hosted {
        let server = platform.state.store.server_by_id(server_id).await?;
        if wait_live(&platform, server.id, server.deploy_generation)
            .await
            .is_none()
        {
            tracing::warn!(server = %server.slug, "not running yet; see the log above");
        }
        lines.push(format!(
            "server: {} ({}) {}",
            server.slug,
            server.auth_type.as_str(),
            platform.state.urls.mcp_url(&server.slug)
        ));
    }
    say(&format!("dashboard: {}", platform.state.urls.base()));
    say(&format!(
        "login: {FIRST_ADMIN_EMAIL} / {}",
        password.expose_secret()
    ));
    for line in lines {
        say(&line);
    }
    say(&format!(
        "demo provider: {} (made-up accounts for the account example; not a real provider)",
        provider.url
    ));
    running.await??;
    Ok(())
}

/// Registers an example (or points an existing one at this build) and returns its id.
async fn register(
    platform: &Platform,
    example: &Example,
    binary: PathBuf,
) -> anyhow::Result<gumstack_platform::store::Uuid> {
    let servers = &platform.state.servers;
    let runtime = RuntimeSpec {
        command: binary.display().to_string(),
        args: Vec::new(),
        working_dir: None,
        limits: Default::default(),
    };
    let server = match servers.resolve(example.slug).await {
        Ok(existing) => {
            servers
                .update(
                    &existing.id.to_string(),
                    ServerPatch {
                        runtime: Some(Some(runtime)),
                        ..ServerPatch::default()
                    },
                )
                .await?
        }
        Err(_) => {
            servers
                .create(NewServer {
                    config_yaml: example.config_yaml.to_owned(),
                    runtime: Some(runtime),
                    slug: Some(example.slug.to_owned()),
                    ..NewServer::default()
                })
                .await?
        }
    };
    let existing: Vec<String> = servers
        .list_env(example.slug)
        .await?
        .into_iter()
        .map(|v| v.name)
        .collect();
    for (name, value) in example.env {
        if !existing.iter().any(|n| n == name) {
            servers
                .set_env(example.slug, name, &SecretString::from(*value))
                .await?;
        }
    }
    Ok(server.id)
}

/// Where the demo notes the ids of the env vars it set for the demo provider: a value replaced
/// since (through the dashboard or the API) has another id, and is left alone.
const DEMO_PROVIDER_ENV_FILE: &str = "demo-provider-env-ids";

/// Sets the `OAUTH_*` env vars of the server `slug` to the demo provider, unless someone gave
/// it a provider of their own (its `OAUTH_CLIENT_ID` is not one the demo set).
async fn point_at_demo_provider(
    platform: &Platform,
    slug: &str,
    provider: &gumstack_demo_provider::Running,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let servers = &platform.state.servers;
    let noted = data_dir.join(DEMO_PROVIDER_ENV_FILE);
    let ours = std::fs::read_to_string(&noted).unwrap_or_default();
    let client_id = servers
        .list_env(slug)
        .await?
        .into_iter()
        .find(|var| var.name == "OAUTH_CLIENT_ID");
    if let Some(var) = client_id
        && !ours.lines().any(|id| id == var.id.to_string())
    {
        tracing::info!(
            server = slug,
            "keeps the OAuth provider it was given; the demo provider is not used"
        );
        return Ok(());
    }
    for (name, value) in demo_provider_env(provider) {
        servers
            .set_env(slug, name, &SecretString::from(value))
            .await?;
    }
    let ids: Vec<String> = servers
        .list_env(slug)
        .await?
        .into_iter()
        .filter(|var| var.name.starts_with("OAUTH_"))
        .map(|var| var.id.to_string())
        .collect();
    std::fs::write(&noted, ids.join("\n"))
        .with_context(|| format!("writing {}", noted.display()))?;
    Ok(())
}

/// The `account` example's settings for the demo provider (examples/oauth-server/README.md).
fn demo_provider_env(provider: &gumstack_demo_provider::Running) -> [(&'static str, String); 6] {
    [
        ("OAUTH_CLIENT_ID", provider.settings.client_id.clone()),
        (
            "OAUTH_CLIENT_SECRET",
            provider.settings.client_secret.clone(),
        ),
        ("OAUTH_AUTHORIZE_URL", provider.authorize_url()),
        ("OAUTH_TOKEN_URL", provider.token_url()),
        ("OAUTH_USERINFO_URL", provider.userinfo_url()),
        ("OAUTH_REVOCATION_URL", provider.revocation_url()),
    ]
}

/// Waits until the server's current generation is live; its address.
async fn wait_live(
    platform: &Platform,
    server_id: gumstack_platform::store::Uuid,
    generation: i64,
) -> Option<std::net::SocketAddr> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        if let Some(live) = platform.state.supervisor.live(server_id)
            && live.generation >= generation
        {
            return Some(live.addr());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
