//! Labelled picture folders, `DIR/<class name>/*.png|jpg` (the layout of torchvision's
//! `ImageFolder` and Keras' `image_dataset_from_directory`, and what `trainer camera
//! record` writes): every picture read through the same preprocessing as `trainer
//! predict` and the firmware ([`image_input::from_bytes`], which runs
//! `camera::preprocess`), unreadable and duplicate files skipped and reported, and a
//! held-out part chosen per file from its content, so that it is reproducible and adding
//! files never moves the others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::image_input::{self, Reading};
use crate::data::{Dataset, IMAGE_LEN};

/// File name endings (any case) read as pictures; other files are reported and skipped.
pub const PICTURE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Most classes a model can have: the `.fmq` format's limit.
pub const MAX_CLASSES: usize = infer_core::MAX_CLASSES;
/// Longest class name, in bytes, for a class of one's own (the folder's name): the
/// board's screen shows 26 characters a line, and its line `seen: <name>` spends 6
/// (`firmware/common/src/display.rs`).
pub const MAX_NAME_BYTES: usize = 20;
/// The held-out fraction when none is given: one picture in five.
pub const DEFAULT_HELD_OUT: f64 = 0.2;

/// The key a class name is matched by: its letters and digits, lowercase (so that the
/// folder `T-shirt-top` is the class `T-shirt/top`).
pub fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which classes the folders stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classes<'a> {
    /// The classes of an existing model, by name (matched with [`name_key`]); not every
    /// class needs a folder, but every folder must match a class.
    Known(&'a [String]),
    /// Classes of one's own: one class per folder, named as the folder and ordered by
    /// name.
    Own,
}

/// How to read a folder set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options<'a> {
    /// The classes.
    pub classes: Classes<'a>,
    /// Fraction of the pictures held out for evaluation, in `0..1`.
    pub held_out: f64,
    /// Seed of the held-out choice.
    pub seed: u64,
    /// How each picture is read, as `trainer predict --mode`.
    pub reading: Reading,
}

/// What can be wrong with a folder set.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The folder or one of its class folders cannot be listed.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No class folders at all.
    #[error("{0}: no class folders; expected DIR/<class name>/*.png|jpg (one folder per class)")]
    NoClasses(PathBuf),
    /// A folder names no class of the model.
    #[error(
        "{folder}: no class of the model is called {name:?} (case, spaces and punctuation \
         are ignored); the classes are: {known}. For classes of your own, give --own-classes"
    )]
    UnknownClass {
        /// The class folder.
        folder: PathBuf,
        /// Its name.
        name: String,
        /// The model's class names, comma separated.
        known: String,
    },
    /// Two folders name the same class.
    #[error("{first} and {second} are the same class (case, spaces and punctuation are ignored)")]
    SameClass {
        /// One folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A class of one's own has a name that cannot be used.
    #[error(
        "{0}: a class name needs a letter or digit and at most {MAX_NAME_BYTES} bytes \
         (rename the folder)"
    )]
    BadName(PathBuf),
    /// More classes than a model can have.
    #[error("{dir}: {count} class folders; a model has at most {MAX_CLASSES} classes")]
    TooManyClasses {
        /// The folder set.
        dir: PathBuf,
        /// Class folders found.
        count: usize,
    },
    /// Own classes need at least two.
    #[error("{0}: one class folder; classes of your own need at least two")]
    OneClass(PathBuf),
    /// A class of one's own without a usable picture.
    #[error("{0}: no usable picture in this class folder (see the skipped files above)")]
    EmptyClass(PathBuf),
    /// No usable picture anywhere.
    #[error("{0}: no usable pictures (.png, .jpg) in its class folders")]
    NoPictures(PathBuf),
    /// The held-out fraction is out of range.
    #[error("held-out fraction {0}: must be at least 0 and below 1")]
    BadFraction(f64),
}

/// Why a file was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SkipReason {
    /// The file could not be read or decoded.
    Unreadable {
        /// The error.
        error: String,
    },
    /// The same bytes as an earlier file (in path order).
    Duplicate {
        /// The file kept.
        of: PathBuf,
    },
    /// The preprocessing found no garment in it.
    NoGarment {
        /// Why.
        reason: String,
    },
    /// Not a `.png` or `.jpg` file, or a folder inside a class folder.
    NotAPicture,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Unreadable { error } => write!(f, "unreadable: {error}"),
            SkipReason::Duplicate { of } => write!(f, "a duplicate of {}", of.display()),
            SkipReason::NoGarment { reason } => write!(f, "no garment found ({reason})"),
            SkipReason::NotAPicture => write!(f, "not a .png or .jpg picture"),
        }
    }
}

