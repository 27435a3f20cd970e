//! The code's floors, checked from its own `use crate::…` paths: no pair of
//! top-level modules may import each other, and the ground floor imports
//! nothing above it. (`KNOWN` is where a temporary exception would be listed,
//! with its reason; it is empty.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Mutual imports that exist today, each waiting for its fix (none left).
const KNOWN: &[(&str, &str)] = &[];

/// Top-level module → the top-level modules its non-test code names as `crate::x`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = module_sources();
    let top = |m: &str| {
        m.split("::")
            .next()
            .filter(|t| !t.is_empty())
            .unwrap_or("lib")
            .to_string()
    };
    let modules: BTreeSet<String> = mods.keys().map(|m| top(m)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &mods {
        let me = top(m);
        for name in paths_after(code, "crate::")
            .into_iter()
            .filter_map(|p| p.into_iter().next())
        {
            if name != me && modules.contains(&name) {
                g.entry(me.clone()).or_default().insert(name);
            }
        }
    }
    g
}

#[test]
fn no_new_pair_of_top_level_modules_imports_each_other() {
    let g = graph();
    let mut mutual = BTreeSet::new();
    for (a, deps) in &g {
        for b in deps {
            if g.get(b).is_some_and(|d| d.contains(a)) {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                mutual.insert((x.clone(), y.clone()));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = mutual.difference(&known).collect();
    assert!(
        new.is_empty(),
        "modules that now import each other: {new:?}\n{g:#?}"
    );
    let gone: Vec<_> = known.difference(&mutual).collect();
    assert!(gone.is_empty(), "fixed — delete from KNOWN: {gone:?}");
}

#[test]
fn the_ground_floor_imports_nothing_above_it() {
    let g = graph();
    // Values and leaves: `model`, `event` (publish request, event, grammar), `ids`, `sign`.
    let ground = ["model", "ids", "event", "sign"];
    for floor in ground {
        let above: Vec<_> = g
            .get(floor)
            .into_iter()
            .flatten()
            .filter(|m| !ground.contains(&m.as_str()))
            .collect();
        assert!(above.is_empty(), "`{floor}` imports {above:?}");
    }
}

/// Every module (file) path, `a::b` for `src/a/b.rs` or `src/a/b/mod.rs`
/// (the crate root is ""), with its non-test code.
fn module_sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            out.insert(parts.join("::"), code);
        }
    }
    out
}

/// The longest module among `known` that `segments` starts with.
fn resolve(segments: &[String], known: &BTreeMap<String, String>) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|i| segments[..i].join("::"))
        .find(|c| known.contains_key(c))
}

fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    code.match_indices(prefix)
        .map(|(i, _)| {
            code[i + prefix.len()..]
                .split("::")
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|s| {
                    !s.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                })
                .collect()
        })
        .collect()
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let mods = module_sources();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &mods {
        let here: Vec<String> = if m.is_empty() {
            vec![]
        } else {
            m.split("::").map(str::to_string).collect()
        };
        let mut targets = Vec::new();
        for p in paths_after(code, "crate::") {
            targets.extend(resolve(&p, &mods));
        }
        for p in paths_after(code, "super::") {
            let mut full: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
            full.extend(p);
            targets.extend(resolve(&full, &mods));
        }
        for t in targets {
            if &t != m {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    // Any cycle shows up as a module reachable from itself.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = edges[start].iter().cloned().collect();
        while let Some(n) = stack.pop() {
            if &n == start {
                cycles.push(start.clone());
                break;
            }
            if seen.insert(n.clone()) {
                stack.extend(edges.get(&n).into_iter().flatten().cloned());
            }
        }
    }
    assert!(cycles.is_empty(), "modules on an import cycle: {cycles:?}");
}

#[test]
fn endpoint_actors_never_write_rocksdb_on_their_own_threads() {
    // Outcomes go to the committer thread (`Store::record`); a synchronous
    // `write_now` here would put RocksDB's write queue (behind the publish
    // fsync and memtable switches) back on the threads that run awc.
    let offenders: Vec<String> = module_sources()
        .into_iter()
        .filter(|(module, code)| module.starts_with("endpoint") && code.contains("write_now("))
        .map(|(module, _)| module)
        .collect();
    assert!(
        offenders.is_empty(),
        "synchronous store writes in {offenders:?}"
    );
}
