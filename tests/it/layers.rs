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
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeSet<String> = BTreeSet::new();
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let top_of = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        first.trim_end_matches(".rs").to_string()
    };
    for f in &files {
        modules.insert(top_of(f));
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = top_of(f);
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
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
