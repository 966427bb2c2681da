//! A hostile server tries to break out of its containment (tests/fixtures/hostile_server.py):
//! read a data directory laid out like the platform's, the platform's and another server's
//! `/proc` files and memory, trace and signal them, bind ports, make namespaces, mount,
//! become root. Every attempt must be refused by a permission check.
//!
//! Run as root (as CI does), the servers get uids of their own; the same suite then runs again
//! under an unprivileged platform (a copy of this test binary as `nobody`), where Landlock,
//! seccomp and the dropped privileges alone must hold.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gumstack_runtime::{
    DEFAULT_UID_RANGE, Isolation, IsolationSupport, LaunchSpec, LimitOverrides, ProcessRuntime,
    Runtime, ServerUid,
};
use secrecy::SecretString;

const HOSTILE_SERVER: &str = include_str!("fixtures/hostile_server.py");

/// A python health server that first leaves a marker file in its private directory.
const MARKED_SERVER: &str = r#"
import http.server, os, tempfile
with open(os.path.join(tempfile.gettempdir(), "marker"), "w") as f:
    f.write("the other server's file")
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health_check" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"#;

/// The environment variable that makes the suite run as the unprivileged variant's child.
const UNPRIVILEGED_CHILD: &str = "GUMSTACK_ESCAPE_UNPRIVILEGED_CHILD";

/// The system's python: a server's own uid can run it.
const PYTHON: &str = "/usr/bin/python3";

/// A server `name` run by python with `source`, under `uid` (as the platform gives it, one per
/// server) when the platform is root.
fn spec(name: &str, uid: u32, source: &str, env: &[(&str, String)]) -> LaunchSpec {
    LaunchSpec {
        name: name.to_owned(),
        program: PathBuf::from(PYTHON),
        args: vec!["-c".to_owned(), source.to_owned()],
        working_dir: None,
        env: [("PATH", "/usr/bin:/bin".to_owned())]
            .iter()
            .chain(env)
            .map(|(name, value)| ((*name).to_owned(), SecretString::from(value.clone())))
            .collect(),
        health_path: "/health_check".to_owned(),
        startup_timeout: Duration::from_secs(30),
        limits: LimitOverrides::default(),
        uid: ServerUid::Own(uid),
    }
}

/// The uids of the servers of these tests.
const OTHER_UID: u32 = *DEFAULT_UID_RANGE.start() + 10;
const HOSTILE_UID: u32 = OTHER_UID + 1;

/// A variable of the environment of `pid`, as the platform (root or the same uid) reads it.
fn environ_var(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read the environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

/// A data directory laid out like the platform's: mode 0700, a master key and a database file
/// of mode 0600.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gumstack-escape-data-")
        .tempdir()
        .expect("data dir");
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o700)).expect("chmod");
    for file in ["master.key", "gumstack.db"] {
        let path = dir.path().join(file);
        std::fs::write(&path, "secret bytes").expect("write");
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).expect("chmod");
    }
    dir
}

