//! Embeds the firmware project (`firmware/`) and the sources it builds from
//! (the `quantmcu-rt` crate and the workspace manifest it inherits fields
//! from, its members cut to the embedded crates) and the C ABI library
//! (`quantmcu-c`) into the binary, so that `quantmcu mcu-run` builds the firmware
//! without the source tree. Writes `$OUT_DIR/firmware_files.rs`: a list of
//! (path relative to the source tree, contents).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

/// Source-tree folders embedded whole (but for build products in `target/`).
const TREES: [&str; 3] = ["firmware", "crates/quantmcu-rt", "crates/quantmcu-c"];
/// Single files embedded.
const FILES: [&str; 1] = ["Cargo.toml"];

/// The workspace manifest as embedded: its members are the embedded crates
/// only (cargo loads every member to build one of them).
fn workspace_manifest(root: &Path) -> String {
    let text = fs::read_to_string(root.join("Cargo.toml")).expect("reading the workspace Cargo.toml");
    let members: Vec<String> = TREES
        .iter()
        .filter(|t| t.starts_with("crates/"))
        .map(|t| format!("{t:?}"))
        .collect();
    text.lines()
        .map(|l| {
            if l.starts_with("members = ") {
                format!("members = [{}]\n", members.join(", "))
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// A crate manifest without its `[dev-dependencies]` (the host library its
/// tests use is not embedded; only `cargo build` runs on the copy).
fn without_dev_dependencies(path: &str) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut out = String::new();
    let mut skip = false;
    for l in text.lines() {
        if l.starts_with('[') {
            skip = l == "[dev-dependencies]";
        }
        if !skip {
            out += l;
            out.push('\n');
        }
    }
    out
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let dir = root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let path = rel.join(&name);
        let kind = e.file_type().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            if name != "target" {
                println!("cargo:rerun-if-changed={}", root.join(&path).display());
                walk(root, &path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..").canonicalize().expect("the source tree");
    let mut files: Vec<PathBuf> = FILES.iter().map(PathBuf::from).collect();
    for tree in TREES {
        walk(&root, Path::new(tree), &mut files);
    }
    let mut code = String::from("&[\n");
    for f in &files {
        let abs = root.join(f);
        println!("cargo:rerun-if-changed={}", abs.display());
        let rel = f.to_str().expect("source paths are UTF-8");
        let abs = abs.to_str().expect("source paths are UTF-8");
        let text = match rel {
            "Cargo.toml" => Some(workspace_manifest(&root)),
            "crates/quantmcu-c/Cargo.toml" => Some(without_dev_dependencies(abs)),
            _ => None,
        };
        if let Some(text) = text {
            writeln!(code, "    ({rel:?}, {text:?}.as_bytes()),").expect("writing to a String");
        } else {
            writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),").expect("writing to a String");
        }
    }
    code.push_str("]\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("firmware_files.rs"), code).expect("writing firmware_files.rs");
}
