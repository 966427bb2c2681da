//! No import cycle among a crate's top-level modules: a module of a layer uses the layers
//! below it, never the other way round (surfaces → services → store).
//!
//! A small scanner, not a parser and not `cargo modules` (whose build would cost every fresh
//! CI machine minutes). It follows the `mod` declarations from the crate root, drops comments
//! and literals, and reads every `use` tree and every `crate::…`/`super::…` path. A path from
//! a file under top-level module `b` that resolves into top-level module `a` is an edge
//! b → a; a name the crate root re-exports (`pub use a::Thing`) resolves to its module. Any
//! cycle fails the check and is printed with the file and line of each of its edges.
//!
//! What it does not see: macros that build paths, and names brought in by a glob re-export at
//! the root (`pub use a::*`).

use std::fs;
use std::path::{Path, PathBuf};

use module_graph::{ModuleGraph, module_cycles_in};

mod module_graph;

/// The packages whose module graph is free of cycles today; each must stay so. A package with
/// a library and a binary has each crate root checked.
const CLEAN_PACKAGES: &[&str] = &[
    "crates/gumstack",
    "crates/gumstack-gateway",
    "crates/gumstack-bench",
    "crates/gumstack-config",
    "crates/gumstack-runtime",
    "crates/gumstackd",
    "examples/none-server",
    "examples/cred-server",
    "examples/oauth-server",
];

#[test]
fn workspace_packages_have_no_module_cycle() {
    assert_no_cycles(CLEAN_PACKAGES);
}

#[test]
fn platform_modules_have_no_cycle() {
    assert_no_cycles(&["crates/gumstack-platform"]);
}

fn assert_no_cycles(packages: &[&str]) {
    let failures: Vec<String> = packages
        .iter()
        .filter_map(|dir| module_cycles_in(&workspace_root().join(dir)).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn workspace_root() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package.parent().and_then(Path::parent).unwrap().to_owned()
}
/// The checker itself, on small crates written to a temporary directory.
mod checker {
    use super::*;

    fn cycles_of(files: &[(&str, &str)]) -> Vec<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join("src").join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        ModuleGraph::scan(&dir.path().join("src/lib.rs")).cycles()
    }

    fn cycle(modules: &[&str]) -> Vec<String> {
        modules.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn a_layered_crate_has_no_cycle() {
        let files = [
            ("lib.rs", "pub mod api;\nmod service;\nmod store;\n"),
            ("api/mod.rs", "mod users;\nuse crate::service::Users;\n"),
            (
                "api/users.rs",
                "use crate::{service, store::Row};\nfn f() { super::super::service::g(); }\n",
            ),
            ("service.rs", "use crate::store::{self, Row};\n"),
            ("store.rs", "pub struct Row;\n"),
        ];
        assert_eq!(cycles_of(&files), Vec::<Vec<String>>::new());
    }

    /// Each case adds one path back from `store` to `api` to the layered crate above, written
    /// a different way; every one closes a cycle.
    #[test]
    fn every_way_of_naming_a_module_closes_a_cycle() {
        let cases = [
            ("use", "use crate::api::Thing;"),
            ("group", "use crate::{api::{Thing, Other}};"),
            (
                "multi-line group",
                "use crate::{\n    store as s,\n    api::Thing,\n};",
            ),
            ("path in code", "fn f() { let _ = crate::api::make(); }"),
            (
                "super from a file",
                "fn f() -> super::api::Thing { super::api::Thing }",
            ),
            ("root re-export", "use crate::Thing;"),
            ("renamed root re-export", "use crate::Renamed;"),
        ];
        for (case, line) in cases {
            let store = format!("pub struct Row;\n{line}\n");
            let files = [
                (
                    "lib.rs",
                    "mod api;\nmod store;\npub use api::Thing;\npub use api::Other as Renamed;\n",
                ),
                ("api.rs", "use crate::store::Row;\n"),
                ("store.rs", store.as_str()),
            ];
            assert_eq!(
                cycles_of(&files),
                [cycle(&["api", "store", "api"])],
                "{case}"
            );
        }
    }

    #[test]
    fn comments_strings_and_inner_modules_are_not_edges() {
        let store = r####"
            //! Unlike [`crate::api`], this module …
            /* a block /* nested */ crate::api::X */
            const A: &str = "crate::api::X";
            const B: &str = r#"use crate::api::X; "quoted""#;
            const C: char = '{';
            const D: u8 = b'}';
            fn lifetimes<'a>(x: &'a str) -> &'a str { x }
            macro_rules! m { () => { $crate::api::X } }
            pub(in crate::store) struct Row;
            #[cfg(test)]
            use crate::api::Thing;
            #[cfg(test)]
            #[allow(dead_code)]
            pub(crate) mod tests {
                use crate::api::Thing;
            }
            #[cfg(test)]
            mod more_tests;
            mod inner {
                use super::Row;
                mod deeper { use super::super::Row; }
            }
        "####;
        let files = [
            ("lib.rs", "mod api;\nmod store;\n"),
            ("api.rs", "use crate::store::Row;\n"),
            ("store.rs", store),
            ("store/more_tests.rs", "use crate::api::Thing;\n"),
        ];
        assert_eq!(cycles_of(&files), Vec::<Vec<String>>::new());
    }

    #[test]
    fn super_from_an_inline_module_climbs_from_that_module() {
        let store = "mod tests {\n    use super::super::api::Thing;\n}\n";
        let files = [
            ("lib.rs", "mod api;\nmod store;\n"),
            ("api.rs", "use crate::store::Row;\n"),
            ("store.rs", store),
        ];
        assert_eq!(cycles_of(&files), [cycle(&["api", "store", "api"])]);
    }

    #[test]
    fn the_report_names_each_edge_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\n"),
            ("b/mod.rs", "mod inner;\n"),
            ("b/inner.rs", "\n\nuse crate::c::C;\n"),
            ("c.rs", "fn f() { crate::a::g() }\n"),
        ];
        for (path, text) in files {
            let path = dir.path().join("src").join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let report = module_cycles_in(dir.path()).unwrap_err();
        assert!(report.contains("cycle: a → b → c → a"), "{report}");
        assert!(report.contains("b → c: "), "{report}");
        assert!(report.contains("inner.rs:3: use crate::c::C;"), "{report}");
        assert!(
            report.contains("c.rs:1: fn f() { crate::a::g() }"),
            "{report}"
        );
    }
}
