//! Labelled image data sets: loaders for the three layouts quantmcu reads,
//! reproducible subsets, and accuracy evaluation of a model over a data set.
//!
//! A [`Dataset`] is an ordered list of labelled 8-bit images. Its source is one
//! of ([`Kind`]):
//!
//! - **IDX** (the MNIST layout): a file `*-images-idx3-ubyte` (raw or gzip,
//!   `N x rows x cols` grayscale) whose labels are the file beside it named
//!   with `-images-idx3-` replaced by `-labels-idx1-`. Headers are checked
//!   strictly (magic, data type, dimensions, declared size against the data
//!   really present, image and label counts); see [`idx_labels_path`].
//! - **Class folder**: a folder with one subfolder per class. The class index
//!   is the position of the subfolder in the byte order of the subfolder
//!   names (empty subfolders still take an index), and the names are
//!   recorded ([`Dataset::class_names`]). The PNG/JPEG files directly inside
//!   each subfolder are its images, in file-name order.
//! - **Foolbox-style**: a folder of files named `{set}_{index}_{label}.png|jpg|jpeg`
//!   (as foolbox ships its sample images, e.g. `cifar10_00_3.png`), ordered by
//!   index. A folder holding several sets gives all of them, set by set in
//!   name order, unless a set name chooses one.
//!
//! [`Dataset::open`] picks the kind from the path. Image files are decoded
//! when an item is read ([`Dataset::get`]), to 8-bit RGB, or to 8-bit luma
//! when the file has no colour; IDX images are held in memory.
//!
//! **Preprocessing** to a model's input is not defined here: [`Image::to_input`]
//! hands the pixels to [`crate::input::from_pixels`], the one place that
//! converts channels, resizes (bilinear) and quantizes for every input path.
//!
//! **Subsets** are chosen explicitly with a [`Split`] (see its docs for the
//! exact, seeded shuffle).

mod eval;
mod folder;
mod idx;
mod split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ir::Graph;
use crate::tensor::TensorData;
use crate::{Error, Result};

pub use eval::{class_scores, evaluate, top_k, ClassResult, Evaluation};
pub use idx::{labels_path as idx_labels_path, MAX_BYTES as IDX_MAX_BYTES};
pub use split::Split;

/// One labelled 8-bit image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Where it comes from: a file name (relative to the data set's folder),
    /// or `file#index` for an item of an IDX file.
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// 1 (luma) or 3 (RGB).
    pub channels: usize,
    /// `height x width x channels` bytes, HWC order.
    pub pixels: Vec<u8>,
    /// Class index.
    pub label: usize,
}

impl Image {
    /// Converts the image to input 0 of `graph` through
    /// [`crate::input::from_pixels`] (channels, bilinear resize, quantization).
    pub fn to_input(&self, graph: &Graph) -> Result<TensorData> {
        crate::input::from_pixels(graph, &self.pixels, self.width, self.height, self.channels)
            .map_err(|e| Error::Input(format!("{}: {e}", self.name)))
    }

    /// The image flipped left to right (named `name#mirror`).
    pub fn mirrored(&self) -> Image {
        let row = self.width * self.channels;
        let mut pixels = Vec::with_capacity(self.pixels.len());
        for r in self.pixels.chunks_exact(row.max(1)) {
            for px in r.chunks_exact(self.channels.max(1)).rev() {
                pixels.extend_from_slice(px);
            }
        }
        Image {
            name: format!("{}#mirror", self.name),
            pixels,
            ..self.clone()
        }
    }
}

/// The layout a data set was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An IDX images file and its labels file.
    Idx,
    /// A folder with one subfolder per class.
    ClassFolder,
    /// A folder of `{set}_{index}_{label}` image files.
    Foolbox,
}

impl Kind {
    /// A short human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Idx => "IDX",
            Kind::ClassFolder => "class folder",
            Kind::Foolbox => "foolbox-style folder",
        }
    }
}

/// Where the items of a data set live.
#[derive(Debug)]
enum Items {
    /// IDX: `count` grayscale images of `rows x cols`, back to back.
    Idx {
        file: String,
        rows: usize,
        cols: usize,
        pixels: Vec<u8>,
        labels: Vec<u8>,
    },
    /// Image files (absolute path, name shown, label).
    Files(Vec<(PathBuf, String, usize)>),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Idx { labels, .. } => labels.len(),
            Items::Files(f) => f.len(),
        }
    }
}

/// An ordered list of labelled images (see the module docs). Cloning and
/// taking subsets are cheap: the items are shared.
#[derive(Clone, Debug)]
pub struct Dataset {
    kind: Kind,
    path: PathBuf,
    sets: Vec<String>,
    class_names: Option<Vec<String>>,
    items: Arc<Items>,
    /// Positions in `items`, in this data set's order.
    order: Vec<usize>,
}

