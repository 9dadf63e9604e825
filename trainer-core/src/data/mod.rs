//! Fashion-MNIST: locating, reading and validating the official IDX files.
//!
//! The four files may be gzip-compressed (`.gz`, as distributed) or raw. Every
//! header field is checked, and every error names the file and what is wrong.

pub mod download;
pub mod folders;
pub mod image_input;
pub mod panic_guard;
pub mod photo;
pub mod scenes;

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

/// Side of a Fashion-MNIST image in pixels, and pixels in one image: the model
/// input's size, defined once in infer-core.
pub use infer_core::{IMAGE_LEN, IMAGE_SIDE};
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Class names, indexed by label (defined once in infer-core).
pub const CLASS_NAMES: [&str; NUM_CLASSES] = infer_core::FASHION_MNIST_CLASSES;
/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Environment variable naming a directory that holds the files.
pub const DIR_ENV: &str = "FASHION_MNIST_DIR";

/// Which half of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

impl Split {
    /// The official file stems (without `.gz`) of the images and labels.
    pub fn file_stems(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }

    /// The number of images the official split holds.
    pub fn expected_len(self) -> usize {
        match self {
            Split::Train => 60_000,
            Split::Test => 10_000,
        }
    }
}

/// One official file: its stem and the SHA-256 of its decompressed content.
///
/// Hashing the decompressed bytes accepts any faithful gzip of the data (Debian
/// re-compressed the files, so their `.gz` bytes differ from the upstream ones).
pub const OFFICIAL_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

/// What can go wrong while finding or reading the data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid IDX file.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Images and labels disagree.
    #[error("{images} and {labels}: {reason}")]
    Mismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// No directory holds the dataset.
    #[error(
        "Fashion-MNIST not found; looked in: {searched}. Install the Debian package \
         `dataset-fashion-mnist`, pass --data DIR, set {DIR_ENV}, or run `trainer data download`"
    )]
    NotFound {
        /// The places searched, comma separated.
        searched: String,
    },
    /// A `--data` folder holds both the IDX files and class folders.
    #[error(
        "{0}: holds both the four Fashion-MNIST IDX files and class folders; give --data a \
         folder with only one of them"
    )]
    BothKinds(PathBuf),
    /// A file's content does not match the official checksum.
    #[error("{path}: SHA-256 of the decompressed content is {found}, expected {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The hash found.
        found: String,
        /// The official hash.
        expected: String,
    },
}

/// A decoded IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Images and labels of one split, pixels as stored (0..=255).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `len() * IMAGE_LEN` pixels, image after image.
    pub images: Vec<u8>,
    /// One label in `0..NUM_CLASSES` per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8; IMAGE_LEN] {
        self.images[i * IMAGE_LEN..(i + 1) * IMAGE_LEN]
            .try_into()
            .expect("slice has IMAGE_LEN bytes")
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_LEN);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset { images, labels }
    }

    /// SHA-256 of the images and labels (hex): names exactly the data a run used, so
    /// that a resumed or merged run can tell when the dataset changed underneath it.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update((self.len() as u64).to_le_bytes());
        hasher.update(&self.images);
        hasher.update(&self.labels);
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * IMAGE_LEN].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

/// Reads a whole file, decompressing it when it starts with the gzip magic.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    match decode_maybe_gzip(&raw, path)? {
        Cow::Borrowed(_) => Ok(raw),
        Cow::Owned(out) => Ok(out),
    }
}

/// Decompresses `bytes` when they start with the gzip magic, else borrows them;
/// `path` only names the file in errors.
pub fn decode_maybe_gzip<'a>(bytes: &'a [u8], path: &Path) -> Result<Cow<'a, [u8]>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError::Invalid {
                path: path.to_owned(),
                reason: format!("corrupt or truncated gzip data ({e})"),
            })?;
        Ok(Cow::Owned(out))
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

