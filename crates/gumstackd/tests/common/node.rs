//! Node.js for the tests that run a JavaScript client (tests/js): the `node` binary and the
//! pinned `@modelcontextprotocol/sdk`. Neither is ever installed by a test; a missing one fails
//! the test with what to run (under `CI=true` too: never a skip).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

use serde_json::Value;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn node_missing(why: &str) -> ! {
    if in_ci() {
        panic!(
            "node is required by the TypeScript SDK client tests but {why}: CI must install \
             Node.js (>= 20, with npm) and run \
             `npm ci --prefix tests/js` before the tests"
        )
    }
    panic!(
        "node is required by the TypeScript SDK client tests but {why}: install Node.js \
         (>= 20, with npm), then run `npm ci --prefix tests/js`"
    )
}

/// `node --version`, or a failure that says how to get Node.js.
pub fn node_version() -> String {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => node_missing(&format!(
            "`node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => node_missing("it is not on PATH"),
        Err(e) => node_missing(&format!("it could not be run ({e})")),
    }
}

/// The SDK version pinned in tests/js/package.json; fails unless tests/js/node_modules holds
/// exactly that version.
pub fn installed_sdk(js_dir: &Path) -> String {
    let read_json = |path: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let manifest = read_json(js_dir.join("package.json")).expect("tests/js/package.json parses");
    let pinned = manifest["dependencies"]["@modelcontextprotocol/sdk"]
        .as_str()
        .expect("tests/js/package.json pins @modelcontextprotocol/sdk")
        .to_owned();
    let installed = js_dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
    let ci = if in_ci() {
        " (CI must run it before the tests)"
    } else {
        ""
    };
    let Some(installed) = read_json(installed) else {
        panic!(
            "{} has no @modelcontextprotocol/sdk: run `npm ci --prefix tests/js`{ci}",
            js_dir.join("node_modules").display()
        );
    };
    assert_eq!(
        installed["version"].as_str(),
        Some(pinned.as_str()),
        "tests/js/node_modules holds another @modelcontextprotocol/sdk than package.json pins: \
         run `npm ci --prefix tests/js`{ci}"
    );
    pinned
}

pub fn reader(mut pipe: impl std::io::Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    })
}
