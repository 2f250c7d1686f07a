//! Reading a warm input file with resource limits: `repox warm` and the `-r`/`-c` lines of
//! requirements files may name anything, `/dev/zero` included, and must not read without bound.
//! Devices, sockets and directories are refused; regular files and pipes (`<(pip freeze)`) are
//! read up to [`MAX_INPUT`].

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest input file read: lock files of huge monorepos stay far below it.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// The bytes of `path`. Errors do not repeat the path; callers name it.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(io::Error::other("it is a directory, not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
            return Err(io::Error::other(
                "it is a device or socket, not a file; name a requirement or lock file",
            ));
        }
    }
    let too_big = || {
        io::Error::other(format!(
            "it is larger than {} MiB, more than any requirement or lock file",
            MAX_INPUT / (1024 * 1024)
        ))
    };
    if meta.len() > MAX_INPUT {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(too_big());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused() {
        let err = read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn warm_names_the_file_it_refuses() {
        let forced = Some(super::super::Format::Requirements);
        let err = super::super::parse_file(Path::new("/dev/zero"), forced).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "cannot read `/dev/zero`: it is a device or socket, not a file; name a requirement or lock file"
        );
    }

    #[test]
    fn files_past_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_INPUT + 1).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("larger than 64 MiB"), "{err}");
        std::fs::write(&path, "flask==3.0\n").unwrap();
        assert_eq!(read(&path).unwrap(), b"flask==3.0\n");
    }
}
