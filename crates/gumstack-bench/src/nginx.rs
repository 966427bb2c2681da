//! The plain reverse-proxy hop of `--mode proxy-cost`: Debian's nginx as a child process,
//! `proxy_pass` with keep-alive to the same server process the gateway forwards to, so the
//! gateway's CPU per call can be compared with what a proxy that only relays bytes costs.
//!
//! The harness writes the whole `nginx.conf` into its temporary directory (every path nginx
//! writes to is in there, so no system directory and no root are needed), starts
//! `nginx -c <conf> -p <dir>` in the foreground (`daemon off;`, one master and one worker) and
//! stops it with SIGQUIT at the end, or SIGTERM when dropped on an error.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use hyper::Uri;
use rustix::process::{Pid, Signal};

/// Where Debian puts the binary; not on the `PATH` of a non-root user.
const DEBIAN_SBIN: &str = "/usr/sbin";
const INSTALL_HINT: &str = "apt-get install nginx";

/// The nginx binary: the first `nginx` on `PATH`, else Debian's `/usr/sbin/nginx`.
pub fn binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from(DEBIAN_SBIN)]);
    find_binary(dirs)
}

fn find_binary(dirs: impl IntoIterator<Item = PathBuf>) -> anyhow::Result<PathBuf> {
    dirs.into_iter()
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "nginx is not installed (not on PATH nor in {DEBIAN_SBIN}); --mode proxy-cost \
                 needs it: {INSTALL_HINT}"
            )
        })
}

/// `nginx -v`, e.g. `nginx/1.22.1`.
fn version(binary: &Path) -> anyhow::Result<String> {
    let out = Command::new(binary).arg("-v").output()?;
    // nginx prints its version on stderr: "nginx version: nginx/1.22.1".
    let text = String::from_utf8_lossy(&out.stderr);
    Ok(text
        .trim()
        .strip_prefix("nginx version: ")
        .unwrap_or(text.trim())
        .to_owned())
}

/// The server process's loopback address, from its `direct_url` (`http://127.0.0.1:PORT/mcp`):
/// nginx's upstream.
pub fn upstream_of(direct_url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let uri: Uri = direct_url
        .parse()
        .with_context(|| format!("direct URL {direct_url}"))?;
    ensure!(
        uri.scheme_str() == Some("http"),
        "direct URL {direct_url}: expected http://"
    );
    let authority = uri.authority().context("direct URL without host")?;
    let port = authority
        .port_u16()
        .with_context(|| format!("direct URL {direct_url} has no port"))?;
    let host: Ipv4Addr = authority
        .host()
        .parse()
        .with_context(|| format!("direct URL {direct_url}: the host is not an IPv4 address"))?;
    ensure!(
        host.is_loopback(),
        "direct URL {direct_url}: the server process is not on loopback"
    );
    Ok((SocketAddr::from((host, port)), uri.path().to_owned()))
}

/// The configuration: one worker, logs and pid in `dir`, listening on `listen`, relaying every
/// path to `upstream` over a pool of keep-alive connections.
///
/// One worker: the gateway, the client and the server process share two cores, so the proxy
/// is compared by the CPU one call costs it, not by how many cores it can use; one event loop
/// serves all 32 client connections, and a single worker keeps one upstream keep-alive pool
/// (each worker has its own), so every call after the warm-up reuses a connection, as the
/// gateway's one pooled client does.
pub fn config(dir: &Path, listen: SocketAddr, upstream: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        r#"# Written by gumstack-bench --mode proxy-cost.
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    server_tokens off;
    # Every temporary path in this directory, not Debian's /var/lib/nginx.
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # The load client keeps each connection for a whole phase; nginx's default closes it after
    # 1000 requests.
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream gumstack_server {{
        server {upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://gumstack_server;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # What the gateway sends too: the upstream's own authority.
            proxy_set_header Host {upstream};
            # Answers stream through as they come (SSE), as the gateway relays them; the
            # request body, one small JSON-RPC message, is read first, as the gateway does.
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"#
    )
}

/// A running nginx; stopped with SIGQUIT by [`Nginx::stop`], or SIGTERM when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    error_log: PathBuf,
    /// `http://127.0.0.1:PORT/<the server's path>`.
    pub url: String,
    /// What `nginx -v` says, e.g. `nginx/1.22.1`.
    pub version: String,
}

impl Nginx {
    /// Writes the configuration into `dir`, starts nginx and waits until it accepts
    /// connections.
    pub fn start(binary: &Path, dir: &Path, direct_url: &str) -> anyhow::Result<Self> {
        let (upstream, path) = upstream_of(direct_url)?;
        let version = version(binary)?;
        std::fs::create_dir_all(dir)?;
        // A free loopback port: bound and released, then named in the configuration.
        let listen = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, listen, upstream))?;
        let error_log = dir.join("error.log");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            // The log for what happens before the configuration is read (Debian's default is
            // /var/log/nginx/error.log).
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut nginx = Self {
            child,
            error_log,
            url: format!("http://{listen}{path}"),
            version,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = nginx.child.try_wait()? {
                bail!("nginx exited at start ({status}): {}", nginx.log());
            }
            if TcpStream::connect(listen).is_ok() {
                return Ok(nginx);
            }
            if Instant::now() > deadline {
                bail!(
                    "nginx did not listen on {listen} within 10 s: {}",
                    nginx.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The master's pid; its workers are its children.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What nginx wrote to its error log, for error messages.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
        format!("{}: {}", self.error_log.display(), log.trim_end())
    }

    /// SIGQUIT (graceful: the master stops its workers once their requests are done), and
    /// wait for the master.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.signal(Signal::QUIT)?;
        if self.wait(Duration::from_secs(10))? {
            return Ok(());
        }
        self.signal(Signal::TERM)?;
        ensure!(
            self.wait(Duration::from_secs(5))?,
            "nginx did not stop within 15 s of SIGQUIT and SIGTERM; killed in drop"
        );
        Ok(())
    }

    fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = Pid::from_raw(self.child.id().try_into()?).context("nginx pid")?;
        Ok(rustix::process::kill_process(pid, signal)?)
    }

    /// Whether the master exited within `timeout`.
    fn wait(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(true)
    }
}

