//! Locating the external assets (models, images, data sets) that
//! `scripts/fetch-assets.sh` downloads, caches and checks, fetching them on
//! first use. The cache is `$QUANTMCU_ASSETS`, or `.assets/` in the source tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Root of the source tree this library was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fetch_script() -> PathBuf {
    repo_root().join("scripts/fetch-assets.sh")
}

/// Makes sure asset `part` (`models`, `foolbox`, `fashion-mnist` or `all`) is
/// present and verified, running the fetch script if needed; returns the cache
/// directory.
pub fn ensure(part: &str) -> Result<PathBuf> {
    let script = fetch_script();
    let fail = |detail: String| {
        Error::Input(format!(
            "assets '{part}' unavailable: {detail}; run `{} {part}`",
            script.display()
        ))
    };
    let check = Command::new("bash")
        .arg(&script)
        .args(["--print-dir", part])
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if check.status.success() {
        return Ok(PathBuf::from(String::from_utf8_lossy(&check.stdout).trim()));
    }
    let status = Command::new("bash")
        .arg(&script)
        .arg(part)
        .status()
        .map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("the fetch script exited with {status}")));
    }
    let again = Command::new("bash")
        .arg(&script)
        .args(["--print-dir", part])
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !again.status.success() {
        return Err(fail("the fetch script did not produce them".into()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&again.stdout).trim()))
}

/// Path of a fetched model file, e.g. `vww_mobilenetv1.tflite`.
pub fn model(file: &str) -> Result<PathBuf> {
    Ok(ensure("models")?.join("models").join(file))
}
