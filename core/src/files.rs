//! Who may read the files Dossier writes.
//!
//! The store file holds the site's private signing key (`meta`, see `sync/keys.rs`) and every
//! case a site has worked; bundle files hold the same case data; publisher key files are
//! secrets. So all of them are created readable and writable by their owner only (mode 0600),
//! whatever the process umask says, and a store file that other users can *write* is refused
//! at open: whoever can write it can replace the site's key or plant changes under its name.
//! A store that other users can only *read* (made by an earlier version, or copied with `cp`)
//! is tightened to 0600 when it is opened, WAL and shared-memory files included.
//!
//! SQLite creates the `-wal` and `-shm` files with the permissions of the database file, so
//! creating the database file 0600 before SQLite first opens it is what keeps them private.
//!
//! On platforms without Unix permissions these functions create files normally.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The suffixes of the files SQLite keeps beside a database in WAL mode.
const SIDE_FILES: &[&str] = &["-wal", "-shm", "-journal"];

/// Whether `path` names a file on disk (not `:memory:` or a `file:` URI, which SQLite resolves
/// itself).
fn is_plain_path(path: &Path) -> bool {
    let s = path.as_os_str().to_string_lossy();
    !(s.is_empty() || s == ":memory:" || s.starts_with("file:"))
}

/// Makes the store file at `path` private before SQLite opens it: creates it 0600 when absent,
/// tightens a group- or world-readable one, and refuses one that others can write.
///
/// # Errors
/// [`Error::InsecureFile`] when the file (or its WAL) is writable by group or others;
/// [`Error::Io`] when it cannot be created or its permissions cannot be read or changed.
pub(crate) fn secure_store_file(path: &Path) -> Result<()> {
    if !is_plain_path(path) {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // `create_new` loses no race: if another process created the file meanwhile,
                // it is checked like any existing file below on the next open.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_error(path, "cannot create", e)),
                }
            }
            Err(e) => return Err(io_error(path, "cannot read the permissions of", e)),
            Ok(_) => {}
        }
        let mut files = vec![path.to_path_buf()];
        files.extend(SIDE_FILES.iter().map(|s| side_file(path, s)));
        for file in files {
            let meta = match std::fs::metadata(&file) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&file, "cannot read the permissions of", e)),
            };
            if !meta.is_file() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o022 != 0 {
                return Err(Error::InsecureFile {
                    path: file,
                    mode,
                    reason: "other users can write it, so they could replace the site's key or \
                             plant changes; check who changed it, then `chmod 600` it"
                        .into(),
                });
            }
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|e| io_error(&file, "cannot make private", e))?;
            }
        }
    }
    Ok(())
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn io_error(path: &Path, what: &str, e: io::Error) -> Error {
    Error::Io(io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

/// Creates a new file readable and writable by its owner only (0600). Fails if it exists.
///
/// # Errors
/// The I/O error, with the path in its message.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}

/// Checks that the folder `path` would be written into exists, so a caller can refuse before
/// doing the work of making the file (a bundle, a report).
///
/// # Errors
/// `NotFound`, naming the path and the missing folder.
pub fn check_folder_of(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "cannot write {}: the folder {} does not exist",
            path.display(),
            parent.display()
        ),
    ))
}

/// Writes `bytes` to `path` as a private (0600) file, atomically: into `PATH.partial` beside it,
/// synced, then renamed over `path`, so a reader never sees half a file under the final name.
/// A missing folder is reported as such, naming the folder, before anything is written.
///
/// # Errors
/// The I/O error, naming the path (or the missing folder) the user gave.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    check_folder_of(path)?;
    let partial = side_file(path, ".partial");
    // A partial file left by a killed earlier attempt is ours to replace.
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", path.display()),
            ));
        }
        _ => {}
    }
    let result = create_private(&partial)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
    })
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_store_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        secure_store_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn a_world_readable_store_is_tightened_and_a_group_writable_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        secure_store_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o620)).unwrap();
        let err = secure_store_file(&db).unwrap_err();
        assert!(
            matches!(err, Error::InsecureFile { mode: 0o620, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn private_atomic_write_names_the_missing_folder_not_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("nope").join("x.bundle");
        let err = write_private_atomic(&target, b"x").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("does not exist") && msg.contains("nope"),
            "{msg}"
        );
        assert!(!msg.contains(".partial"), "{msg}");
        let ok = dir.path().join("x.bundle");
        write_private_atomic(&ok, b"abc").unwrap();
        assert_eq!(std::fs::read(&ok).unwrap(), b"abc");
        assert_eq!(mode(&ok), 0o600);
        assert!(!dir.path().join("x.bundle.partial").exists());
    }
}