async fn run_suite() {
    assert!(
        Path::new(PYTHON).exists(),
        "the escape suite needs {PYTHON} (Debian's python3)"
    );
    let support = IsolationSupport::current();
    assert_eq!(
        support.missing(),
        Vec::<String>::new(),
        "this kernel lacks a containment layer"
    );
    let data = data_dir();
    // As the platform sets it up: its data directory is private.
    let runtime = ProcessRuntime {
        isolation: Isolation {
            strict: true,
            private_paths: vec![data.path().to_owned()],
            ..Isolation::default()
        },
        ..ProcessRuntime::default()
    };
    let platform_port = std::net::TcpListener::bind("127.0.0.1:0").expect("a platform port");

    let other = runtime
        .start(spec("other", OTHER_UID, MARKED_SERVER, &[]))
        .await
        .expect("the other server is live");
    let other_pid = other.pid().expect("a pid");
    let other_file =
        PathBuf::from(environ_var(other_pid, "TMPDIR").unwrap_or_else(|| "/tmp".to_owned()))
            .join("marker");
    assert!(other_file.exists(), "the other server left its marker");

    let hostile = runtime
        .start(spec(
            "hostile",
            HOSTILE_UID,
            HOSTILE_SERVER,
            &[
                ("HOSTILE_DATA_DIR", data.path().display().to_string()),
                (
                    "HOSTILE_PLATFORM_PORT",
                    platform_port.local_addr().expect("addr").port().to_string(),
                ),
                ("HOSTILE_OTHER_PID", other_pid.to_string()),
                ("HOSTILE_OTHER_FILE", other_file.display().to_string()),
            ],
        ))
        .await
        .expect("the hostile server is live");

    let containment = hostile.containment();
    assert!(containment.missing.is_empty(), "{containment}");
    assert_eq!(
        containment.uid.is_some(),
        support.root,
        "a root platform gives each server its own uid: {containment}"
    );
    if support.root {
        assert_eq!(containment.uid, Some(HOSTILE_UID), "{containment}");
        assert_eq!(other.containment().uid, Some(OTHER_UID));
    }

    let logs = hostile.logs();
    assert!(
        logs.iter().any(|line| line == "ATTEMPTS DONE"),
        "the hostile server did not finish: {logs:#?}"
    );
    let attempts: Vec<&str> = logs
        .iter()
        .filter_map(|line| line.strip_prefix("ATTEMPT "))
        .collect();
    let mut expected = vec![
        "read-master-key",
        "read-database",
        "write-data-dir",
        "read-platform-environ",
        "read-platform-cmdline",
        "read-platform-mem",
        "read-other-server-environ",
        "read-other-server-file",
        "ptrace-platform",
        "read-platform-memory",
        "signal-platform",
        "signal-other-server",
        "new-user-namespace",
        "mount",
        "bind-platform-port",
        "bind-another-port",
    ];
    if containment.uid.is_some() || !support.root {
        expected.push("become-root");
    }
    for name in &expected {
        let outcome = attempts
            .iter()
            .find(|line| line.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no attempt {name}: {logs:#?}"));
        assert!(
            outcome.split(' ').nth(1) == Some("blocked"),
            "the hostile server got through: {outcome}"
        );
    }
    assert_eq!(attempts.len(), expected.len(), "{attempts:#?}");
    // Nothing was planted, nothing of the data directory changed.
    assert!(!data.path().join("planted").exists());

    hostile.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn a_hostile_server_is_refused_everything() {
    run_suite().await;
}

/// A server whose command line or working directory names the data directory (or something in
/// it) is refused before anything starts: naming a path is how a server gets to read it.
#[tokio::test]
async fn a_server_naming_a_private_path_is_refused() {
    let data = data_dir();
    let runtime = ProcessRuntime {
        isolation: Isolation {
            private_paths: vec![data.path().to_owned()],
            ..Isolation::default()
        },
        ..ProcessRuntime::default()
    };
    let key = data.path().join("master.key");
    let mut by_argument = spec("by-argument", OTHER_UID, MARKED_SERVER, &[]);
    by_argument.args.push(key.display().to_string());
    let mut by_working_dir = spec("by-working-dir", OTHER_UID, MARKED_SERVER, &[]);
    by_working_dir.working_dir = Some(data.path().to_owned());
    for spec in [by_argument, by_working_dir] {
        let name = spec.name.clone();
        let error = runtime
            .start(spec)
            .await
            .expect_err("a server naming the data directory is refused");
        let message = error.to_string();
        assert!(
            message.contains(&format!("the server `{name}` was not started"))
                && message.contains("inside the platform's private"),
            "{message}"
        );
    }
    // Nothing ran: the data directory holds what it held.
    let mut entries: Vec<_> = std::fs::read_dir(data.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name())
        .collect();
    entries.sort();
    assert_eq!(entries, ["gumstack.db", "master.key"]);
}

/// The same suite under an unprivileged platform: this test binary, copied where `nobody` can
/// run it, as `nobody`.
#[test]
fn a_hostile_server_is_refused_everything_under_an_unprivileged_platform() {
    if std::env::var_os(UNPRIVILEGED_CHILD).is_some() {
        // This is the child: the suite already ran as `a_hostile_server_is_refused_everything`.
        return;
    }
    if !rustix::process::geteuid().is_root() {
        // The platform is unprivileged already: the test above is this variant.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs as root, to exercise both the root and the unprivileged platform"
        );
        println!(
            "NOTE: not root; the suite above ran unprivileged, and uid separation is not exercised"
        );
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("gumstack-escape-bin-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).expect("chmod");
    let binary = dir.path().join("escape");
    std::fs::copy(std::env::current_exe().expect("this test binary"), &binary).expect("copy");
    std::fs::set_permissions(&binary, PermissionsExt::from_mode(0o755)).expect("chmod");

    let nobody = 65534;
    let output = std::process::Command::new(&binary)
        .args([
            "--exact",
            "a_hostile_server_is_refused_everything",
            "--nocapture",
        ])
        .env_clear()
        .env(UNPRIVILEGED_CHILD, "1")
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", std::env::temp_dir())
        .current_dir(dir.path())
        .uid(nobody)
        .gid(nobody)
        .output()
        .expect("run the suite as nobody");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "as nobody: {text}");
    assert!(
        text.contains("1 passed"),
        "the suite did not run as nobody: {text}"
    );
}
