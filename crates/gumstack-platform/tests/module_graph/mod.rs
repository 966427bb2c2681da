//! The graph of a crate's top-level modules, from its sources (see `module_cycles.rs`).

mod lexer;
mod scan;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use lexer::Token;
use scan::{Reference, module_declarations, module_files, references};

/// Checks each crate root of the package in `package_dir` (`src/lib.rs`, `src/main.rs`,
/// `src/bin/*.rs`): `Err` holds one report per cycle.
pub(crate) fn module_cycles_in(package_dir: &Path) -> Result<(), String> {
    let src = package_dir.join("src");
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|file| src.join(file))
        .filter(|path| path.is_file())
        .collect();
    if let Ok(bins) = fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = bins
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    assert!(!roots.is_empty(), "no crate root under {}", src.display());
    let reports: Vec<String> = roots
        .iter()
        .map(|root| ModuleGraph::scan(root))
        .filter_map(|graph| graph.cycle_report())
        .collect();
    if reports.is_empty() {
        Ok(())
    } else {
        Err(reports.concat())
    }
}

/// Where an edge was seen.
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    file: PathBuf,
    line: usize,
    text: String,
}

/// The edges between the top-level modules of one crate root.
#[derive(Debug)]
pub(crate) struct ModuleGraph {
    root: PathBuf,
    /// Edge `from → to` with the first place it was seen.
    edges: BTreeMap<(String, String), Evidence>,
}

/// A module's path from the crate root (`[]` is the root itself).
pub(crate) type ModulePath = Vec<String>;

/// A source file of the crate and the module it is.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) module: ModulePath,
    pub(crate) source: String,
    pub(crate) tokens: Vec<Token>,
}

impl ModuleGraph {
    pub(crate) fn scan(root: &Path) -> Self {
        let files = module_files(root);
        let mut children: BTreeMap<ModulePath, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            for (module, name) in module_declarations(file) {
                children.entry(module).or_default().insert(name);
            }
        }
        let top_level = children.get(&Vec::new()).cloned().unwrap_or_default();
        let resolver = Resolver {
            children: &children,
            top_level: &top_level,
            root_reexports: BTreeMap::new(),
        };
        // Names the root brings into scope (`pub use app::AppState;`) stand for their module.
        let root_reexports = references(&files[0])
            .into_iter()
            .filter(|reference| reference.in_use && reference.module.is_empty())
            .filter_map(|reference| {
                let target = resolver.top_level_target(&reference)?;
                let name = reference
                    .alias
                    .clone()
                    .or(reference.segments.last().cloned())?;
                (name != "*").then_some((name, target))
            })
            .collect();
        let resolver = Resolver {
            root_reexports,
            ..resolver
        };