/// A file left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// One usable picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// The file.
    pub path: PathBuf,
    /// Its class (an index into [`Folders::class_names`]).
    pub class: u8,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// The model input preprocessing made of it.
    pub input: Box<[u8; IMAGE_LEN]>,
    /// True when it belongs to the held-out part.
    pub held_out: bool,
}

/// How the held-out part was chosen, and what it holds: recorded beside a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// The folder set.
    pub dir: PathBuf,
    /// Fraction asked for.
    pub held_out_fraction: f64,
    /// Seed of the choice.
    pub seed: u64,
    /// The rule, in words.
    pub rule: String,
    /// Pictures per class trained on, in class order.
    pub train_per_class: Vec<usize>,
    /// Pictures per class held out, in class order.
    pub held_out_per_class: Vec<usize>,
    /// SHA-256 (hex) over the held-out files' hashes, in path order: names the
    /// held-out part exactly.
    pub held_out_sha256: String,
    /// Files left out.
    pub skipped: usize,
}

/// A read folder set.
#[derive(Debug, Clone, PartialEq)]
pub struct Folders {
    /// The folder set.
    pub dir: PathBuf,
    /// The class names, in label order.
    pub class_names: Vec<String>,
    /// The class folder of each class, `None` for a known class without a folder.
    pub class_folders: Vec<Option<PathBuf>>,
    /// The usable pictures, in path order.
    pub pictures: Vec<Picture>,
    /// The files left out, in path order.
    pub skipped: Vec<Skipped>,
    /// Fraction held out.
    pub held_out_fraction: f64,
    /// Seed of the held-out choice.
    pub seed: u64,
}

/// The rule that picks the held-out pictures, as recorded.
pub const SPLIT_RULE: &str = "held out when the first 8 bytes (big-endian) of \
     SHA-256(\"held-out\" || seed as 8 little-endian bytes || SHA-256 of the file) / 2^64 \
     < the fraction";

/// True when a picture of content hash `sha256` is held out (see [`SPLIT_RULE`]).
pub fn is_held_out(sha256: &[u8; 32], seed: u64, fraction: f64) -> bool {
    let mut h = Sha256::new();
    h.update(b"held-out");
    h.update(seed.to_le_bytes());
    h.update(sha256);
    let d = h.finalize();
    let x = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    // 53 bits are exact in an f64.
    ((x >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// True when `dir` looks like a folder set: it holds at least one visible folder.
pub fn has_class_folders(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().is_dir() && !is_hidden(&e.file_name()))
    })
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FolderError + '_ {
    move |source| FolderError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The visible entries of a folder, in name order.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, FolderError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        if !is_hidden(&e.file_name()) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Matches the class folders of `dir` to classes: the class names and, per class, its
/// folder.
fn match_classes(
    dir: &Path,
    classes: Classes<'_>,
) -> Result<(Vec<String>, Vec<Option<PathBuf>>), FolderError> {
    let folders: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if folders.is_empty() {
        return Err(FolderError::NoClasses(dir.to_owned()));
    }
    let (names, by_key): (Vec<String>, HashMap<String, usize>) = match classes {
        Classes::Known(names) => (
            names.to_vec(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (name_key(n), i))
                .collect(),
        ),
        Classes::Own => {
            if folders.len() > MAX_CLASSES {
                return Err(FolderError::TooManyClasses {
                    dir: dir.to_owned(),
                    count: folders.len(),
                });
            }
            if folders.len() == 1 {
                return Err(FolderError::OneClass(dir.to_owned()));
            }
            let mut named: Vec<(String, &PathBuf)> =
                folders.iter().map(|f| (folder_name(f), f)).collect();
            for (name, folder) in &named {
                if name_key(name).is_empty() || name.len() > MAX_NAME_BYTES {
                    return Err(FolderError::BadName((*folder).clone()));
                }
            }
            named.sort_by_key(|(name, _)| name_key(name));
            let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
            let mut keys: HashMap<String, usize> = HashMap::new();
            for (i, (name, folder)) in named.iter().enumerate() {
                if let Some(&j) = keys.get(&name_key(name)) {
                    return Err(FolderError::SameClass {
                        first: named[j].1.clone(),
                        second: (*folder).clone(),
                    });
                }
                keys.insert(name_key(name), i);
            }
            (names, keys)
        }
    };
    let mut class_folders: Vec<Option<PathBuf>> = vec![None; names.len()];
    for folder in folders {
        let name = folder_name(&folder);
        let Some(&class) = by_key.get(&name_key(&name)) else {
            return Err(FolderError::UnknownClass {
                folder,
                name,
                known: names.join(", "),
            });
        };
        if let Some(first) = &class_folders[class] {
            return Err(FolderError::SameClass {
                first: first.clone(),
                second: folder,
            });
        }
        class_folders[class] = Some(folder);
    }
    Ok((names, class_folders))
}

fn is_picture(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| PICTURE_EXTENSIONS.iter().any(|p| e.eq_ignore_ascii_case(p)))
}

