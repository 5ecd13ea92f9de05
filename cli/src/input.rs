//! Reading the files users name: values files and credentials files. One place decides
//! what may be read, so no command can block on a named pipe or read `/dev/zero` until
//! memory runs out.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use postgres_ha_core::MAX_BYTES;

/// Why a file could not be read; the message names the file and what to do.
#[derive(Debug)]
pub(crate) struct Unreadable(pub(crate) String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

/// How private a file must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Privacy {
    /// Any regular file (values files).
    Any,
    /// A regular file that is not a symbolic link and that neither group nor others
    /// may read or write (credentials files), as ssh demands of private keys.
    OwnerOnly,
}

/// Reads at most one byte past [`MAX_BYTES`] (so an oversized file is reported, not
/// loaded) from `path`, or from standard input for `-`. Anything but a regular file
/// is refused before a byte is read.
pub(crate) fn read(path: &Path, privacy: Privacy) -> Result<Vec<u8>, Unreadable> {
    let limit = MAX_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| Unreadable(format!("cannot read standard input: {e}")))?;
        return Ok(bytes);
    }
    let shown = path.display();
    if privacy == Privacy::OwnerOnly {
        let link = std::fs::symlink_metadata(path)
            .map_err(|e| Unreadable(format!("cannot read {shown}: {e}")))?;
        if link.file_type().is_symlink() {
            return Err(Unreadable(format!(
                "{shown} is a symbolic link; a credentials file must be the file itself"
            )));
        }
    }
    // Non-blocking, so opening a named pipe returns at once instead of waiting for a
    // writer; the type is then checked on the open file, not on a path that could
    // change in between.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Unreadable(format!("cannot read {shown}: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| Unreadable(format!("cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(Unreadable(format!(
            "{shown} is {what}; pass a regular file, or `-` for standard input"
        )));
    }
    if privacy == Privacy::OwnerOnly && metadata.mode() & 0o077 != 0 {
        return Err(Unreadable(format!(
            "{shown} holds passwords but group or others may access it (mode {:o}); run `chmod 600 {shown}`",
            metadata.mode() & 0o777
        )));
    }
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Unreadable(format!("cannot read {shown}: {e}")))?;
    Ok(bytes)
}
