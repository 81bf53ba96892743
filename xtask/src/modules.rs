//! `cargo xtask modules`: the module graph of every crate, and a check that it has no cycles.
//!
//! A newcomer reads a crate from the bottom up; a cycle between modules means there is no
//! bottom. The check reads the sources as text (no compiler needed, so it runs in a second):
//!
//! - a **node** is a file module (`src/a.rs`, `src/a/mod.rs`, `src/a/b.rs`), found by following
//!   `mod x;` from each crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`);
//! - an **edge** a → b is a path in a's source that leads into b: `use crate::…`,
//!   `use super::…`, or a `crate::…`/`super::…` path in the code, resolved to the deepest
//!   module it names;
//! - edges between a module and its own ancestors or descendants do not count: a parent
//!   declares its children (`mod child;`, `pub use child::X`), and a child may use what its
//!   parent defines (`use super::X`). Test modules at the end of a file (`#[cfg(test)] mod …`)
//!   are not read.
//!
//! A cycle is reported with one reference (file and line) for each edge in it.

use anyhow::{Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose module graphs are checked, relative to the workspace root.
const CRATES: &[&str] = &["shared", "client", "server", "tests", "xtask", "bench"];

/// Checks every crate of the workspace; fails naming each cycle found.
pub fn check(root: &Path) -> Result<()> {
    let mut report = String::new();
    let mut modules = 0;
    for krate in CRATES {
        // Paths relative to the root, so a report names files as a reader finds them.
        let src = Path::new(krate).join("src");
        for crate_root in crate_roots(root, &src) {
            let graph = Graph::read(&DiskFiles(root), &src, &crate_root)?;
            modules += graph.modules.len();
            for cycle in graph.cycles() {
                report.push_str(&format!("\n  in {krate}/src ({}):\n", display(&crate_root)));
                report.push_str(&cycle);
            }
        }
    }
    if !report.is_empty() {
        bail!(
            "the module graph has cycles (see ARCHITECTURE.md, \"No module cycles\"):{report}\n\
             Move what both sides need into a module of its own that depends on neither."
        );
    }
    println!("{modules} modules, no cycles");
    Ok(())
}

fn display(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn crate_roots(root: &Path, src: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .filter(|p| root.join(p).exists())
        .collect();
    if let Ok(entries) = std::fs::read_dir(root.join(src).join("bin")) {
        let mut bins: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| src.join("bin").join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    roots
}

/// Where sources come from: the disk, or a map in the tests.
trait Files {
    fn read(&self, path: &Path) -> Option<String>;
}

/// Files under the workspace root.
struct DiskFiles<'a>(&'a Path);

impl Files for DiskFiles<'_> {
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(self.0.join(path)).ok()
    }
}

/// A module path inside one crate, e.g. `["services", "replica"]`; the root is empty.
type ModPath = Vec<String>;

/// One reference from a module to another, kept to name it in a report.
#[derive(Debug, Clone)]
struct Reference {
    file: PathBuf,
    line: usize,
}

#[derive(Debug, Default)]
struct Graph {
    /// Every module and its file.
    modules: BTreeMap<ModPath, PathBuf>,
    /// a → b, with the first reference found.
    edges: BTreeMap<ModPath, BTreeMap<ModPath, Reference>>,
}

impl Graph {
    /// Reads the module tree from `crate_root` (a file in `src`), then every module's paths.
    fn read(files: &dyn Files, src: &Path, crate_root: &Path) -> Result<Graph> {
        let mut graph = Graph::default();
        let mut queue = vec![(ModPath::new(), crate_root.to_owned())];
        let mut sources = BTreeMap::new();
        while let Some((path, file)) = queue.pop() {
            let Some(text) = files.read(&file) else {
                bail!("cannot read {}", file.display());
            };
            let text = without_test_module(&text);
            // Children of `a.rs` and `a/mod.rs` live in `a/`; of a crate root, in `src/`.
            let dir = if path.is_empty() {
                src.to_owned()
            } else if file.file_name().is_some_and(|n| n == "mod.rs") {
                file.parent().unwrap().to_owned()
            } else {
                file.with_extension("")
            };
            for child in declared_modules(&text) {
                let flat = dir.join(format!("{child}.rs"));
                let nested = dir.join(&child).join("mod.rs");
                let child_file = if files.read(&flat).is_some() {
                    flat
                } else if files.read(&nested).is_some() {
                    nested
                } else {
                    continue; // `mod x;` behind a cfg for another target, or generated
                };
                let mut child_path = path.clone();
                child_path.push(child);
                queue.push((child_path, child_file));
            }
            graph.modules.insert(path.clone(), file.clone());
            sources.insert(path, (file, text));
        }
        for (from, (file, text)) in &sources {
            for (line, target) in referenced_paths(text) {
                let Some(to) = graph.resolve(from, &target) else {
                    continue;
                };
                if related(from, &to) {
                    continue;
                }
                graph
                    .edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| Reference {
                        file: file.clone(),
                        line,
                    });
            }
        }
        Ok(graph)
    }

    /// The deepest module a path names, seen from module `from`; `None` outside the crate.
    fn resolve(&self, from: &[String], path: &[String]) -> Option<ModPath> {
        let mut base: ModPath = match path.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") => {
                let mut base = from.to_vec();
                base.pop()?;
                base
            }
            Some("self") => from.to_vec(),
            _ => return None,
        };
        let mut rest = &path[1..];
        // `super::super::…`
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        let mut deepest = base.clone();
        for segment in rest {
            base.push(segment.clone());
            if self.modules.contains_key(&base) {
                deepest = base.clone();
            } else {
                break;
            }
        }
        Some(deepest)
    }

    /// Each cycle (a strongly connected component of more than one module), described.
    fn cycles(&self) -> Vec<String> {
        let components = strongly_connected(&self.modules, &self.edges);
        components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|component| {
                let members: BTreeSet<&ModPath> = component.iter().collect();
                let mut text = format!(
                    "    cycle among {}\n",
                    component
                        .iter()
                        .map(|m| name(m))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for from in &component {
                    for (to, reference) in self.edges.get(from).into_iter().flatten() {
                        if members.contains(to) {
                            text.push_str(&format!(
                                "      {} → {}  ({}:{})\n",
                                name(from),
                                name(to),
                                reference.file.display(),
                                reference.line
                            ));
                        }
                    }
                }
                text
            })
            .collect()
    }
}

fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// Is one an ancestor of the other (or the same)?
fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The text before a trailing `#[cfg(test)] mod …` (unit tests may use anything).
fn without_test_module(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        kept.push(line);
    }
    kept.join("\n")
}

/// The `mod x;` declarations of a file (not inline `mod x { … }`).
fn declared_modules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?.trim();
            let name = name.strip_prefix("r#").unwrap_or(name);
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then(|| name.to_owned())
        })
        .collect()
}

/// Every `crate::`/`super::`/`self::` path in the text, with its line number: those in `use`
/// trees expanded (`use crate::{a, b::{c, d}}` names a, b::c and b::d), and those in code.
fn referenced_paths(text: &str) -> Vec<(usize, Vec<String>)> {
    let code = strip_comments_and_strings(text);
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(at) = find_root(&code[pos..]) {
        let start = pos + at;
        let line = code[..start].matches('\n').count() + 1;
        let (path, tail) = read_path(&code[start..]);
        if path.len() > 1 {
            found.push((line, path.clone()));
        }
        let after = code.len() - tail.len();
        // `crate::{a, b}` / `super::{…}`: expand the group that follows.
        if tail.starts_with("::{") {
            for suffix in use_tree(&group_body(&code[after + 3..])) {
                let mut full = path.clone();
                full.extend(suffix);
                if full.len() > 1 {
                    found.push((line, full));
                }
            }
        }
        pos = after.max(start + 1);
    }
    found
}

/// The text of a `{ … }` group, given what follows its `{`.
fn group_body(text: &str) -> String {
    let mut depth = 1;
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The paths of a `use` group's body, e.g. `a, b::{c, d}, e::f as g, self` → a, b::c, b::d,
/// e::f (and `self` names the group's own prefix, so it adds nothing).
fn use_tree(body: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    for item in items {
        let item = item.trim();
        if item.is_empty() || item == "self" || item == "*" {
            continue;
        }
        if let Some(open) = item.find("::{") {
            let prefix: Vec<String> = split_path(&item[..open]);
            let inner = &item[open + 3..item.rfind('}').unwrap_or(item.len())];
            for suffix in use_tree(inner) {
                let mut full = prefix.clone();
                full.extend(suffix);
                paths.push(full);
            }
            paths.push(prefix);
        } else {
            let item = item.split(" as ").next().unwrap_or(item);
            paths.push(split_path(item));
        }
    }
    paths
}

fn split_path(text: &str) -> Vec<String> {
    text.split("::")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != "*")
        .collect()
}

/// Where the next `crate::`, `super::` or `self::` path starts (at a word boundary).
fn find_root(text: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(root) {
            let at = from + at;
            let boundary = text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '$'));
            if boundary {
                best = Some(best.map_or(at, |b| b.min(at)));
                break;
            }
            from = at + root.len();
        }
    }
    best
}

/// Reads `a::b::c` from the start of `text`; returns the segments and what follows.
fn read_path(text: &str) -> (Vec<String>, &str) {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segments.push(rest[..end].to_owned());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(after) if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') => {
                rest = after;
            }
            _ => break,
        }
    }
    (segments, rest)
}