        let mut edges = BTreeMap::new();
        for file in &files {
            for reference in references(file) {
                let Some(from) = reference.module.first() else {
                    continue;
                };
                let Some(to) = resolver.top_level_target(&reference) else {
                    continue;
                };
                if *from != to {
                    edges.entry((from.clone(), to)).or_insert_with(|| Evidence {
                        file: file.path.clone(),
                        line: reference.line,
                        text: file
                            .source
                            .lines()
                            .nth(reference.line - 1)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    });
                }
            }
        }
        ModuleGraph {
            root: root.to_owned(),
            edges,
        }
    }

    /// `None` without a cycle; otherwise every strongly connected group of modules, each shown
    /// as one or more cycles that together pass through all its modules.
    fn cycle_report(&self) -> Option<String> {
        let cycles = self.cycles();
        if cycles.is_empty() {
            return None;
        }
        let mut report = format!(
            "import cycles among the top-level modules of {}:\n",
            self.root.display()
        );
        for cycle in cycles {
            let _ = writeln!(report, "  cycle: {}", cycle.join(" → "));
            for pair in cycle.windows(2) {
                let evidence = &self.edges[&(pair[0].clone(), pair[1].clone())];
                let _ = writeln!(
                    report,
                    "    {} → {}: {}:{}: {}",
                    pair[0],
                    pair[1],
                    evidence.file.display(),
                    evidence.line,
                    evidence.text
                );
            }
        }
        Some(report)
    }

    /// Cycles as module lists whose first and last entries are the same module.
    pub(crate) fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        for group in self.strongly_connected() {
            let mut covered = BTreeSet::new();
            for start in &group {
                if covered.contains(start) {
                    continue;
                }
                let cycle = self.shortest_cycle(start, &group);
                covered.extend(cycle.iter().cloned());
                cycles.push(cycle);
            }
        }
        cycles
    }

    fn successors<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.edges
            .keys()
            .filter(move |(from, _)| from == node)
            .map(|(_, to)| to)
    }

    /// The groups of two or more modules that reach each other (Tarjan, written for clarity
    /// over speed: a crate has a few dozen modules).
    fn strongly_connected(&self) -> Vec<BTreeSet<String>> {
        let nodes: BTreeSet<&String> = self.edges.keys().flat_map(|(a, b)| [a, b]).collect();
        let reaches = |from: &String| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut queue = VecDeque::from([from.clone()]);
            while let Some(node) = queue.pop_front() {
                for next in self.successors(&node) {
                    if seen.insert(next.clone()) {
                        queue.push_back(next.clone());
                    }
                }
            }
            seen
        };
        let reach: BTreeMap<&String, BTreeSet<String>> =
            nodes.iter().map(|node| (*node, reaches(node))).collect();
        let mut groups: Vec<BTreeSet<String>> = Vec::new();
        for node in &nodes {
            if groups.iter().any(|group| group.contains(*node)) {
                continue;
            }
            let group: BTreeSet<String> = nodes
                .iter()
                .filter(|other| reach[*node].contains(**other) && reach[**other].contains(*node))
                .map(|other| (*other).clone())
                .collect();
            if group.len() > 1 {
                groups.push(group);
            }
        }
        groups
    }

    /// The shortest path `start → … → start` inside `group` (breadth first).
    fn shortest_cycle(&self, start: &String, group: &BTreeSet<String>) -> Vec<String> {
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(node) = queue.pop_front() {
            for next in self.successors(&node) {
                if !group.contains(next) {
                    continue;
                }
                if next == start {
                    let mut path = vec![start.clone(), node.clone()];
                    let mut at = node.clone();
                    while let Some(before) = previous.get(&at) {
                        path.push(before.clone());
                        at = before.clone();
                    }
                    path.reverse();
                    return path;
                }
                if !previous.contains_key(next) && next != start {
                    previous.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        unreachable!("{start} is in a strongly connected group, so a cycle passes through it");
    }
}

/// Maps paths to the top-level module they land in.
#[derive(Debug)]
pub(crate) struct Resolver<'a> {
    children: &'a BTreeMap<ModulePath, BTreeSet<String>>,
    top_level: &'a BTreeSet<String>,
    root_reexports: BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn top_level_target(&self, reference: &Reference) -> Option<String> {
        let absolute = self.absolute(reference)?;
        let first = absolute.first()?;
        if self.top_level.contains(first) {
            Some(first.clone())
        } else {
            self.root_reexports.get(first).cloned()
        }
    }

    /// The path from the crate root, or `None` for another crate's path or a local item.
    fn absolute(&self, reference: &Reference) -> Option<ModulePath> {
        let segments = &reference.segments;
        let first = segments.first()?;
        match first.as_str() {
            "crate" => Some(segments[1..].to_vec()),
            "self" => Some([&reference.module[..], &segments[1..]].concat()),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                let depth = reference.module.len().checked_sub(ups)?;
                Some([&reference.module[..depth], &segments[ups..]].concat())
            }
            // Uniform paths: `use child::Thing` names a module declared in this module.
            name if self
                .children
                .get(&reference.module)
                .is_some_and(|names| names.contains(name)) =>
            {
                Some([&reference.module[..], &segments[..]].concat())
            }
            _ => None,
        }
    }
}