impl Dataset {
    /// Opens `path`, choosing the layout from it: a file is an IDX images
    /// file; a folder with subfolders is a class folder; a folder of
    /// `{set}_{index}_{label}` files is foolbox-style (all of its sets; see
    /// [`Dataset::open_set`]).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_set(path, None)
    }

    /// As [`Dataset::open`], keeping only the set named `set` of a
    /// foolbox-style folder (`cifar10` keeps `cifar10_*` and not
    /// `cifar100_*`). A set name for another layout is an error.
    pub fn open_set(path: &Path, set: Option<&str>) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let kind = if meta.is_dir() {
            folder::detect(path)?
        } else {
            Kind::Idx
        };
        if let (Some(s), false) = (set, kind == Kind::Foolbox) {
            return Err(Error::Input(format!(
                "{}: is an {}; the set name '{s}' applies only to folders of {{set}}_{{index}}_{{label}} files",
                path.display(),
                kind.name()
            )));
        }
        match kind {
            Kind::Idx => Self::idx(path),
            Kind::ClassFolder => Self::class_folder(path),
            Kind::Foolbox => Self::foolbox(path, set),
        }
    }

    /// Reads an IDX images file and the labels file beside it (see
    /// [`idx_labels_path`]).
    pub fn idx(images: &Path) -> Result<Self> {
        let name = images.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if name.contains("-labels-idx1-") {
            return Err(Error::Input(format!(
                "{}: is an IDX labels file; give the images file (*-images-idx3-ubyte[.gz]) beside it",
                images.display()
            )));
        }
        let labels_path = idx::labels_path(images)?;
        let img = idx::read(images, 3)?;
        let (count, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
        if count > 0 && (rows == 0 || cols == 0) {
            return Err(Error::Input(format!(
                "{}: IDX images of {rows} x {cols} pixels",
                images.display()
            )));
        }
        let lab = idx::read(&labels_path, 1)?;
        if lab.dims[0] != count {
            return Err(Error::Input(format!(
                "{}: holds {} labels, but {} holds {count} images",
                labels_path.display(),
                lab.dims[0],
                images.display()
            )));
        }
        let items = Items::Idx {
            file: name.into_owned(),
            rows,
            cols,
            pixels: img.data,
            labels: lab.data,
        };
        Ok(Self::new(Kind::Idx, images, Vec::new(), None, items))
    }

    /// Reads a folder with one subfolder per class (see the module docs).
    pub fn class_folder(dir: &Path) -> Result<Self> {
        let (names, files) = folder::class_folder(dir)?;
        Ok(Self::new(
            Kind::ClassFolder,
            dir,
            Vec::new(),
            Some(names),
            Items::Files(files),
        ))
    }

    /// Reads a folder of `{set}_{index}_{label}.png|jpg|jpeg` files, keeping
    /// only set `set` when given; without it, every set of the folder, set by
    /// set in name order.
    pub fn foolbox(dir: &Path, set: Option<&str>) -> Result<Self> {
        let (sets, files) = folder::foolbox(dir, set)?;
        Ok(Self::new(Kind::Foolbox, dir, sets, None, Items::Files(files)))
    }

    fn new(kind: Kind, path: &Path, sets: Vec<String>, class_names: Option<Vec<String>>, items: Items) -> Self {
        let order = (0..items.len()).collect();
        Dataset {
            kind,
            path: path.to_path_buf(),
            sets,
            class_names,
            items: Arc::new(items),
            order,
        }
    }

    /// The layout it was read from.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file or folder it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sets of a foolbox-style folder this data set holds, in its order
    /// (empty for the other layouts).
    pub fn sets(&self) -> &[String] {
        &self.sets
    }

    /// Class names, by class index (class folders only).
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when it holds no image.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Label of image `i`, without decoding it. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        match &*self.items {
            Items::Idx { labels, .. } => usize::from(labels[self.order[i]]),
            Items::Files(f) => f[self.order[i]].2,
        }
    }

    /// Name of image `i` (see [`Image::name`]). Panics if `i >= len()`.
    pub fn name(&self, i: usize) -> String {
        match &*self.items {
            Items::Idx { file, .. } => format!("{file}#{}", self.order[i]),
            Items::Files(f) => f[self.order[i]].1.clone(),
        }
    }

    /// Reads image `i` (decoding a file if needed). Panics if `i >= len()`.
    pub fn get(&self, i: usize) -> Result<Image> {
        let k = self.order[i];
        match &*self.items {
            Items::Idx { rows, cols, pixels, .. } => {
                let n = rows * cols;
                Ok(Image {
                    name: self.name(i),
                    width: *cols,
                    height: *rows,
                    channels: 1,
                    pixels: pixels[k * n..(k + 1) * n].to_vec(),
                    label: self.label(i),
                })
            }
            Items::Files(f) => {
                let (path, name, label) = &f[k];
                folder::decode(path, name.clone(), *label)
            }
        }
    }

    /// Reads every image in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Image>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The subset `split` chooses (see [`Split::indices`]), in its order.
    pub fn subset(&self, split: &Split) -> Dataset {
        let order = split.indices(self.len()).into_iter().map(|i| self.order[i]).collect();
        Dataset { order, ..self.clone() }
    }
}
