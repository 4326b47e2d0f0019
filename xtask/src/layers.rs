//! The guard that keeps havip's modules layered: no top-level module of `havip/src` may import
//! one that imports it back, directly or through others (the model below config, CLI, daemon,
//! track and notify; nothing importing upward). `cargo test -p xtask` checks the real tree.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use anyhow::{bail, Context as _, Result};

/// Top-level module → the top-level modules it names through `crate::`.
pub fn graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for entry in fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        let name = match (path.is_dir(), path.extension()) {
            (true, _) => path.file_name(),
            (false, Some(e)) if e == "rs" => path.file_stem(),
            _ => None,
        };
        let Some(name) = name.and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if name == "lib" || name == "main" {
            continue;
        }
        // `metrics.rs` and `metrics/` are one module: their texts go together.
        let text: &mut String = modules.entry(name).or_default();
        collect_text(&path, text)?;
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    Ok(modules
        .iter()
        .map(|(name, text)| {
            let deps = crate_paths(text)
                .into_iter()
                .filter(|d| d != name && names.contains(d))
                .collect();
            (name.clone(), deps)
        })
        .collect())
}

fn collect_text(path: &Path, out: &mut String) -> Result<()> {
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            collect_text(&entry?.path(), out)?;
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push_str(&fs::read_to_string(path)?);
        out.push('\n');
    }
    Ok(())
}

/// The first segment of every `crate::` path in `text`, `use crate::{a, b::c}` groups included.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// A cycle in `graph`, as the list of modules around it, if there is one.
pub fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(graph, n, &mut Vec::new(), &mut done))
}

/// Fails naming the cycle when havip's modules import each other in a circle.
pub fn check(src: &Path) -> Result<()> {
    let g = graph(src)?;
    if let Some(cycle) = find_cycle(&g) {
        bail!(
            "havip's modules import each other in a circle: {} (the model sits below \
             everything; move what both need beneath them)",
            cycle.join(" -> ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_plain_paths_are_read() {
        let text = "use crate::{model::{A, B}, net::netlink::Netlink, privs};\n\
                    fn f() { crate::stats::collect(); }";
        let got: Vec<String> = crate_paths(text).into_iter().collect();
        assert_eq!(got, ["model", "net", "privs", "stats"]);
    }

    #[test]
    fn a_cycle_is_found_and_a_dag_passes() {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        g.insert("daemon".into(), ["model".into(), "track".into()].into());
        g.insert("track".into(), ["model".into()].into());
        g.insert("model".into(), BTreeSet::new());
        assert_eq!(find_cycle(&g), None);
        g.get_mut("track").unwrap().insert("daemon".into());
        assert_eq!(
            find_cycle(&g),
            Some(vec!["daemon".into(), "track".into(), "daemon".into()])
        );
    }

    #[test]
    fn havip_has_no_import_cycles() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../havip/src");
        check(&src).unwrap();
        let g = graph(&src).unwrap();
        assert!(
            g["model"].iter().all(|d| d == "testutil"),
            "the model imports {:?}: it must sit below everything",
            g["model"]
        );
    }
}
