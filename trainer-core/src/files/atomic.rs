//! Atomic output files: written to a temporary file in the same folder, then renamed.
//!
//! A failure at any point leaves no half-written file under the final name.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| {
        file.write_all(bytes)?;
        Ok(())
    })
}

/// Writes `bytes` to `path` atomically as [`write_atomic`] does, but fails instead of
/// replacing a file that is already there (recorded data is never overwritten).
pub fn write_atomic_new(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_inner(path, false, |file| {
        file.write_all(bytes)?;
        Ok(())
    })
}

/// Calls `fill` with a temporary file beside `path`; renames it to `path` if `fill` succeeds.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    write_atomic_inner(path, true, fill)
}

/// [`write_atomic_with`], replacing an existing `path` only if `replace`.
fn write_atomic_inner(
    path: &Path,
    replace: bool,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = temp_builder()
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    fill(tmp.as_file_mut()).with_context(|| format!("writing {}", path.display()))?;
    injected_disk_full(path).with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file_mut()
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    if replace {
        tmp.persist(path)
            .with_context(|| format!("renaming into {}", path.display()))?;
    } else {
        tmp.persist_noclobber(path)
            .with_context(|| format!("renaming into {} (without replacing it)", path.display()))?;
    }
    Ok(())
}

/// Test hook: `TRAINER_TEST_DISK_FULL=<file name>` makes every atomic write of a file
/// of that name fail as a full disk does (`ENOSPC`), after its temporary file was
/// written, so that tests can check what a failed write leaves behind.
pub fn injected_disk_full(path: &Path) -> std::io::Result<()> {
    let Some(name) = std::env::var_os("TRAINER_TEST_DISK_FULL") else {
        return Ok(());
    };
    if path.file_name() == Some(name.as_os_str()) {
        // 28 is ENOSPC on Linux and macOS.
        return Err(std::io::Error::from_raw_os_error(28));
    }
    Ok(())
}

/// A temporary-file builder for outputs: hidden name, and the usual `0644` mode
/// (less the umask) rather than tempfile's private `0600`, since the file is renamed
/// into place as a normal output.
pub fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b
}

/// Writes `value` as pretty JSON (with a final newline), atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file, naming the file in errors.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))
}

/// Encodes an RGB buffer as PNG and writes it atomically.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: Vec<u8>) -> Result<()> {
    let img = image::RgbImage::from_raw(width, height, rgb).context("RGB buffer size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_give_back_every_float_bit_for_bit() {
        // A training loss that serde_json's default (fast, not correctly rounded) float
        // parser read back one bit off: a fold file merged from disk then differed from
        // the same fold kept in memory. The workspace enables `float_roundtrip`.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floats.json");
        let mut values = vec![1.2993499755859375_f64, 0.1, 1.0 / 3.0, 5e-324, f64::MAX];
        let mut x = 0.6380000114440918_f64;
        for _ in 0..10_000 {
            x = (x * 3.9 * (1.0 - x)).abs();
            values.push(x);
            values.push(x * 1e5);
        }
        write_json(&path, &values).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap();
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a:?} came back as {b:?}");
        }
        assert_eq!(values.len(), back.len());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let err = write_atomic_with(&path, |f| {
            f.write_all(b"half")?;
            anyhow::bail!("disk on fire")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_json(&path, &[1, 2]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), vec![1, 2]);
        // A new-only write refuses to replace it and leaves no temporary file.
        assert!(write_atomic_new(&path, b"other").is_err());
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), vec![1, 2]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic_new(&dir.path().join("new"), b"x").unwrap();
        std::fs::remove_file(dir.path().join("new")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            let plain = dir.path().join("plain");
            std::fs::write(&plain, b"").unwrap();
            // Readable by group and others exactly when a plainly created file is.
            assert_eq!(mode(&path) & 0o044, mode(&plain) & 0o044);
        }
    }
}
