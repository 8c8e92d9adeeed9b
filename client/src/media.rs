//! Attachments kept on this device once shown, named by their SHA-256: an
//! image scrolled past again, or shown offline, is read from here instead of
//! downloaded again. What is kept was checked against its size and SHA-256
//! when it was downloaded ([`crate::download`]); it is bounded
//! ([`KEPT_BYTES`], the least recently shown going first) and deleted with
//! the cache (sign-out, another account).
//!
//! Everything here is blocking file work: callers run it on the blocking
//! pool.

use crate::error::{ClientError, Result};
use parley_protocol::Attachment;
use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// How much is kept at most; beyond it the least recently shown go.
pub const KEPT_BYTES: u64 = 512 << 20;
/// Files shown this recently are never trimmed.
const RECENT: std::time::Duration = std::time::Duration::from_secs(60);

/// The folder of kept attachments.
#[derive(Clone, Debug)]
pub struct Media {
    dir: PathBuf,
}

impl Media {
    pub fn new(dir: PathBuf) -> Media {
        Media { dir }
    }

    /// Where `att` is kept: its SHA-256 in lower case, or `None` when the
    /// server's value is not one (it names a file here, so nothing else may).
    pub fn path_of(&self, att: &Attachment) -> Option<PathBuf> {
        let sha = att.sha256.to_ascii_lowercase();
        (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| self.dir.join(sha))
    }

    /// Creates the folder, private to this user.
    pub fn make_dir(&self) -> Result<()> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&self.dir).map_err(|e| at(&self.dir, e))
    }

    /// The kept bytes of `att`, if kept whole (a file of another size is
    /// not what was checked: it is dropped and downloaded again). Marks it
    /// as just shown.
    pub fn read(&self, att: &Attachment) -> Result<Option<Vec<u8>>> {
        let Some(path) = self.path_of(att) else {
            return Ok(None);
        };
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at(&path, e)),
        };
        if bytes.len() as u64 != att.size {
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        // Only an order for `trim`: a failure costs nothing worse.
        if let Ok(f) = fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Ok(Some(bytes))
    }

    /// Deletes the least recently shown until at most `budget` bytes are
    /// kept. Best effort: what cannot be listed or deleted stays. Files
    /// shown in the last minute stay (another download may be reading the
    /// one it just wrote), and so do downloads still being written (their
    /// temporary names start with a dot).
    pub fn trim(&self, budget: u64) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut total = 0;
        let mut old: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let recent = SystemTime::now() - RECENT;
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !m.is_file() || e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            total += m.len();
            let shown = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if shown < recent {
                old.push((shown, m.len(), e.path()));
            }
        }
        old.sort();
        for (_, len, path) in old {
            if total <= budget {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

fn at(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(sha: &str, size: u64) -> Attachment {
        Attachment {
            id: "a".into(),
            mime: "image/png".into(),
            size,
            sha256: sha.into(),
            name: None,
            width: None,
            height: None,
        }
    }

    #[test]
    fn only_a_sha256_names_a_file() {
        let m = Media::new(PathBuf::from("/m"));
        let sha = "AB".repeat(32);
        assert_eq!(
            m.path_of(&att(&sha, 1)),
            Some(PathBuf::from("/m").join("ab".repeat(32)))
        );
        for bad in [
            "",
            "../../etc/passwd",
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
        ] {
            assert_eq!(m.path_of(&att(bad, 1)), None, "{bad:?}");
        }
    }

    #[test]
    fn a_file_of_another_size_is_not_kept_and_the_least_recently_shown_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let m = Media::new(dir.path().join("media"));
        m.make_dir().unwrap();
        let (a, b, c) = (
            att(&"a".repeat(64), 3),
            att(&"b".repeat(64), 3),
            att(&"c".repeat(64), 3),
        );
        for (x, age) in [(&a, 300), (&b, 200), (&c, 100)] {
            let p = m.path_of(x).unwrap();
            fs::write(&p, b"abc").unwrap();
            let f = fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - std::time::Duration::from_secs(age))
                .unwrap();
        }
        // Shown now: the newest. A download being written is not counted.
        assert_eq!(m.read(&a).unwrap().as_deref(), Some(&b"abc"[..]));
        fs::write(m.dir.join(".parley-x.part"), b"partial").unwrap();
        m.trim(6);
        assert!(m.dir.join(".parley-x.part").exists());
        assert!(m.path_of(&a).unwrap().exists());
        assert!(!m.path_of(&b).unwrap().exists(), "the least recently shown");
        assert!(m.path_of(&c).unwrap().exists());
        // A copy whose size is not the attachment's is dropped.
        assert_eq!(m.read(&att(&"c".repeat(64), 4)).unwrap(), None);
        assert!(!m.path_of(&c).unwrap().exists());
        assert_eq!(m.read(&b).unwrap(), None);
    }

    #[test]
    fn what_was_shown_in_the_last_minute_stays_over_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let m = Media::new(dir.path().join("media"));
        m.make_dir().unwrap();
        let (old, new) = (att(&"a".repeat(64), 3), att(&"b".repeat(64), 3));
        for x in [&old, &new] {
            fs::write(m.path_of(x).unwrap(), b"abc").unwrap();
        }
        let f = fs::File::options()
            .write(true)
            .open(m.path_of(&old).unwrap())
            .unwrap();
        f.set_modified(SystemTime::now() - 2 * RECENT).unwrap();
        m.trim(0);
        assert!(!m.path_of(&old).unwrap().exists());
        assert!(
            m.path_of(&new).unwrap().exists(),
            "another download may be reading it"
        );
    }
}