/// The text with comments, string and character literals blanked out (newlines kept), so a
/// path in a doc comment or a message does not count as a reference.
fn strip_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            continue;
        }
        // Raw strings: r"…", r#"…"#, br##"…"##.
        let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == 'r' && !word_before || c == 'b' && next == Some('r') && !word_before {
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                j += 1;
                'raw: while j < chars.len() {
                    if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break 'raw;
                    }
                    blank(&mut out, chars[j]);
                    j += 1;
                }
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        i += 2;
                        continue;
                    }
                    '"' => {
                        i += 1;
                        break;
                    }
                    other => blank(&mut out, other),
                }
                i += 1;
            }
            continue;
        }
        // Character literals ('"', '\'', '{'), not lifetimes ('a).
        if c == '\'' {
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Tarjan's strongly connected components, over the modules in their order.
fn strongly_connected(
    nodes: &BTreeMap<ModPath, PathBuf>,
    edges: &BTreeMap<ModPath, BTreeMap<ModPath, Reference>>,
) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeMap<ModPath, Reference>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets.keys() {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[w].min(s.low[v]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.index[w].min(s.low[v]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for node in nodes.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MapFiles(BTreeMap<PathBuf, String>);

    impl Files for MapFiles {
        fn read(&self, path: &Path) -> Option<String> {
            self.0.get(path).cloned()
        }
    }

    /// The cycles found in a crate made of `(file under src/, text)`.
    fn cycles_in(files: &[(&str, &str)]) -> Vec<String> {
        let map = files
            .iter()
            .map(|(path, text)| (Path::new("src").join(path), (*text).to_owned()))
            .collect();
        let graph =
            Graph::read(&MapFiles(map), Path::new("src"), Path::new("src/lib.rs")).expect("reads");
        graph.cycles()
    }

    #[test]
    fn finds_cycles_and_ignores_what_is_not_one() {
        let root = "mod app;\nmod pages;\nmod context;\n";
        // (case, files after lib.rs, a cycle expected)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case<'_>] = &[
            (
                "a root component and the pages that import its context",
                &[
                    ("app.rs", "use crate::pages::item;\npub struct Ctx;"),
                    ("pages.rs", "mod item;"),
                    ("pages/item.rs", "use crate::app::Ctx;"),
                    ("context.rs", ""),
                ],
                true,
            ),
            (
                "the context in a module of its own",
                &[
                    (
                        "app.rs",
                        "use crate::pages::item;\nuse crate::context::Ctx;",
                    ),
                    ("pages.rs", "mod item;"),
                    ("pages/item.rs", "use crate::context::Ctx;"),
                    ("context.rs", "pub struct Ctx;"),
                ],
                false,
            ),
            (
                "siblings through super, in a use group spread over lines",
                &[
                    ("app.rs", ""),
                    ("pages.rs", "pub mod item;\npub mod review;"),
                    ("pages/item.rs", "use super::{\n    review::Panel,\n};"),
                    ("pages/review.rs", "fn f() { super::item::page(); }"),
                    ("context.rs", ""),
                ],
                true,
            ),
            (
                "a parent and its child refer to each other",
                &[
                    ("app.rs", ""),
                    (
                        "pages/mod.rs",
                        "pub mod item;\npub use item::Page;\npub struct Shared;",
                    ),
                    (
                        "pages/item.rs",
                        "use super::Shared;\nuse crate::pages::Shared as S;",
                    ),
                    ("context.rs", ""),
                ],
                false,
            ),
            (
                "paths in comments, strings and unit tests",
                &[
                    (
                        "app.rs",
                        "// crate::pages::item\nconst S: &str = \"crate::pages::item\";",
                    ),
                    ("pages.rs", "mod item;"),
                    (
                        "pages/item.rs",
                        "use crate::context::C;\n#[cfg(test)]\nmod tests {\n    use crate::app::X;\n}",
                    ),
                    ("context.rs", "/* crate::pages */ use crate::app::Y;"),
                ],
                false,
            ),
        ];
        for (case, files, expected) in cases {
            let mut all = vec![("lib.rs", root)];
            all.extend_from_slice(files);
            let found = cycles_in(&all);
            assert_eq!(!found.is_empty(), *expected, "{case}: {found:?}");
        }
    }

    #[test]
    fn a_cycle_names_each_edge() {
        let found = cycles_in(&[
            ("lib.rs", "mod a;\nmod b;"),
            ("a.rs", "use crate::b::B;\npub struct A;"),
            ("b.rs", "pub struct B;\nfn f() -> crate::a::A { todo!() }"),
        ]);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("a → b  (src/a.rs:1)"), "{}", found[0]);
        assert!(found[0].contains("b → a  (src/b.rs:2)"), "{}", found[0]);
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            use_tree("a, b::{c, d::E as F}, self, g::*"),
            vec![
                vec!["a".to_owned()],
                vec!["b".into(), "c".into()],
                vec!["b".into(), "d".into(), "E".into()],
                vec!["b".into()],
                vec!["g".into()],
            ]
        );
    }
}
