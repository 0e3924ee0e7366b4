//! The README's getting-started program is `examples/getting_started.rs`, word for word, and
//! the README lists every example.

use std::path::Path;

/// The contents of `path`, relative to the repository's root.
fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn the_getting_started_program_is_the_example_file() {
    let readme = read("README.md");
    let example = read("examples/getting_started.rs");
    let block = format!("```rust\n{example}```\n");
    assert!(
        readme.contains(&block),
        "README.md's getting-started block differs from examples/getting_started.rs: copy the \
         file into the README again"
    );
}

#[test]
fn the_readme_lists_every_example() {
    let readme = read("README.md");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                readme.contains(&format!("--example {name}")),
                "README.md does not say how to run the example `{name}`"
            );
        }
    }
}

#[test]
fn the_first_lines_give_the_demo_and_test_commands() {
    let readme = read("README.md");
    let first = readme.split("\n## ").next().unwrap();
    assert!(
        first.contains("cargo run --release --example demo"),
        "{first}"
    );
    assert!(first.contains("cargo test --workspace"), "{first}");
}

/// The Markdown link targets in `text`: what sits between `](` and the next `)`.
fn link_targets(text: &str) -> Vec<&str> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .collect()
}

#[test]
fn the_readme_and_docs_link_only_files_of_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            pages.push(path);
        }
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in link_targets(&text) {
            let file = target.split('#').next().unwrap();
            assert!(
                !target.contains("://") && !file.starts_with('/'),
                "{}: the link `{target}` leaves the repository",
                page.display()
            );
            if file.is_empty() {
                continue;
            }
            let resolved = page.parent().unwrap().join(file);
            let resolved = resolved.canonicalize().unwrap_or_else(|err| {
                panic!("{}: the link `{target}` is broken: {err}", page.display())
            });
            assert!(
                resolved.starts_with(root.canonicalize().unwrap()),
                "{}: the link `{target}` leaves the repository",
                page.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no links found: the scan is broken");
}

#[test]
fn the_link_scan_sees_links() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x) and [b](../b.md)."),
        ["docs/a.md#x", "../b.md"]
    );
}
