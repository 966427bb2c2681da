//! The platform's listening socket, bound with an accept queue sized for bursts.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Args;
use tokio::net::{TcpListener, TcpSocket};

/// How the listening socket is opened.
#[derive(Debug, Args)]
pub struct ListenerArgs {
    /// Length of the accept queue: connections the kernel completes before the platform
    /// accepts them. A burst larger than this waits for SYN retransmits (a second or more);
    /// the kernel caps it at `net.core.somaxconn`.
    #[arg(long, env = "GUMSTACK_LISTEN_BACKLOG", default_value_t = 1024)]
    pub backlog: u32,
}

impl ListenerArgs {
    /// Binds `addr` and listens with the configured backlog.
    pub fn bind(&self, addr: SocketAddr) -> anyhow::Result<TcpListener> {
        let open = || -> std::io::Result<TcpListener> {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            // As `TcpListener::bind` does: a restarted platform can take its port back while
            // old connections linger in TIME_WAIT.
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(self.backlog)
        };
        open().with_context(|| format!("listening on {addr}"))
    }
}
