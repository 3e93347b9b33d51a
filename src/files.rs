//! Bounded reads of the files a user names to the engine (`@file` target lists given straight to
//! `_core.ScanRequest`, `PORTLENS_FINGERPRINTS`): the Rust twin of `portlens.files.read`.
//!
//! - Regular files only: the file is opened with `O_NONBLOCK` (a FIFO nobody writes to does not
//!   block the open) and checked with `fstat` before a byte is read, so a FIFO, a device
//!   (`/dev/zero`), a directory or a socket is refused at once.
//! - The size cap is enforced while reading, not from the size the file claims (`/proc` files
//!   report 0, and a file can grow after `fstat`).
//! - Errors say what went wrong and where (byte line and column for an invalid UTF-8 sequence),
//!   never what the file holds: a wrong path such as `@/etc/shadow` must not echo its lines.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// Why a file could not be read. `Display` gives the problem only; callers add the path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    NotFound,
    /// Not a regular file: what it is instead ("a FIFO", "a directory", ...).
    NotRegular(&'static str),
    /// Larger than the cap (bytes).
    TooLarge(u64),
    /// Not UTF-8: 1-based line and column (in bytes) of the first invalid byte, and that byte.
    NotUtf8 {
        line: usize,
        col: usize,
        byte: u8,
    },
    /// Any other I/O error, as the OS describes it (never file content).
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => write!(f, "file not found"),
            ReadError::NotRegular(what) => write!(f, "not a regular file ({what})"),
            ReadError::TooLarge(cap) => write!(f, "larger than {}", size(*cap)),
            ReadError::NotUtf8 { line, col, byte } => {
                write!(f, "not UTF-8 text (invalid byte 0x{byte:02x} at line {line}, column {col})")
            }
            ReadError::Io(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ReadError {}

fn size(n: u64) -> String {
    if n >= 1 << 20 && n & ((1 << 20) - 1) == 0 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

fn io_error(e: &std::io::Error) -> ReadError {
    match (e.kind(), e.raw_os_error()) {
        (std::io::ErrorKind::NotFound, _) => ReadError::NotFound,
        // ENXIO: a socket, or a FIFO opened write-side with no reader.
        (_, Some(libc::ENXIO)) => ReadError::NotRegular("a socket or special file"),
        // The OS's text without the "(os error N)" suffix is enough.
        _ => ReadError::Io(e.to_string().split(" (os error").next().unwrap_or_default().to_string()),
    }
}

/// The kind of a file that is not regular, for messages.
fn kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The bytes of the regular file `path`, at most `cap` of them.
pub fn read_bytes(path: impl AsRef<std::path::Path>, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io_error(&e))?;
    let ft = file.metadata().map_err(|e| io_error(&e))?.file_type();
    if !ft.is_file() {
        return Err(ReadError::NotRegular(kind(ft)));
    }
    let mut out = Vec::new();
    // One byte past the cap tells "exactly the cap" from "more".
    (&file as &File).take(cap.saturating_add(1)).read_to_end(&mut out).map_err(|e| io_error(&e))?;
    if out.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(out)
}

/// `read_bytes`, as UTF-8 text without a leading byte-order mark.
pub fn read_text(path: impl AsRef<std::path::Path>, cap: u64) -> Result<String, ReadError> {
    let mut bytes = read_bytes(path, cap)?;
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let (line, col) = position(bytes, at);
        ReadError::NotUtf8 { line, col, byte: bytes.get(at).copied().unwrap_or(0) }
    })
}

/// 1-based (line, column) of byte `offset` in `data`, column in bytes.
pub fn position(data: &[u8], offset: usize) -> (usize, usize) {
    let head = data.get(..offset).unwrap_or(data);
    let line = head.iter().filter(|&&b| b == b'\n').count().saturating_add(1);
    let start = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i.saturating_add(1));
    (line, head.len().saturating_sub(start).saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    struct Temp(PathBuf);

    impl Temp {
        fn path(name: &str) -> Temp {
            Temp(std::env::temp_dir().join(format!("portlens-files-{}-{name}", std::process::id())))
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn regular_files_within_the_cap() {
        let t = Temp::path("ok.txt");
        std::fs::write(&t.0, "\u{feff}198.18.1.1\n").unwrap();
        assert_eq!(read_text(&t.0, 64).unwrap(), "198.18.1.1\n");
        assert_eq!(read_bytes(&t.0, 14).unwrap().len(), 14, "exactly the cap is fine");
        assert_eq!(read_bytes(&t.0, 13), Err(ReadError::TooLarge(13)));
        assert_eq!(ReadError::TooLarge(64 << 20).to_string(), "larger than 64 MiB");
    }

    #[test]
    fn special_files_are_refused_at_once() {
        let start = Instant::now();
        assert_eq!(read_bytes("/dev/zero", 1 << 20), Err(ReadError::NotRegular("a character device")));
        assert_eq!(read_bytes("/dev/null", 1 << 20), Err(ReadError::NotRegular("a character device")));
        assert_eq!(read_bytes(std::env::temp_dir(), 1 << 20), Err(ReadError::NotRegular("a directory")));
        assert_eq!(read_bytes("/nonexistent/portlens", 1), Err(ReadError::NotFound));
        // A FIFO nobody writes to: refused, not waited on.
        let fifo = Temp::path("fifo");
        let c = std::ffi::CString::new(fifo.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(read_bytes(&fifo.0, 1 << 20), Err(ReadError::NotRegular("a FIFO")));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn errors_give_position_not_content() {
        let t = Temp::path("latin1.txt");
        std::fs::write(&t.0, b"root:secret\nab\xe9cd:hash\n").unwrap();
        let err = read_text(&t.0, 1024).unwrap_err();
        assert_eq!(err, ReadError::NotUtf8 { line: 2, col: 3, byte: 0xe9 });
        let msg = err.to_string();
        assert!(!msg.contains("secret") && !msg.contains("hash") && msg.contains("line 2, column 3"), "{msg}");
        assert_eq!(position(b"ab\ncd", 0), (1, 1));
        assert_eq!(position(b"ab\ncd", 4), (2, 2));
        assert_eq!(position(b"ab", 99), (1, 3));
    }
}