impl Drop for Nginx {
    /// Only on an early exit: SIGTERM (the master stops its workers first), SIGKILL if that
    /// does not end it.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let workers = crate::cpu::children(self.child.id()).unwrap_or_default();
        if self.signal(Signal::TERM).is_ok() && self.wait(Duration::from_secs(5)).unwrap_or(false) {
            return;
        }
        for worker in workers {
            if let Some(pid) = i32::try_from(worker).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use axum::extract::{ConnectInfo, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::post;

    use super::*;
    use crate::load::{self, Endpoint, Target};

    #[test]
    fn a_missing_nginx_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let error = find_binary([empty.path().to_owned()]).unwrap_err();
        assert!(
            error.to_string().contains("apt-get install nginx"),
            "{error}"
        );
    }

    #[test]
    fn the_binary_is_found_in_the_first_directory_that_has_it() {
        let (empty, with) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(with.path().join("nginx"), "").unwrap();
        let found = find_binary([empty.path().to_owned(), with.path().to_owned()]).unwrap();
        assert_eq!(found, with.path().join("nginx"));
    }

    #[test]
    fn the_upstream_is_the_server_process_on_loopback() {
        let (addr, path) = upstream_of("http://127.0.0.1:41234/mcp").unwrap();
        assert_eq!(addr, "127.0.0.1:41234".parse().unwrap());
        assert_eq!(path, "/mcp");
        for bad in [
            "http://10.0.0.1:41234/mcp",
            "http://127.0.0.1/mcp",
            "https://127.0.0.1:41234/mcp",
            "http://localhost:41234/mcp",
            "not a url",
        ] {
            assert!(upstream_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_program_that_exits_at_start_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let error = Nginx::start(
            Path::new("/bin/false"),
            dir.path(),
            "http://127.0.0.1:1/mcp",
        )
        .unwrap_err();
        assert!(error.to_string().contains("exited at start"), "{error}");
    }

    /// The server process as far as nginx can tell: `POST /mcp` answers the greeting when the
    /// identity and the upstream's own `Host` arrive and no `Connection` header does (nginx
    /// sends `Connection: close` unless told otherwise); it records each connection it serves.
    async fn stand_in_upstream() -> (SocketAddr, Arc<Mutex<HashSet<SocketAddr>>>) {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(HashSet::new()));
        let handler = move |State(connections): State<Arc<Mutex<HashSet<SocketAddr>>>>,
                            ConnectInfo(peer): ConnectInfo<SocketAddr>,
                            headers: HeaderMap| async move {
            connections.lock().unwrap().insert(peer);
            let host = addr.to_string();
            let ok = headers
                .get("gumstack-identity")
                .is_some_and(|v| v == "signed")
                && headers.get(header::HOST).is_some_and(|v| *v == *host)
                && headers.get(header::CONNECTION).is_none();
            if ok {
                (StatusCode::OK, load::EXPECTED.to_owned())
            } else {
                (StatusCode::BAD_REQUEST, format!("{headers:?}"))
            }
        };
        let app = axum::Router::new()
            .route("/mcp", post(handler))
            .with_state(Arc::clone(&connections));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        (addr, connections)
    }

    /// Needs Debian's nginx (.ci/run installs it). Under `CI=true` a missing nginx fails the
    /// test; elsewhere the test says so and passes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nginx_relays_calls_over_kept_alive_connections_and_stops() {
        let Ok(binary) = binary() else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "nginx is not installed ({INSTALL_HINT}); .ci/run installs it"
            );
            eprintln!("SKIPPED: nginx is not installed ({INSTALL_HINT})");
            return;
        };
        let (upstream, connections) = stand_in_upstream().await;
        let dir = tempfile::tempdir().unwrap();
        let nginx = Nginx::start(&binary, dir.path(), &format!("http://{upstream}/mcp")).unwrap();
        assert!(nginx.version.starts_with("nginx/"), "{}", nginx.version);
        let endpoint = Endpoint::new(Target::Nginx, &nginx.url, "signed").unwrap();

        load::probe(&endpoint).await.unwrap();
        let phase = load::run(Target::Nginx, &endpoint, 4, 40, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(phase.errors, 0, "{}", nginx.log());
        assert!(phase.requests > 50, "{} calls", phase.requests);
        // Four clients at a time: nginx reuses its upstream connections.
        let upstream_connections = connections.lock().unwrap().len();
        assert!(
            upstream_connections <= 5,
            "{upstream_connections} upstream connections for {} calls",
            phase.requests + 60
        );

        let master = nginx.pid();
        let workers = crate::cpu::children(master).unwrap();
        assert_eq!(workers.len(), 1, "one worker: {workers:?}");
        nginx.stop().unwrap();
        for pid in [master, workers[0]] {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "nginx process {pid} still runs"
            );
        }
        assert!(dir.path().join("error.log").exists());
    }
}
