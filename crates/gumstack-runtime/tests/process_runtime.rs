//! `ProcessRuntime` against real processes (`sh`, and `python3` serving `/health_check`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gumstack_runtime::{
    DEFAULT_UID_RANGE, Deployment, DeploymentStatus, LaunchSpec, LimitOverrides, ProcessRuntime,
    Runtime, ServerUid, StartError,
};
use rustix::process::{Pid, Signal};
use secrecy::SecretString;

/// Every wait in these tests ends at the latest after this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// A tiny HTTP server on `$PORT`: 200 on `/health_check`, 404 elsewhere; requests logged to
/// stderr.
const HEALTH_SERVER: &str = r#"
import http.server, os
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health_check" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"#;

/// The real python interpreter (not a version-manager shim, which needs its own environment)
/// and the directory its standard library lives under.
fn python_install() -> &'static (PathBuf, PathBuf) {
    static PYTHON: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PYTHON.get_or_init(|| {
        // The system's own, when there is one: a server's uid can reach it.
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let output = std::process::Command::new(python)
            .args(["-c", "import sys; print(sys.executable); print(sys.prefix)"])
            .output()
            .expect("python3 runs");
        let output = String::from_utf8(output.stdout).expect("utf-8");
        let mut lines = output.lines().map(|line| PathBuf::from(line.trim()));
        (
            lines.next().expect("executable"),
            lines.next().expect("prefix"),
        )
    })
}

fn python() -> &'static Path {
    &python_install().0
}

/// A runtime with short delays, whose servers may read the python installation (which may
/// live outside the system directories, e.g. under a version manager's directory).
fn runtime() -> ProcessRuntime {
    let mut runtime = ProcessRuntime {
        grace_period: Duration::from_secs(2),
        restart_backoff_base: Duration::from_millis(50),
        restart_backoff_max: Duration::from_millis(500),
        ..ProcessRuntime::default()
    };
    runtime
        .isolation
        .read_only_paths
        .push(python_install().1.clone());
    runtime
}

fn spec(program: impl Into<PathBuf>, args: &[&str], env: &[(&str, &str)]) -> LaunchSpec {
    LaunchSpec {
        name: "test-server".to_owned(),
        program: program.into(),
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        working_dir: None,
        env: env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), SecretString::from(*value)))
            .collect(),
        health_path: "/health_check".to_owned(),
        startup_timeout: PATIENCE,
        limits: LimitOverrides::default(),
        uid: ServerUid::Own(SERVER_UID),
    }
}

/// The uid the test servers run under when the tests run as root.
const SERVER_UID: u32 = *DEFAULT_UID_RANGE.start() + 20;

fn root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `sh -c script` with `$1` the python interpreter and `$2` the health server's source.
fn shell_spec(script: &str) -> LaunchSpec {
    let python = python().to_str().expect("utf-8 path");
    spec(
        "/bin/sh",
        &["-c", script, "sh", python, HEALTH_SERVER],
        &[("PATH", "/usr/bin:/bin")],
    )
}

fn health_server_spec(env: &[(&str, &str)]) -> LaunchSpec {
    spec(python(), &["-c", HEALTH_SERVER], env)
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `condition` until it holds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Whether `pid` is a running (not zombie) process.
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

fn sigkill(pid: u32) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits")).expect("nonzero pid");
    rustix::process::kill_process(pid, Signal::KILL).expect("kill the child");
}

/// The number printed after `key=` in the deployment's output.
async fn printed_pid(deployment: &dyn Deployment, key: &str) -> u32 {
    let prefix = format!("{key}=");
    let mut found = None;
    eventually("a printed pid", || {
        found = deployment
            .logs()
            .iter()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok());
        found.is_some()
    })
    .await;
    found.expect("found")
}

async fn answers_health_check(deployment: &dyn Deployment) -> bool {
    let url = format!("http://{}/health_check", deployment.addr());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    matches!(client.get(url).send().await, Ok(response) if response.status() == 200)
}

#[tokio::test]
async fn starts_and_becomes_live() {
    let deployment = runtime()
        .start(health_server_spec(&[]))
        .await
        .expect("live");

    assert_eq!(*deployment.status().borrow(), DeploymentStatus::Live);
    assert!(deployment.addr().ip().is_loopback());
    assert!(alive(deployment.pid().expect("a pid")));
    assert!(answers_health_check(&*deployment).await);
    assert!(
        deployment
            .logs()
            .iter()
            .any(|line| line.contains("GET /health_check")),
        "the server's request log is captured: {:?}",
        deployment.logs()
    );
    deployment.stop().await;
}

