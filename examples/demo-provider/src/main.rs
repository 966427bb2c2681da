//! The demo provider on its own (`gumstackd demo` runs it in-process):
//!
//! ```sh
//! example-demo-provider --redirect-uri http://127.0.0.1:8080/auth/callback [--listen 127.0.0.1:0] [--token-lifetime-secs 60]
//! ```
//!
//! Prints its URL and its client's id and secret, then serves until interrupted.

use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(redirect_uri) = arg(&args, "--redirect-uri") else {
        eprintln!(
            "usage: example-demo-provider --redirect-uri URL [--listen ADDR] [--token-lifetime-secs N]"
        );
        std::process::exit(2);
    };
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let lifetime = arg(&args, "--token-lifetime-secs")
        .map(|s| {
            s.parse()
                .expect("--token-lifetime-secs takes whole seconds")
        })
        .unwrap_or(60);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let settings =
        gumstack_demo_provider::Settings::new(&redirect_uri, Duration::from_secs(lifetime));
    let running = gumstack_demo_provider::start(listener, settings)?;
    println!("demo provider: {}", running.url);
    println!("client id: {}", running.settings.client_id);
    println!("client secret: {}", running.settings.client_secret);
    tokio::signal::ctrl_c().await
}
