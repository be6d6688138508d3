//! Folder layouts: one subfolder per class, and foolbox-style
//! `{set}_{index}_{label}` files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Image, Kind};
use crate::{Error, Result};

/// (absolute path, name shown, label) of each image file.
pub(super) type Files = Vec<(PathBuf, String, usize)>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Non-hidden entries of `dir`, sorted by file name (byte order): (name, path, is_dir).
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follows symbolic links (data sets are often linked in).
        let is_dir = path.is_dir();
        out.push((name, path, is_dir));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn is_image(name: &str) -> bool {
    Path::new(name).extension().and_then(|e| e.to_str()).is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        e == "png" || e == "jpg" || e == "jpeg"
    })
}

/// Splits a foolbox-style file name `{set}_{index}_{label}.{ext}`.
fn parse_foolbox(name: &str) -> Option<(&str, usize, usize)> {
    if !is_image(name) {
        return None;
    }
    let stem = &name[..name.rfind('.')?];
    let mut parts = stem.rsplitn(3, '_');
    let (label, index, set) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if set.is_empty() || !digits(index) || !digits(label) {
        return None;
    }
    Some((set, index.parse().ok()?, label.parse().ok()?))
}

/// The layout of folder `dir`.
pub(super) fn detect(dir: &Path) -> Result<Kind> {
    let entries = entries(dir)?;
    if entries.iter().any(|e| e.2) {
        return Ok(Kind::ClassFolder);
    }
    if entries.iter().any(|e| parse_foolbox(&e.0).is_some()) {
        return Ok(Kind::Foolbox);
    }
    let idx: Vec<&str> = entries
        .iter()
        .map(|e| e.0.as_str())
        .filter(|n| n.contains("-images-idx3-"))
        .collect();
    if !idx.is_empty() {
        return Err(Error::Input(format!(
            "{}: is a folder of IDX files; give one images file: {}",
            dir.display(),
            idx.iter()
                .map(|n| dir.join(n).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Err(Error::Input(format!(
        "{}: holds neither class subfolders nor {{set}}_{{index}}_{{label}}.png|jpg files",
        dir.display()
    )))
}

/// Reads a class folder: (class names, image files).
pub(super) fn class_folder(dir: &Path) -> Result<(Vec<String>, Files)> {
    let mut names = Vec::new();
    let mut files = Vec::new();
    for (class, (name, path, _)) in entries(dir)?.into_iter().filter(|e| e.2).enumerate() {
        for (file, fpath, is_dir) in entries(&path)? {
            if !is_dir && is_image(&file) {
                files.push((fpath, format!("{name}/{file}"), class));
            }
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(Error::Input(format!("{}: has no class subfolders", dir.display())));
    }
    Ok((names, files))
}

/// Reads a foolbox-style folder: (names of the sets taken, image files).
/// With `set`, only that set; without, every set of the folder, set by set
/// in the byte order of their names. Within a set, files are ordered by index.
pub(super) fn foolbox(dir: &Path, set: Option<&str>) -> Result<(Vec<String>, Files)> {
    let mut found: Vec<(String, usize, usize, PathBuf, String)> = Vec::new();
    for (name, path, is_dir) in entries(dir)? {
        if is_dir {
            continue;
        }
        if let Some((s, index, label)) = parse_foolbox(&name) {
            found.push((s.to_owned(), index, label, path, name));
        }
    }
    let sets: BTreeSet<String> = found.iter().map(|f| f.0.clone()).collect();
    if sets.is_empty() {
        return Err(Error::Input(format!(
            "{}: holds no {{set}}_{{index}}_{{label}}.png|jpg files",
            dir.display()
        )));
    }
    let chosen: Vec<String> = match set {
        Some(s) if sets.contains(s) => vec![s.to_owned()],
        Some(s) => {
            return Err(Error::Input(format!(
                "{}: holds no set '{s}' (sets: {})",
                dir.display(),
                sets.iter().cloned().collect::<Vec<_>>().join(", ")
            )))
        }
        None => sets.into_iter().collect(),
    };
    found.retain(|f| chosen.contains(&f.0));
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| a.4.cmp(&b.4)));
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1) {
        return Err(Error::Input(format!(
            "{}: set '{}' has index {} twice ({} and {})",
            dir.display(),
            w[0].0,
            w[0].1,
            w[0].4,
            w[1].4
        )));
    }
    let files = found
        .into_iter()
        .map(|(_, _, label, path, name)| (path, name, label))
        .collect();
    Ok((chosen, files))
}

/// Decodes an image file to 8-bit RGB, or 8-bit luma when it has no colour.
pub(super) fn decode(path: &Path, name: String, label: usize) -> Result<Image> {
    let img = image::open(path).map_err(|e| Error::Input(format!("{}: cannot decode image: {e}", path.display())))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (channels, pixels) = if img.color().has_color() {
        (3, img.to_rgb8().into_raw())
    } else {
        (1, img.to_luma8().into_raw())
    };
    Ok(Image {
        name,
        width,
        height,
        channels,
        pixels,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_foolbox;

    #[test]
    fn foolbox_names() {
        assert_eq!(parse_foolbox("cifar10_00_3.png"), Some(("cifar10", 0, 3)));
        assert_eq!(parse_foolbox("imagenet_19_559.jpg"), Some(("imagenet", 19, 559)));
        assert_eq!(parse_foolbox("my_set_7_1.JPEG"), Some(("my_set", 7, 1)));
        assert_eq!(parse_foolbox("cifar10_00_3.npy"), None);
        assert_eq!(parse_foolbox("cifar10_0x_3.png"), None);
        assert_eq!(parse_foolbox("_00_3.png"), None);
        assert_eq!(parse_foolbox("00_3.png"), None);
    }
}
