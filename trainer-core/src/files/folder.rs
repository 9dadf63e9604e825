//! Model folders as one unit: a run writes all its outputs into a staging folder and
//! swaps it in at the end, and a manifest binds the files together.
//!
//! - A run of `trainer fit` (and `trainer export`, which rewrites a folder) builds the
//!   whole new folder as `<root>/.<name>.partial/` and swaps it in with two renames:
//!   the old folder aside (`.<name>.old-<pid>`), the new one in, then the old one
//!   removed. Killed at any point, it leaves either the old folder or the new one under
//!   `<root>/<name>/` (or, between the two renames, none: readers then say there is no
//!   model, and the next run puts the old folder back), never files of two runs.
//! - The last file written into the staging folder is `manifest.json`: the SHA-256 of
//!   every other file. Readers ([`read_checked`]) refuse a file whose digest is not the
//!   manifest's, so a folder assembled by hand from two runs, or a file replaced while a
//!   reader runs, is an error and not a silent mix. Folders written before manifests
//!   existed have none and are read as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of the manifest inside a model folder.
/// File name of the training checkpoint inside a run's staging folder (not in the manifest).
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The files of a model folder and their digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The command that wrote the folder.
    pub command: String,
    /// SHA-256 (hex) of every file in the folder but the manifest, by file name.
    pub files: BTreeMap<String, String>,
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The staging folder of model `name` under `root`: `<root>/.<name>.partial`.
pub fn staging_dir(root: &Path, name: &str) -> PathBuf {
    root.join(format!(".{name}.partial"))
}

/// The lock file of model `name`'s fits under `root`: `<root>/.<name>.partial.lock`.
pub fn lock_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!(".{name}.partial.lock"))
}

/// One `trainer fit` per model name at a time: an exclusive lock on [`lock_path`], held
/// while the run uses its staging folder. The operating system releases it when the
/// process ends, however it ends; a normal end also removes the file.
#[derive(Debug)]
pub struct StagingLock {
    file: std::fs::File,
    path: PathBuf,
    /// The models folder, when this lock created it (removed again if left empty).
    created_root: Option<PathBuf>,
}

impl StagingLock {
    /// Takes the lock of model `name` under `root` (creating `root`), or refuses at once,
    /// naming the process that holds it, when another run has it.
    pub fn acquire(root: &Path, name: &str) -> Result<Self> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::MetadataExt;
        let path = lock_path(root, name);
        let context = || format!("creating the lock file {}", path.display());
        let created_root = (!root.exists()).then(|| root.to_path_buf());
        std::fs::create_dir_all(root).with_context(context)?;
        // A run that just finished removes the file: lock the one that is on disk.
        for _ in 0..3 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(context)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim() {
                        "" => String::new(),
                        pid => format!(" (process {pid})"),
                    };
                    bail!(
                        "another `trainer fit` of model {name:?} is running{holder} and holds \
                         {}: wait for it to end, or fit under another --name",
                        path.display()
                    );
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(context),
            }
            let on_disk = std::fs::metadata(&path).map(|m| m.ino());
            if on_disk.ok() == Some(file.metadata().with_context(context)?.ino()) {
                file.set_len(0).with_context(context)?;
                file.rewind().with_context(context)?;
                write!(file, "{}", std::process::id()).with_context(context)?;
                return Ok(Self {
                    file,
                    path,
                    created_root,
                });
            }
        }
        bail!("{}: the lock file keeps changing", path.display())
    }
}

impl Drop for StagingLock {
    fn drop(&mut self) {
        // Removed while still locked, so no other run can lock the removed file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        // A refused run leaves nothing behind (`remove_dir` keeps a folder that is not empty).
        if let Some(root) = &self.created_root {
            let _ = std::fs::remove_dir(root);
        }
    }
}

/// The staging folder of a command that updates model `name` in place (`export`,
/// `evaluate`): `<root>/.<name>.update-<pid>`.
pub fn update_dir(root: &Path, name: &str) -> PathBuf {
    root.join(format!(".{name}.update-{}", std::process::id()))
}

/// Writes `manifest.json` into `dir`, listing every other plain file (hidden
/// temporary files and a training checkpoint excepted). Called last, just before [`commit`].
pub fn write_manifest(dir: &Path, command: String) -> Result<Manifest> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST_FILE
            || name == CHECKPOINT_FILE
            || name.starts_with('.')
            || !entry.file_type()?.is_file()
        {
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .with_context(|| format!("reading {}", entry.path().display()))?;
        files.insert(name, sha256_hex(&bytes));
    }
    let manifest = Manifest { command, files };
    crate::files::atomic::write_json(&dir.join(MANIFEST_FILE), &manifest)?;
    Ok(manifest)
}

/// Reads the manifest of `dir`, if it has one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::files::atomic::read_json(&path).map(Some)
}