#[tokio::test]
async fn environment_is_exactly_the_spec_plus_port() {
    let env = [
        ("GREETING", "hello world"),
        ("API_TOKEN", "s3cret=with=equals"),
        ("PORT", "1"),
    ];
    let deployment = runtime()
        .start(health_server_spec(&env))
        .await
        .expect("live");

    let pid = deployment.pid().expect("a pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    let actual: BTreeMap<String, String> = environ
        .split(|byte| *byte == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let entry = String::from_utf8(entry.to_vec()).expect("utf-8");
            let (name, value) = entry.split_once('=').expect("name=value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let port = deployment.addr().port().to_string();
    // TMPDIR: the deployment's private directory, which only its uid may enter.
    let mut actual = actual;
    let tmpdir = PathBuf::from(actual.remove("TMPDIR").expect("TMPDIR is set"));
    assert!(tmpdir.starts_with(std::env::temp_dir()), "{tmpdir:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &tmpdir.metadata().expect("it exists").permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
    let expected = BTreeMap::from([
        ("API_TOKEN".to_owned(), "s3cret=with=equals".to_owned()),
        ("GREETING".to_owned(), "hello world".to_owned()),
        ("PORT".to_owned(), port),
    ]);
    assert_eq!(actual, expected);
    assert!(
        std::env::vars().any(|(name, _)| !expected.contains_key(&name)),
        "the test process has variables of its own that must not leak"
    );
    deployment.stop().await;
}

#[tokio::test]
async fn a_bare_program_name_is_looked_up_in_the_spec_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!("#!/bin/sh\nexec '{}' -c \"$1\"\n", python().display());
    let server = dir.path().join("gumstack-test-server");
    std::fs::write(&server, script).expect("write the server script");
    std::fs::set_permissions(&server, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make it executable");
    let path = format!("{}:/usr/bin:/bin", dir.path().display());

    let deployment = runtime()
        .start(spec(
            "gumstack-test-server",
            &[HEALTH_SERVER],
            &[("PATH", &path)],
        ))
        .await
        .expect("live");

    assert!(answers_health_check(&*deployment).await);
    deployment.stop().await;
}

#[tokio::test]
async fn a_process_that_exits_reports_its_status_and_output() {
    let spec = shell_spec("echo starting up; echo 'fatal: no config' >&2; exit 3");

    let error = runtime().start(spec).await.expect_err("must fail");

    let StartError::Exited { status, log_tail } = &error else {
        panic!("expected Exited, got {error:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert!(log_tail.contains(&"starting up".to_owned()), "{log_tail:?}");
    assert!(
        log_tail.contains(&"fatal: no config".to_owned()),
        "{log_tail:?}"
    );
    assert_eq!(error.log_tail(), log_tail.as_slice());
    assert!(error.to_string().contains("exit status: 3"), "{error}");
}

#[tokio::test]
async fn a_process_that_never_answers_times_out_and_is_killed() {
    let mut spec = shell_spec("echo pid=$$; exec sleep 1000");
    spec.startup_timeout = Duration::from_secs(2);

    let error = runtime().start(spec).await.expect_err("must fail");

    let StartError::HealthTimeout { timeout, log_tail } = &error else {
        panic!("expected HealthTimeout, got {error:?}");
    };
    assert_eq!(*timeout, Duration::from_secs(2));
    let pid: u32 = log_tail
        .iter()
        .find_map(|line| line.strip_prefix("pid=")?.parse().ok())
        .expect("the pid was printed");
    eventually("the unhealthy process to die", || !alive(pid)).await;
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let spec = spec("/nonexistent/server", &[], &[]);

    let error = runtime().start(spec).await.expect_err("must fail");

    let StartError::Spawn { program, source } = &error else {
        panic!("expected Spawn, got {error:?}");
    };
    assert_eq!(program, Path::new("/nonexistent/server"));
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
}

#[tokio::test]
async fn dropping_the_start_future_kills_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Writable by the server, whatever uid it runs under.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("open the directory");
    let pid_file = dir.path().join("pid");
    let mut spec = shell_spec("echo $$ > pid; exec sleep 1000");
    spec.working_dir = Some(dir.path().to_owned());
    let runtime = runtime();

    let pid = tokio::select! {
        result = runtime.start(spec) => panic!("a sleeping process cannot start: {result:?}"),
        pid = within("the pid file", async {
            loop {
                if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()) {
                    break pid;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }) => pid,
    };
    eventually("the abandoned process to die", || !alive(pid)).await;
}

#[tokio::test]
async fn a_killed_process_is_restarted_on_the_same_port() {
    let deployment = runtime()
        .start(health_server_spec(&[]))
        .await
        .expect("live");
    let addr = deployment.addr();
    let first = deployment.pid().expect("a pid");
    let mut status = deployment.status();

    sigkill(first);
    within(
        "a new live process",
        status.wait_for(|status| {
            *status == DeploymentStatus::Live && deployment.pid().is_some_and(|pid| pid != first)
        }),
    )
    .await
    .expect("status channel open");

    assert_eq!(deployment.addr(), addr);
    assert!(answers_health_check(&*deployment).await);
    assert!(
        deployment
            .logs()
            .iter()
            .any(|line| line.contains("process ended (signal: 9 (SIGKILL)); restart attempt 1")),
        "{:?}",
        deployment.logs()
    );
    deployment.stop().await;
}

#[tokio::test]
async fn failed_restarts_are_retried_with_growing_attempts() {
    // Start 1 serves, start 2 exits at once, start 3 serves again. The count is kept in the
    // deployment's private directory, which lasts across restarts.
    let spec = shell_spec(
        r#"c="$TMPDIR/count"; n=0; [ -f "$c" ] && read n < "$c"; n=$((n+1)); echo $n > "$c"
        if [ "$n" = 2 ]; then echo 'second start fails'; exit 7; fi
        exec "$1" -c "$2""#,
    );
    let deployment = runtime().start(spec).await.expect("live");
    let first = deployment.pid().expect("a pid");
    let mut status = deployment.status();

    sigkill(first);
    within(
        "a new live process",
        status.wait_for(|status| {
            *status == DeploymentStatus::Live && deployment.pid().is_some_and(|pid| pid != first)
        }),
    )
    .await
    .expect("status channel open");

    let logs = deployment.logs();
    let has = |text: &str| logs.iter().any(|line| line.contains(text));
    assert!(
        has("process ended (signal: 9 (SIGKILL)); restart attempt 1"),
        "{logs:?}"
    );
    assert!(has("second start fails"), "{logs:?}");
    assert!(
        has("process ended (exit status: 7); restart attempt 2"),
        "{logs:?}"
    );
    assert!(answers_health_check(&*deployment).await);
    deployment.stop().await;
}

#[tokio::test]
async fn stop_kills_the_whole_process_group() {
    let spec = shell_spec(r#"sleep 1000 & echo sleeper=$!; exec "$1" -c "$2""#);
    let deployment = runtime().start(spec).await.expect("live");
    let server = deployment.pid().expect("a pid");
    let sleeper = printed_pid(&*deployment, "sleeper").await;
    assert!(alive(server) && alive(sleeper));

    within("stop", deployment.stop()).await;

    assert_eq!(*deployment.status().borrow(), DeploymentStatus::Stopped);
    assert_eq!(deployment.pid(), None);
    eventually("the server and its child to die", || {
        !alive(server) && !alive(sleeper)
    })
    .await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_and_is_idempotent() {
    // The ignored SIGTERM survives exec, so the server ignores it too.
    let spec = shell_spec(r#"trap '' TERM; exec "$1" -c "$2""#);
    let grace = Duration::from_millis(300);
    let runtime = ProcessRuntime {
        grace_period: grace,
        ..runtime()
    };
    let deployment = runtime.start(spec).await.expect("live");
    let server = deployment.pid().expect("a pid");
    let stopping = std::time::Instant::now();

    within("two concurrent stops", async {
        tokio::join!(deployment.stop(), deployment.stop())
    })
    .await;
    assert!(
        stopping.elapsed() >= grace,
        "SIGTERM was ignored, so only SIGKILL ended it"
    );
    assert_eq!(*deployment.status().borrow(), DeploymentStatus::Stopped);
    eventually("the server to die", || !alive(server)).await;

    within("a third stop", deployment.stop()).await;
    assert_eq!(*deployment.status().borrow(), DeploymentStatus::Stopped);
}

#[tokio::test]
async fn dropping_a_deployment_kills_the_whole_process_group() {
    let spec = shell_spec(r#"sleep 1000 & echo sleeper=$!; exec "$1" -c "$2""#);
    let deployment = runtime().start(spec).await.expect("live");
    let server = deployment.pid().expect("a pid");
    let sleeper = printed_pid(&*deployment, "sleeper").await;
    let mut status = deployment.status();

    drop(deployment);

    eventually("the server and its child to die", || {
        !alive(server) && !alive(sleeper)
    })
    .await;
    within(
        "the stopped status",
        status.wait_for(|status| *status == DeploymentStatus::Stopped),
    )
    .await
    .expect("status channel open");
}

/// Set for the copy of this test binary that plays the platform in
/// `the_server_dies_with_the_platform`.
const PLATFORM_ROLE: &str = "GUMSTACK_RUNTIME_TEST_PLATFORM";

#[tokio::test]
async fn the_server_dies_with_the_platform() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut platform = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "platform_process", "--ignored", "--nocapture"])
        .env(PLATFORM_ROLE, "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the stand-in platform");
    let stdout = platform.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let server: u32 = within("the platform to start a server", async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(pid) = line.strip_prefix("server-pid=") {
                return pid.parse().expect("a pid");
            }
        }
        panic!("the stand-in platform ended without starting a server");
    })
    .await;
    assert!(alive(server));

    platform.start_kill().expect("kill the platform");
    platform.wait().await.expect("reap the platform");

    eventually("the orphaned server to die", || !alive(server)).await;
}

#[tokio::test]
#[ignore = "the stand-in platform of the_server_dies_with_the_platform"]
async fn platform_process() {
    if std::env::var_os(PLATFORM_ROLE).is_none() {
        return;
    }
    let deployment = runtime()
        .start(health_server_spec(&[]))
        .await
        .expect("live");
    println!("server-pid={}", deployment.pid().expect("a pid"));
    std::future::pending::<()>().await;
}

/// The soft and hard limit `name` (as /proc/<pid>/limits words it) of `pid`.
fn process_limit(pid: u32, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {limits}"));
    let mut values = line[name.len()..].split_whitespace();
    (
        values.next().expect("soft").to_owned(),
        values.next().expect("hard").to_owned(),
    )
}

#[tokio::test]
async fn a_servers_own_limits_replace_the_defaults() {
    let mut spec = health_server_spec(&[]);
    spec.limits.open_files = Some(200);
    let deployment = runtime().start(spec).await.expect("live");
    let pid = deployment.pid().expect("a pid");
    // Its own open-files limit, and the runtime's default memory (4 GiB).
    assert_eq!(
        process_limit(pid, "Max open files"),
        ("200".to_owned(), "200".to_owned())
    );
    let four_gib = (4u64 << 30).to_string();
    assert_eq!(
        process_limit(pid, "Max data size"),
        (four_gib.clone(), four_gib)
    );
    deployment.stop().await;
}

/// Before serving, tries allocations against a 256 MiB memory limit and prints one line each:
/// `<name> ok` or `<name> refused <error>`.
const ALLOCATING_SERVER: &str = r#"
import http.server, mmap, os
def attempt(name, allocate):
    try:
        allocate()
        print(f"{name} ok", flush=True)
    except (MemoryError, OSError) as e:
        print(f"{name} refused {type(e).__name__}", flush=True)
# What V8 does at start: reserve address space no one may touch (PROT_NONE), here 8 GiB.
attempt("reserve-8g", lambda: mmap.mmap(-1, 8 << 30, flags=mmap.MAP_PRIVATE, prot=0))
# Within the limit, filled (bytearray writes every byte).
attempt("fill-64m", lambda: bytearray(64 << 20))
# Over it: a filled heap allocation, and a private writable mapping.
attempt("fill-512m", lambda: bytearray(512 << 20))
attempt("map-512m", lambda: mmap.mmap(-1, 512 << 20, flags=mmap.MAP_PRIVATE))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health_check" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"#;

/// The memory limit is `RLIMIT_DATA`: what a process can fill (its heap and private writable
/// mappings) is capped, while address space it only reserves is not, so a V8-based server,
/// which reserves GiBs at start, still starts under a small limit (under `RLIMIT_AS` it
/// would not).
#[tokio::test]
async fn memory_is_limited_not_address_space() {
    let mut spec = spec(python(), &["-c", ALLOCATING_SERVER], &[]);
    spec.limits.memory_bytes = Some(256 << 20);
    let deployment = runtime().start(spec).await.expect("live");
    let pid = deployment.pid().expect("a pid");
    let limit = (256u64 << 20).to_string();
    assert_eq!(process_limit(pid, "Max data size"), (limit.clone(), limit));
    let logs = deployment.logs();
    for expected in [
        "reserve-8g ok",
        "fill-64m ok",
        "fill-512m refused MemoryError",
        "map-512m refused OSError",
    ] {
        assert!(
            logs.iter().any(|line| line == expected),
            "no `{expected}` in {logs:#?}"
        );
    }
    assert!(answers_health_check(&*deployment).await);
    deployment.stop().await;
}

/// As root, a server whose script its own uid can't read runs under the platform's uid, and
/// its deployment says why (instead of failing with "permission denied").
#[tokio::test]
async fn a_script_its_uid_cannot_reach_is_reported_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let script = dir.path().join("server.py");
    std::fs::write(&script, HEALTH_SERVER).expect("write the script");
    let deployment = runtime()
        .start(spec(python(), &[script.to_str().expect("utf-8")], &[]))
        .await
        .expect("live");
    let containment = deployment.containment();
    assert_eq!(containment.uid, None, "{containment}");
    if rustix::process::geteuid().is_root() {
        assert!(
            containment.missing.iter().any(|m| m
                .starts_with("the server runs under the platform's uid")
                && m.contains(&format!("can't enter {}", dir.path().display()))),
            "{containment}"
        );
    }
    assert!(answers_health_check(&*deployment).await);
    deployment.stop().await;
}

/// As root, a server's uid must lie in the server range and not be 0: another is refused
/// before anything starts, strict isolation or not.
#[tokio::test]
async fn a_uid_outside_the_server_range_is_refused() {
    if !root() {
        println!("NOTE: not root; servers get no uid of their own to check");
        return;
    }
    for (uid, reason) in [
        (0, "it was given uid 0, root's".to_owned()),
        (
            1000,
            format!(
                "its uid 1000 lies outside the server range {}-{}",
                DEFAULT_UID_RANGE.start(),
                DEFAULT_UID_RANGE.end()
            ),
        ),
    ] {
        let mut spec = health_server_spec(&[]);
        spec.uid = ServerUid::Own(uid);
        let error = match runtime().start(spec).await {
            Ok(deployment) => panic!("started under uid {uid}: {:?}", deployment.containment()),
            Err(error) => error,
        };
        assert_eq!(
            error.to_string(),
            format!("the server `test-server` was not started: {reason}")
        );
    }
}

/// As root, a server given no uid of its own runs under the platform's and its deployment
/// says why; strict isolation refuses to start it.
#[tokio::test]
async fn a_server_without_a_uid_of_its_own_is_reported_and_refused_when_strict() {
    if !root() {
        println!("NOTE: not root; servers get no uid of their own to miss");
        return;
    }
    let reason = "every uid of the server range 2000000-2000000 is taken";
    let mut spec = health_server_spec(&[]);
    spec.uid = ServerUid::Platform(reason.to_owned());
    let deployment = runtime().start(spec.clone()).await.expect("live");
    let containment = deployment.containment();
    assert_eq!(containment.uid, None, "{containment}");
    assert_eq!(
        containment.missing,
        [format!(
            "the server runs under the platform's uid: {reason}"
        )]
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", deployment.pid().expect("a pid")))
            .expect("read status");
    assert!(
        status.lines().any(|line| line.starts_with("Uid:\t0\t")),
        "{status}"
    );
    deployment.stop().await;

    let mut strict = runtime();
    strict.isolation.strict = true;
    let error = match strict.start(spec).await {
        Ok(deployment) => panic!("started: {:?}", deployment.containment()),
        Err(error) => error,
    };
    assert!(
        error.to_string().ends_with(&format!(
            "strict isolation is on and a layer is missing: the server runs under the platform's uid: {reason}"
        )),
        "{error}"
    );
}
