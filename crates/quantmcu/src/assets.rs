//! Locating the external assets (models, images, data sets) and fetching them
//! on first use.
//!
//! The cache directory is `$QUANTMCU_ASSETS` when that is set and not empty,
//! else `$XDG_CACHE_HOME/quantmcu`, else `$HOME/.cache/quantmcu` (the rule of
//! `scripts/fetch-assets.sh`, which downloads, extracts and sha256-checks the
//! assets). The fetch script is compiled into the library, so an installed
//! `quantmcu` fetches without the source tree; the test suite exports
//! `QUANTMCU_ASSETS=<source tree>/.assets`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// `scripts/fetch-assets.sh`: the pinned versions, file lists and sha256 sums
/// of every asset, and the commands that fetch them.
pub const FETCH_SCRIPT: &str = include_str!("../../../scripts/fetch-assets.sh");

/// Root of the source tree this library was built from (goldens and test data
/// of the test suite; not present where an installed binary runs).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cache directory from the values of `QUANTMCU_ASSETS`, `XDG_CACHE_HOME`
/// and `HOME` (see the module docs); `None` when none of them is set and not
/// empty.
pub fn dir_from(assets: Option<OsString>, xdg_cache: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    set(assets)
        .or_else(|| set(xdg_cache).map(|c| c.join("quantmcu")))
        .or_else(|| set(home).map(|h| h.join(".cache").join("quantmcu")))
}

/// The cache directory (see the module docs). Fails when neither
/// `QUANTMCU_ASSETS`, `XDG_CACHE_HOME` nor `HOME` is set.
pub fn dir() -> Result<PathBuf> {
    let var = std::env::var_os;
    dir_from(var("QUANTMCU_ASSETS"), var("XDG_CACHE_HOME"), var("HOME")).ok_or_else(|| {
        Error::Input("no asset cache directory: set QUANTMCU_ASSETS (or HOME, or XDG_CACHE_HOME)".into())
    })
}

/// Writes `bytes` to `path` unless it already holds exactly them, through a
/// temporary file renamed into place (a reader never sees a partial file).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{unique}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Runs the fetch script on the cache directory `dir` with `args`.
fn fetch_script(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    let script = dir.join(".fetch-assets.sh");
    write_if_changed(&script, FETCH_SCRIPT.as_bytes())?;
    let mut cmd = Command::new("bash");
    cmd.arg(&script).args(args).env("QUANTMCU_ASSETS", dir);
    // Only the check's output is read; a fetch shows its progress.
    let out = if args.first() == Some(&"--print-dir") {
        cmd.output()
    } else {
        cmd.status().map(|status| std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    };
    out.map_err(|e| Error::Input(format!("cannot run bash (the asset fetch script needs it): {e}")))
}

/// Makes sure asset `part` (`models`, `foolbox`, `fashion-mnist` or `all`) is
/// present and verified in the cache, fetching it if needed; returns the cache
/// directory.
pub fn ensure(part: &str) -> Result<PathBuf> {
    let dir = dir()?;
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    if fetch_script(&dir, &["--print-dir", part])?.status.success() {
        return Ok(dir);
    }
    let fetch = fetch_script(&dir, &[part])?;
    if !fetch.status.success() || !fetch_script(&dir, &["--print-dir", part])?.status.success() {
        return Err(Error::Input(format!(
            "assets '{part}' unavailable in {}: fetching them failed ({}; see the messages above)",
            dir.display(),
            fetch.status
        )));
    }
    Ok(dir)
}

/// Path of a fetched model file, e.g. `vww_mobilenetv1.tflite`.
pub fn model(file: &str) -> Result<PathBuf> {
    Ok(ensure("models")?.join("models").join(file))
}

#[cfg(test)]
mod tests {
    use super::dir_from;
    use std::path::PathBuf;

    #[test]
    fn cache_dir_follows_the_variables_in_order() {
        let s = |v: &str| Some(v.into());
        assert_eq!(dir_from(s("/a"), s("/x"), s("/h")), Some(PathBuf::from("/a")));
        assert_eq!(dir_from(s(""), s("/x"), s("/h")), Some(PathBuf::from("/x/quantmcu")));
        assert_eq!(
            dir_from(None, s(""), s("/h")),
            Some(PathBuf::from("/h/.cache/quantmcu"))
        );
        assert_eq!(dir_from(None, None, None), None);
    }
}