/// Reads `file` of the model folder `dir`, checking it against the folder's manifest
/// when there is one: a file that is missing from it or has another digest is an
/// error naming the file (it belongs to another run, or was replaced while reading).
pub fn read_checked(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    check_bytes(dir, file, &bytes)?;
    Ok(bytes)
}

/// Checks bytes read from `dir/file` against the folder's manifest (if any).
pub fn check_bytes(dir: &Path, file: &str, bytes: &[u8]) -> Result<()> {
    let Some(manifest) = read_manifest(dir)? else {
        return Ok(());
    };
    let path = dir.join(file);
    match manifest.files.get(file) {
        None => bail!(
            "{}: not listed in {} (the file does not belong to this model folder's run; \
             run `trainer fit` again)",
            path.display(),
            dir.join(MANIFEST_FILE).display()
        ),
        Some(want) if *want != sha256_hex(bytes) => bail!(
            "{}: its SHA-256 is not the one in {} (the file belongs to another run, or was \
             replaced while being read: try again, or run `trainer fit` again)",
            path.display(),
            dir.join(MANIFEST_FILE).display()
        ),
        Some(_) => Ok(()),
    }
}

/// Swaps `staging` in as `dir`: the old `dir` (if any) is renamed aside, `staging` is
/// renamed to `dir`, and the old folder is removed.
pub fn commit(staging: &Path, dir: &Path) -> Result<()> {
    let aside = aside_name(dir, std::process::id());
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &aside).with_context(|| {
            format!(
                "moving the previous {} aside to {}",
                dir.display(),
                aside.display()
            )
        })?;
    }
    crate::interrupt::test_pause("swap");
    std::fs::rename(staging, dir)
        .with_context(|| format!("renaming {} to {}", staging.display(), dir.display()))?;
    if had_old {
        std::fs::remove_dir_all(&aside)
            .with_context(|| format!("removing the previous model {}", aside.display()))?;
    }
    Ok(())
}

fn aside_name(dir: &Path, pid: u32) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}.old-{pid}"))
}

/// Repairs what an interrupted [`commit`] left: if `dir` is missing and a folder was
/// moved aside, it is put back; other folders moved aside are removed, and so are the
/// staging folders of `export` / `evaluate` runs whose process is gone (Linux).
pub fn recover(dir: &Path) -> Result<()> {
    let (Some(root), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    if !root.is_dir() {
        return Ok(());
    }
    let prefix = format!(".{}.old-", name.to_string_lossy());
    let mut aside: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    aside.sort();
    if !dir.exists()
        && let Some(back) = aside.pop()
    {
        std::fs::rename(&back, dir)
            .with_context(|| format!("restoring {} from {}", dir.display(), back.display()))?;
        eprintln!(
            "restored {} (an earlier run was interrupted while swapping it)",
            dir.display()
        );
    }
    for old in aside {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    // Staging folders of `export` / `evaluate` runs that were killed (their process is gone).
    let update = format!(".{}.update-", name.to_string_lossy());
    for entry in std::fs::read_dir(root)?.filter_map(|e| e.ok()) {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = file_name.strip_prefix(&update)
            && !Path::new("/proc").join(pid).exists()
            && Path::new("/proc/self").exists()
        {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Copies the files of `dir` into a fresh staging folder (hard links where the file
/// system allows, copies elsewhere), for a command that changes some files of an
/// existing folder. The manifest is left out: it is rewritten at the end.
pub fn stage_copy(dir: &Path, staging: &Path) -> Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)
            .with_context(|| format!("removing the stale {}", staging.display()))?;
    }
    std::fs::create_dir_all(staging).with_context(|| format!("creating {}", staging.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == MANIFEST_FILE || !entry.file_type()?.is_file() {
            continue;
        }
        let to = staging.join(&name);
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_swaps_whole_folders_and_recover_undoes_a_half_swap() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("m");
        let staging = staging_dir(root.path(), "m");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a"), b"old a").unwrap();
        std::fs::write(dir.join("b"), b"old b").unwrap();
        write_manifest(&dir, "old".into()).unwrap();
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("a"), b"new a").unwrap();
        write_manifest(&staging, "new".into()).unwrap();
        commit(&staging, &dir).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"new a");
        assert!(!dir.join("b").exists(), "no file of the old run survives");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        assert!(read_checked(&dir, "a").is_ok());

        // A file of another run under a manifest: refused, naming the file.
        std::fs::write(dir.join("a"), b"other a").unwrap();
        let err = read_checked(&dir, "a").unwrap_err().to_string();
        assert!(err.contains("a: its SHA-256 is not the one"), "{err}");

        // Killed between the two renames: the old folder is aside and `m` is missing.
        std::fs::rename(&dir, aside_name(&dir, 42)).unwrap();
        recover(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"other a");
        std::fs::create_dir(aside_name(&dir, 43)).unwrap();
        recover(&dir).unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