/// Parses IDX bytes of unsigned bytes (type code 0x08) with `ndims` dimensions.
pub fn parse_idx(bytes: &[u8], ndims: usize, path: &Path) -> Result<Idx, DataError> {
    let invalid = |reason: String| DataError::Invalid {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() < 4 {
        return Err(invalid(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid(format!(
            "bad magic {:02x} {:02x} {:02x} {:02x}: not an IDX file",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(invalid(format!(
            "element type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        )));
    }
    if usize::from(bytes[3]) != ndims {
        return Err(invalid(format!(
            "{} dimensions, expected {ndims}",
            bytes[3]
        )));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(invalid(format!(
            "truncated header: {} bytes, expected at least {header}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(format!("dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(invalid(format!(
            "dimensions {dims:?} need {expected} data bytes, file has {}{}",
            body.len(),
            if body.len() < expected {
                " (truncated)"
            } else {
                " (trailing bytes)"
            }
        )));
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
}

/// Finds the file `stem` or `stem.gz` in `dir`.
pub fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_owned()]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// True when `dir` holds all four official files (compressed or not).
pub fn has_dataset(dir: &Path) -> bool {
    OFFICIAL_FILES
        .iter()
        .all(|(stem, _)| find_file(dir, stem).is_some())
}

/// The per-user cache folder that `trainer data download` fills.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("fashion-mnist"))
}

/// Finds the dataset directory: `explicit` (`--data`) if given, else
/// `$FASHION_MNIST_DIR`, Debian's folder, then the per-user cache.
///
/// A directory named explicitly (by flag or variable) must hold the files:
/// there is no silent fallback past it.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, DataError> {
    if let Some(dir) = explicit {
        return check_named(dir, "--data");
    }
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|v| !v.is_empty()) {
        return check_named(Path::new(&dir), DIR_ENV);
    }
    let mut searched = Vec::new();
    for dir in [Some(PathBuf::from(DEBIAN_DIR)), cache_dir()]
        .into_iter()
        .flatten()
    {
        if has_dataset(&dir) {
            return Ok(dir);
        }
        searched.push(dir.display().to_string());
    }
    Err(DataError::NotFound {
        searched: searched.join(", "),
    })
}

/// What a folder given as `--data DIR` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    /// The four Fashion-MNIST IDX files.
    FashionMnist(PathBuf),
    /// Labelled picture folders, `DIR/<class name>/*.png|jpg` ([`folders`]).
    Pictures(PathBuf),
}

/// Tells the two kinds of `--data` folder apart: the four IDX files, or class folders
/// (at least one visible sub-folder). A folder holding both is an error, one holding
/// neither is [`DataError::NotFound`].
pub fn data_dir_kind(dir: &Path) -> Result<DataDir, DataError> {
    match (has_dataset(dir), folders::has_class_folders(dir)) {
        (true, false) => Ok(DataDir::FashionMnist(dir.to_owned())),
        (false, true) => Ok(DataDir::Pictures(dir.to_owned())),
        (true, true) => Err(DataError::BothKinds(dir.to_owned())),
        (false, false) => Err(DataError::NotFound {
            searched: if dir.is_dir() {
                format!(
                    "{} (named by --data; it holds neither the four IDX files nor class \
                     folders, DIR/<class name>/*.png|jpg)",
                    dir.display()
                )
            } else {
                format!("{} (named by --data)", dir.display())
            },
        }),
    }
}

fn check_named(dir: &Path, by: &str) -> Result<PathBuf, DataError> {
    if has_dataset(dir) {
        Ok(dir.to_owned())
    } else {
        Err(DataError::NotFound {
            searched: format!("{} (named by {by})", dir.display()),
        })
    }
}

/// Loads one split from `dir`, checking shapes, counts and label range.
pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let (image_stem, label_stem) = split.file_stems();
    let missing = |stem: &str| DataError::Io {
        path: dir.join(format!("{stem}.gz")),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (nor unzipped)"),
    };
    let image_path = find_file(dir, image_stem).ok_or_else(|| missing(image_stem))?;
    let label_path = find_file(dir, label_stem).ok_or_else(|| missing(label_stem))?;
    load_pair(&image_path, &label_path)
}

/// Loads an image file and a label file that belong together.
pub fn load_pair(image_path: &Path, label_path: &Path) -> Result<Dataset, DataError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })
    };
    pair_from_bytes(
        &read(image_path)?,
        image_path,
        &read(label_path)?,
        label_path,
    )
}

/// Checks and decodes the contents of an image file and a label file (each raw or
/// gzip-compressed) that belong together; the paths only name the files in errors.
///
/// This is [`load_pair`] without the file system (the fuzz target `idx` calls it).
pub fn pair_from_bytes(
    image_file: &[u8],
    image_path: &Path,
    label_file: &[u8],
    label_path: &Path,
) -> Result<Dataset, DataError> {
    let images = parse_idx(&decode_maybe_gzip(image_file, image_path)?, 3, image_path)?;
    if images.dims[1] != IMAGE_SIDE || images.dims[2] != IMAGE_SIDE {
        return Err(DataError::Invalid {
            path: image_path.to_owned(),
            reason: format!(
                "images are {}x{}, expected {IMAGE_SIDE}x{IMAGE_SIDE}",
                images.dims[1], images.dims[2]
            ),
        });
    }
    let labels = parse_idx(&decode_maybe_gzip(label_file, label_path)?, 1, label_path)?;
    if labels.dims[0] != images.dims[0] {
        return Err(DataError::Mismatch {
            images: image_path.to_owned(),
            labels: label_path.to_owned(),
            reason: format!("{} images but {} labels", images.dims[0], labels.dims[0]),
        });
    }
    if let Some(pos) = labels
        .data
        .iter()
        .position(|&l| usize::from(l) >= NUM_CLASSES)
    {
        return Err(DataError::Invalid {
            path: label_path.to_owned(),
            reason: format!(
                "label {} at index {pos} is outside 0..{NUM_CLASSES}",
                labels.data[pos]
            ),
        });
    }
    Ok(Dataset {
        images: images.data,
        labels: labels.data,
    })
}

/// SHA-256 (hex) of a file's decompressed content.
pub fn content_sha256(path: &Path) -> Result<String, DataError> {
    let bytes = read_maybe_gzip(path)?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Checks `path` (the file of `stem`) against the official checksum.
pub fn verify_official(path: &Path, stem: &str) -> Result<(), DataError> {
    let expected = OFFICIAL_FILES
        .iter()
        .find(|(s, _)| *s == stem)
        .map(|(_, h)| *h)
        .ok_or_else(|| DataError::Invalid {
            path: path.to_owned(),
            reason: format!("{stem} is not an official Fashion-MNIST file"),
        })?;
    let found = content_sha256(path)?;
    if found == expected {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_owned(),
            found,
            expected: expected.to_owned(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes an IDX file of `dims` with `data` (optionally gzip-compressed).
    pub(crate) fn write_idx(path: &Path, dims: &[u32], data: &[u8], gzip: bool) {
        let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&bytes).unwrap();
            bytes = enc.finish().unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }

    fn tiny_pair(dir: &Path, gzip: bool) -> (PathBuf, PathBuf) {
        let ext = if gzip { ".gz" } else { "" };
        let images = dir.join(format!("i{ext}"));
        let labels = dir.join(format!("l{ext}"));
        let pixels: Vec<u8> = (0..3 * IMAGE_LEN).map(|i| (i % 251) as u8).collect();
        write_idx(&images, &[3, 28, 28], &pixels, gzip);
        write_idx(&labels, &[3], &[0, 9, 4], gzip);
        (images, labels)
    }

    #[test]
    fn reads_gzip_and_raw_alike() {
        let dir = tempfile::tempdir().unwrap();
        let gz = tiny_pair(&dir.path().join("."), true);
        let a = load_pair(&gz.0, &gz.1).unwrap();
        let raw_dir = dir.path().join("raw");
        std::fs::create_dir(&raw_dir).unwrap();
        let raw = tiny_pair(&raw_dir, false);
        let b = load_pair(&raw.0, &raw.1).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.labels, vec![0, 9, 4]);
        assert_eq!(a.image(1)[0], (IMAGE_LEN % 251) as u8);
    }

    fn err_of(bytes: &[u8], ndims: usize) -> String {
        parse_idx(bytes, ndims, Path::new("x.idx"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rejects_bad_headers_and_sizes() {
        assert!(err_of(&[0, 0], 1).contains("too short"));
        assert!(err_of(&[1, 2, 8, 1, 0, 0, 0, 0], 1).contains("bad magic"));
        assert!(err_of(&[0, 0, 0x0d, 1, 0, 0, 0, 0], 1).contains("element type"));
        assert!(err_of(&[0, 0, 8, 2, 0, 0, 0, 0], 1).contains("2 dimensions"));
        assert!(err_of(&[0, 0, 8, 1, 0, 0], 1).contains("truncated header"));
        assert!(err_of(&[0, 0, 8, 1, 0, 0, 0, 3, 1, 2], 1).contains("(truncated)"));
        assert!(err_of(&[0, 0, 8, 1, 0, 0, 0, 1, 1, 2], 1).contains("(trailing bytes)"));
        let e = err_of(&[0, 0, 8, 1, 0, 0, 0, 1, 1, 2], 1);
        assert!(e.starts_with("x.idx: "), "{e}");
    }

    #[test]
    fn rejects_truncated_gzip_label_range_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = tiny_pair(dir.path(), true);
        let bytes = std::fs::read(&images).unwrap();
        std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_pair(&images, &labels).unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");

        let (images, labels) = tiny_pair(dir.path(), false);
        write_idx(&labels, &[3], &[0, 10, 1], false);
        let e = load_pair(&images, &labels).unwrap_err().to_string();
        assert!(e.contains("label 10 at index 1"), "{e}");

        write_idx(&labels, &[2], &[0, 1], false);
        let e = load_pair(&images, &labels).unwrap_err().to_string();
        assert!(e.contains("3 images but 2 labels"), "{e}");

        write_idx(&images, &[1, 27, 27], &[0; 27 * 27], false);
        let e = load_pair(&images, &labels).unwrap_err().to_string();
        assert!(e.contains("27x27"), "{e}");
    }

    #[test]
    fn locate_prefers_the_named_directory_and_never_falls_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = locate(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("named by --data"), "{e}");
        for (stem, _) in OFFICIAL_FILES {
            std::fs::write(dir.path().join(format!("{stem}.gz")), b"x").unwrap();
        }
        assert_eq!(locate(Some(dir.path())).unwrap(), dir.path());
    }

    #[test]
    fn a_data_folder_is_told_apart_by_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let e = data_dir_kind(&d.join("none")).unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
        let e = data_dir_kind(d).unwrap_err().to_string();
        assert!(e.contains("neither"), "{e}");
        std::fs::create_dir(d.join(".cache")).unwrap();
        assert!(data_dir_kind(d).is_err(), "a hidden folder is no class");
        std::fs::create_dir(d.join("Shirt")).unwrap();
        assert_eq!(data_dir_kind(d).unwrap(), DataDir::Pictures(d.to_owned()));
        for (stem, _) in OFFICIAL_FILES {
            std::fs::write(d.join(format!("{stem}.gz")), b"x").unwrap();
        }
        let e = data_dir_kind(d).unwrap_err().to_string();
        assert!(e.contains("both"), "{e}");
        std::fs::remove_dir(d.join("Shirt")).unwrap();
        assert_eq!(
            data_dir_kind(d).unwrap(),
            DataDir::FashionMnist(d.to_owned())
        );
    }

    #[test]
    fn checksum_verification_accepts_any_gzip_of_the_same_content() {
        let dir = tempfile::tempdir().unwrap();
        let (images, _) = tiny_pair(dir.path(), true);
        let raw = dir.path().join("raw");
        std::fs::write(&raw, read_maybe_gzip(&images).unwrap()).unwrap();
        assert_eq!(
            content_sha256(&images).unwrap(),
            content_sha256(&raw).unwrap()
        );
        let e = verify_official(&images, "t10k-labels-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SHA-256"), "{e}");
        assert!(verify_official(&images, "nonsense").is_err());
    }

    #[test]
    fn select_and_head_keep_images_with_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = tiny_pair(dir.path(), false);
        let d = load_pair(&images, &labels).unwrap();
        let s = d.select(&[2, 0]);
        assert_eq!(s.labels, vec![4, 0]);
        assert_eq!(s.image(0), d.image(2));
        assert_eq!(d.head(10).len(), 3);
        assert_eq!(d.head(1).labels, vec![0]);
    }
}