/// What reading one file gave.
enum Read {
    Input(Box<[u8; IMAGE_LEN]>),
    Skip(SkipReason),
}

fn read_one(bytes: &[u8], reading: Reading) -> Read {
    match image_input::from_bytes(bytes, reading) {
        Ok(prepared) => match prepared.input() {
            Some(input) => Read::Input(Box::new(*input)),
            None => Read::Skip(SkipReason::NoGarment {
                reason: match &prepared {
                    crate::data::photo::Prepared::Nothing(e) => e.to_string(),
                    crate::data::photo::Prepared::Garment { .. } => String::new(),
                },
            }),
        },
        Err(e) => Read::Skip(SkipReason::Unreadable {
            error: format!("{e:#}"),
        }),
    }
}

/// Preprocesses every job (path, bytes) on all cores, keeping the order.
fn read_all(jobs: &[(PathBuf, Vec<u8>)], reading: Reading) -> Vec<Read> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = jobs.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(_, bytes)| read_one(bytes, reading))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                // `read_one` catches the decoder's panics; anything else is a bug.
                h.join().expect("a picture reader panicked")
            })
            .collect()
    })
}

/// Reads the folder set in `dir`.
pub fn load(dir: &Path, options: &Options<'_>) -> Result<Folders, FolderError> {
    if !(0.0..1.0).contains(&options.held_out) {
        return Err(FolderError::BadFraction(options.held_out));
    }
    std::fs::read_dir(dir).map_err(io(dir))?;
    let (class_names, class_folders) = match_classes(dir, options.classes)?;
    let mut skipped = Vec::new();
    let mut jobs = Vec::new();
    let mut classes = Vec::new();
    for (class, folder) in class_folders.iter().enumerate() {
        let Some(folder) = folder else { continue };
        for path in sorted_entries(folder)? {
            if !is_picture(&path) {
                skipped.push(Skipped {
                    path,
                    reason: SkipReason::NotAPicture,
                });
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    jobs.push((path, bytes));
                    classes.push(class as u8);
                }
                Err(e) => skipped.push(Skipped {
                    path,
                    reason: SkipReason::Unreadable {
                        error: e.to_string(),
                    },
                }),
            }
        }
    }
    let mut seen: HashMap<[u8; 32], PathBuf> = HashMap::new();
    let mut unique = Vec::new();
    let mut unique_classes = Vec::new();
    let mut hashes = Vec::new();
    for ((path, bytes), class) in jobs.into_iter().zip(classes) {
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(of) = seen.get(&sha) {
            skipped.push(Skipped {
                path,
                reason: SkipReason::Duplicate { of: of.clone() },
            });
            continue;
        }
        seen.insert(sha, path.clone());
        unique.push((path, bytes));
        unique_classes.push(class);
        hashes.push(sha);
    }
    let read = read_all(&unique, options.reading);
    let mut pictures = Vec::new();
    for ((((path, _), class), sha256), read) in
        unique.into_iter().zip(unique_classes).zip(hashes).zip(read)
    {
        match read {
            Read::Input(input) => pictures.push(Picture {
                held_out: is_held_out(&sha256, options.seed, options.held_out),
                path,
                class,
                sha256,
                input,
            }),
            Read::Skip(reason) => skipped.push(Skipped { path, reason }),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if pictures.is_empty() {
        return Err(FolderError::NoPictures(dir.to_owned()));
    }
    if options.classes == Classes::Own {
        for (class, folder) in class_folders.iter().enumerate() {
            if !pictures.iter().any(|p| usize::from(p.class) == class) {
                let folder = folder.clone().expect("own classes all have a folder");
                return Err(FolderError::EmptyClass(folder));
            }
        }
    }
    Ok(Folders {
        dir: dir.to_owned(),
        class_names,
        class_folders,
        pictures,
        skipped,
        held_out_fraction: options.held_out,
        seed: options.seed,
    })
}

impl Folders {
    fn part(&self, held_out: bool) -> Dataset {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for p in self.pictures.iter().filter(|p| p.held_out == held_out) {
            images.extend_from_slice(&p.input[..]);
            labels.push(p.class);
        }
        Dataset { images, labels }
    }

    /// The pictures to train on.
    pub fn train_set(&self) -> Dataset {
        self.part(false)
    }

    /// The held-out pictures, never trained on.
    pub fn held_out_set(&self) -> Dataset {
        self.part(true)
    }

    fn per_class(&self, held_out: bool) -> Vec<usize> {
        let mut n = vec![0; self.class_names.len()];
        for p in self.pictures.iter().filter(|p| p.held_out == held_out) {
            n[usize::from(p.class)] += 1;
        }
        n
    }

    /// The record of the split.
    pub fn split_record(&self) -> SplitRecord {
        let mut h = Sha256::new();
        for p in self.pictures.iter().filter(|p| p.held_out) {
            h.update(p.sha256);
        }
        SplitRecord {
            dir: std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone()),
            held_out_fraction: self.held_out_fraction,
            seed: self.seed,
            rule: SPLIT_RULE.to_owned(),
            train_per_class: self.per_class(false),
            held_out_per_class: self.per_class(true),
            held_out_sha256: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            skipped: self.skipped.len(),
        }
    }

    /// A few lines for the terminal: pictures per class, and each skipped file with
    /// the count of every kind.
    pub fn summary(&self) -> String {
        let (train, held) = (self.per_class(false), self.per_class(true));
        let mut s = format!(
            "{}: {} pictures in {} classes ({} trained on, {} held out: fraction {}, seed {})\n",
            self.dir.display(),
            self.pictures.len(),
            self.class_folders.iter().flatten().count(),
            train.iter().sum::<usize>(),
            held.iter().sum::<usize>(),
            self.held_out_fraction,
            self.seed
        );
        for (c, name) in self.class_names.iter().enumerate() {
            if self.class_folders[c].is_some() {
                s += &format!("  {c:2} {name:<24} {:5} + {:4}\n", train[c], held[c]);
            }
        }
        for k in &self.skipped {
            s += &format!("  skipped {}: {}\n", k.path.display(), k.reason);
        }
        if !self.skipped.is_empty() {
            let count =
                |f: fn(&SkipReason) -> bool| self.skipped.iter().filter(|k| f(&k.reason)).count();
            s += &format!(
                "  {} files skipped: {} unreadable, {} duplicates, {} without a garment, {} not pictures\n",
                self.skipped.len(),
                count(|r| matches!(r, SkipReason::Unreadable { .. })),
                count(|r| matches!(r, SkipReason::Duplicate { .. })),
                count(|r| matches!(r, SkipReason::NoGarment { .. })),
                count(|r| matches!(r, SkipReason::NotAPicture)),
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageFormat, Luma};

    /// A light rectangle on black (dataset style), `w` wide, as PNG bytes; `shade`
    /// makes pictures of different content.
    fn png(w: u32, shade: u8) -> Vec<u8> {
        let img = GrayImage::from_fn(56, 56, |x, y| {
            let inside = (28 - w / 2..28 + w / 2).contains(&x) && (6..50).contains(&y);
            Luma([if inside { 150 + shade } else { 0 }])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn write(dir: &Path, rel: &str, bytes: &[u8]) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn fashion() -> Vec<String> {
        crate::data::CLASS_NAMES.map(String::from).to_vec()
    }

    fn options(classes: Classes<'_>) -> Options<'_> {
        Options {
            classes,
            held_out: 0.3,
            seed: 7,
            reading: Reading::Auto,
        }
    }

    #[test]
    fn names_match_ignoring_case_spaces_and_punctuation() {
        assert_eq!(name_key("T-shirt/top"), "tshirttop");
        assert_eq!(name_key("t shirt_TOP"), "tshirttop");
        assert_eq!(name_key("Ankle boot"), name_key("ankle-boot"));
        assert_eq!(name_key("--"), "");
    }

    #[test]
    fn reads_known_classes_and_reports_skipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..6u8 {
            write(d, &format!("T-shirt-top/{i}.png"), &png(30, i));
            write(d, &format!("ankle boot/{i}.PNG"), &png(16, i));
        }
        write(d, "ankle boot/copy.png", &png(16, 0));
        write(d, "ankle boot/broken.jpg", b"not a picture at all");
        write(d, "ankle boot/notes.txt", b"hello");
        write(d, "ankle boot/.hidden.png", b"ignored");
        let names = fashion();
        let f = load(d, &options(Classes::Known(&names))).unwrap();
        assert_eq!(f.class_names, names);
        assert_eq!(f.pictures.len(), 12);
        let labels: Vec<u8> = f.pictures.iter().map(|p| p.class).collect();
        assert_eq!(labels.iter().filter(|&&l| l == 0).count(), 6);
        assert_eq!(labels.iter().filter(|&&l| l == 9).count(), 6);
        let kinds: Vec<String> = f.skipped.iter().map(|k| k.reason.to_string()).collect();
        assert_eq!(f.skipped.len(), 3, "{kinds:?}");
        assert!(kinds[0].contains("unreadable"), "{kinds:?}");
        assert!(kinds[1].contains("duplicate of") && kinds[1].contains("0.PNG"));
        assert!(kinds[2].contains("not a .png"), "{kinds:?}");
        let summary = f.summary();
        assert!(
            summary.contains("3 files skipped: 1 unreadable, 1 duplicates"),
            "{summary}"
        );
        let (train, held) = (f.train_set(), f.held_out_set());
        assert_eq!(train.len() + held.len(), 12);
        let r = f.split_record();
        assert_eq!(r.held_out_per_class.iter().sum::<usize>(), held.len());
        assert_eq!(r.skipped, 3);
    }

    #[test]
    fn the_held_out_choice_is_per_file_and_stable_when_files_are_added() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..20u8 {
            write(d, &format!("a/{i}.png"), &png(30, i));
            write(d, &format!("b/{i}.png"), &png(12, i));
        }
        let f = load(d, &options(Classes::Own)).unwrap();
        assert_eq!(f.class_names, ["a", "b"]);
        let held: Vec<PathBuf> = f
            .pictures
            .iter()
            .filter(|p| p.held_out)
            .map(|p| p.path.clone())
            .collect();
        // About 30 % of 40; never all or none.
        assert!((4..=20).contains(&held.len()), "{}", held.len());
        for i in 20..40u8 {
            write(d, &format!("a/{i}.png"), &png(30, i));
        }
        let g = load(d, &options(Classes::Own)).unwrap();
        for p in g
            .pictures
            .iter()
            .filter(|p| f.pictures.iter().any(|q| q.path == p.path))
        {
            assert_eq!(p.held_out, held.contains(&p.path), "{}", p.path.display());
        }
        // Another seed, another choice.
        let other = load(
            d,
            &Options {
                seed: 8,
                ..options(Classes::Own)
            },
        )
        .unwrap();
        assert_ne!(
            other.split_record().held_out_sha256,
            g.split_record().held_out_sha256
        );
    }

    #[test]
    fn bad_folder_sets_are_clear_errors() {
        let names = fashion();
        let known = options(Classes::Known(&names));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let e = load(&d.join("missing"), &known).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        let e = load(d, &known).unwrap_err().to_string();
        assert!(e.contains("no class folders"), "{e}");
        write(d, "scarf/0.png", &png(20, 0));
        let e = load(d, &known).unwrap_err().to_string();
        assert!(
            e.contains("\"scarf\"") && e.contains("--own-classes"),
            "{e}"
        );
        let e = load(d, &options(Classes::Own)).unwrap_err().to_string();
        assert!(e.contains("at least two"), "{e}");
        write(d, "Scarf!/0.png", &png(22, 0));
        let e = load(d, &options(Classes::Own)).unwrap_err().to_string();
        assert!(e.contains("the same class"), "{e}");
        std::fs::remove_dir_all(d.join("Scarf!")).unwrap();
        std::fs::create_dir(d.join("hat")).unwrap();
        let e = load(d, &options(Classes::Own)).unwrap_err().to_string();
        assert!(e.contains("hat") && e.contains("no usable picture"), "{e}");
        let e = load(
            d,
            &Options {
                held_out: 1.0,
                ..options(Classes::Own)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("held-out fraction"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        std::fs::create_dir(empty.path().join("Shirt")).unwrap();
        let e = load(empty.path(), &known).unwrap_err().to_string();
        assert!(e.contains("no usable pictures"), "{e}");
    }
}
