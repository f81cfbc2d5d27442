//! Build-time inputs the compiler cannot see by itself.
//!
//! - `sqlx::migrate!` embeds `sql/` at compile time, but cargo only rebuilds when a Rust source
//!   changes: without the `rerun-if-changed`, a new migration file is silently left out of an
//!   incremental build (sqlx's documented remedy).
//! - The web client (`web/`) is embedded into the binary, so `onestatus serve` serves it from
//!   any directory with nothing else installed. This script lists its files into
//!   `$OUT_DIR/web_assets.rs` as `include_bytes!` entries (no build step of the client itself:
//!   the files are served as written); `api::web` serves that table.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=sql");
    println!("cargo:rerun-if-changed=web");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = root.join("web");
    let mut files = Vec::new();
    collect(&web, &web, &mut files);
    files.sort();
    let mut out = String::from("/// The web client's files: (path below `web/`, contents).\n");
    out.push_str("pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("web_assets.rs");
    std::fs::write(dest, out).expect("write web_assets.rs");
}

/// Every file below `dir`, as (path relative to `base` with `/` separators, absolute path).
/// Hidden files (editor swap files, `.DS_Store`) are left out.
fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(base, &path, files);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((rel, path.display().to_string()));
        }
    }
}
