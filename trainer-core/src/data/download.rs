//! `trainer data download`: fetches the four official files and checks them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::data::{self, OFFICIAL_FILES};

/// Where the Fashion-MNIST authors publish the files.
pub const OFFICIAL_BASE_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// Downloads every official file missing from `dir` (default: the per-user cache),
/// verifying each against its published content hash before it gets its final name.
pub fn download_all(dir: Option<&Path>, base_url: &str) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_owned(),
        None => data::cache_dir().context("no cache folder: set HOME or pass --dir")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (stem, _) in OFFICIAL_FILES {
        if let Some(existing) = data::find_file(&dir, stem) {
            data::verify_official(&existing, stem)?;
            eprintln!("{}: present and verified", existing.display());
            continue;
        }
        let url = format!("{}/{stem}.gz", base_url.trim_end_matches('/'));
        eprintln!("downloading {url}");
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        let mut response = ureq::get(&url)
            .call()
            .with_context(|| format!("downloading {url}"))?;
        std::io::copy(&mut response.body_mut().as_reader(), &mut tmp)
            .with_context(|| format!("downloading {url}"))?;
        tmp.flush()?;
        install_verified(tmp, stem, &dir)?;
    }
    Ok(dir)
}

/// Checks a downloaded temporary file against the official hash of `stem` and,
/// only if it matches, renames it to `dir/stem.gz`. A bad file is deleted.
pub fn install_verified(tmp: tempfile::NamedTempFile, stem: &str, dir: &Path) -> Result<PathBuf> {
    if let Err(e) = data::verify_official(tmp.path(), stem) {
        // Dropping `tmp` removes the file.
        bail!("{e} (the download was discarded)");
    }
    let dest = dir.join(format!("{stem}.gz"));
    tmp.persist(&dest)
        .with_context(|| format!("saving {}", dest.display()))?;
    Ok(dest)
}

/// Verifies every official file in `dir`, returning one line per file.
pub fn verify_dir(dir: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for (stem, _) in OFFICIAL_FILES {
        let path = data::find_file(dir, stem)
            .with_context(|| format!("{}: no {stem}(.gz)", dir.display()))?;
        data::verify_official(&path, stem)?;
        lines.push(format!("{}: ok", path.display()));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_the_wrong_content_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        tmp.write_all(b"not the dataset").unwrap();
        let tmp_path = tmp.path().to_owned();
        let e = install_verified(tmp, "t10k-labels-idx1-ubyte", dir.path()).unwrap_err();
        assert!(e.to_string().contains("SHA-256"), "{e}");
        assert!(!tmp_path.exists());
        assert!(!dir.path().join("t10k-labels-idx1-ubyte.gz").exists());
    }

    #[test]
    fn the_real_files_pass_when_installed() {
        let dir = Path::new(data::DEBIAN_DIR);
        if !data::has_dataset(dir) {
            eprintln!("skipped: {} not installed", dir.display());
            return;
        }
        let labels = data::find_file(dir, "t10k-labels-idx1-ubyte").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut tmp = tempfile::NamedTempFile::new_in(scratch.path()).unwrap();
        tmp.write_all(&std::fs::read(labels).unwrap()).unwrap();
        let dest = install_verified(tmp, "t10k-labels-idx1-ubyte", scratch.path()).unwrap();
        assert!(dest.is_file());
        assert_eq!(verify_dir(dir).unwrap().len(), 4);
    }
}
