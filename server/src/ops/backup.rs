//! `parley-server backup` and `parley-server restore`.
//!
//! A backup is one archive file holding a consistent snapshot of `parley.db`
//! (SQLite's online backup API, taken while the server runs), `secret.key`, and
//! every attachment file the snapshot references. The format is deliberately
//! simple, so it can be checked and unpacked with a few lines of any language:
//!
//! ```text
//! PARLEY-BACKUP 1\n                     magic line
//! file <size> <path>\n<size bytes>     one per file; path relative to the data dir
//! ...
//! end <manifest JSON>\n                format, schema_version, created_at, files, bytes
//! sha256 <64 hex digits>\n             SHA-256 of every byte before this line
//! ```
//!
//! Paths are `parley.db`, `secret.key` and `attachments/<sha[0..2]>/<sha>`.
//! The archive is written to `FILE.tmp`, fsynced and renamed, so `FILE` is
//! always complete. Restore unpacks into a temporary directory next to the data
//! directory, checks the checksum, every attachment's hash, the database's
//! integrity and schema version, and only then renames it into place: a bad or
//! truncated archive leaves the data directory as it was.

use super::{human_bytes, io, OpsError};
use crate::store::{self, admin as sql};
use sha2::{Digest, Sha256};
use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    time::Instant,
};

const MAGIC: &str = "PARLEY-BACKUP 1";
const DB_FILE: &str = "parley.db";
const SECRET_FILE: &str = "secret.key";
/// Longest header line accepted when reading (a path plus a size).
const MAX_LINE: u64 = 4096;
/// Progress lines at most this often.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the trailer says about the archive.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub schema_version: usize,
    pub created_at: String,
    pub server_version: String,
    pub files: u64,
    pub bytes: u64,
}

/// Writes a backup of `data_dir` to `out`. Safe while a server runs on it.
pub fn backup(data_dir: &Path, out: &Path) -> Result<Manifest, OpsError> {
    let started = Instant::now();
    let db_path = data_dir.join(DB_FILE);
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".parley-backup-")
        .tempdir_in(&out_dir)
        .map_err(io(format!("cannot write in {}", out_dir.display())))?;

    // 1. The database snapshot.
    let src = sql::open_for_reading(&db_path)?;
    let snap_path = scratch.path().join(DB_FILE);
    let pages = sql::snapshot(&src, &snap_path)?;
    drop(src);
    let snap = sql::open_for_reading(&snap_path)?;
    let schema_version = sql::schema_version(&snap)?;
    let shas = sql::attachment_shas(&snap)?;
    drop(snap);
    let db_len = file_len(&snap_path)?;
    eprintln!(
        "backup: database snapshot taken ({pages} pages, {}, schema version {schema_version})",
        human_bytes(db_len)
    );

    // 2. The archive.
    let tmp_out = with_suffix(out, ".tmp");
    // Only its owner may read it: it holds every message and `secret.key`,
    // whatever the umask of whoever runs the backup. Made afresh: a file
    // left by an earlier run would keep its mode.
    match std::fs::remove_file(&tmp_out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("cannot replace {}", tmp_out.display()))(e)),
    }
    let file = create_private(&tmp_out)?;
    let mut w = ArchiveWriter::new(BufWriter::new(file));
    let result = (|| -> Result<Manifest, OpsError> {
        w.line(MAGIC)?;
        w.file(DB_FILE, &snap_path)?;
        w.file(SECRET_FILE, &data_dir.join(SECRET_FILE))?;
        let mut last = Instant::now();
        let mut missing = 0usize;
        for (i, sha) in shas.iter().enumerate() {
            if !is_sha256_hex(sha) {
                eprintln!("backup: warning: skipping attachment with a malformed hash {sha:?}");
                continue;
            }
            let path = crate::service::attachments::blob_path(data_dir, sha);
            if !path.is_file() {
                missing += 1;
                eprintln!(
                    "backup: warning: attachment file {} is missing; skipped",
                    path.display()
                );
                continue;
            }
            w.file(&format!("attachments/{}/{sha}", &sha[..2]), &path)?;
            if last.elapsed() >= PROGRESS_EVERY {
                eprintln!(
                    "backup: attachments {}/{} ({} written)",
                    i + 1,
                    shas.len(),
                    human_bytes(w.bytes)
                );
                last = Instant::now();
            }
        }
        let manifest = Manifest {
            format: 1,
            schema_version,
            created_at: chrono::Utc::now().to_rfc3339(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            files: w.files,
            bytes: w.bytes,
        };
        let json = serde_json::to_string(&manifest)
            .map_err(|e| OpsError::Refused(format!("cannot encode the manifest: {e}")))?;
        w.line(&format!("end {json}"))?;
        let digest = hex::encode(w.hasher.clone().finalize());
        w.raw(format!("sha256 {digest}\n").as_bytes())?;
        let file = w.out.into_inner().map_err(|e| OpsError::Io {
            context: format!("cannot write {}", tmp_out.display()),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(io(format!("cannot sync {}", tmp_out.display())))?;
        if missing > 0 {
            eprintln!("backup: warning: {missing} attachment file(s) were missing");
        }
        eprintln!("backup: sha256 {digest}");
        Ok(manifest)
    })();
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp_out);
            return Err(e);
        }
    };
    std::fs::rename(&tmp_out, out).map_err(io(format!("cannot rename to {}", out.display())))?;
    sync_dir(&out_dir);
    eprintln!(
        "backup: wrote {} ({} files, {}) in {:.1} s",
        out.display(),
        manifest.files,
        human_bytes(file_len(out)?),
        started.elapsed().as_secs_f64()
    );
    Ok(manifest)
}

/// Restores `archive` into `data_dir`. The server must be stopped.
pub fn restore(data_dir: &Path, archive: &Path, force: bool) -> Result<Manifest, OpsError> {
    let started = Instant::now();
    let occupied = match std::fs::read_dir(data_dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(format!("cannot read {}", data_dir.display()))(e)),
    };
    if occupied && !force {
        return Err(OpsError::Refused(format!(
            "data directory {} is not empty; stop the server and pass --force to replace it",
            data_dir.display()
        )));
    }
    // Not under a running server (it would go on writing into the data
    // moved aside, and lose it). Held until the swap is done.
    let _lock = if occupied {
        match crate::lock_data_dir(data_dir) {
            Ok(f) => Some(f),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpsError::Refused(format!(
                    "a parley-server is running on {}; stop it first",
                    data_dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io(format!("cannot lock {}", data_dir.display()))(e))
            }
        }
    } else {
        None
    };
    let name = data_dir
        .file_name()
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "--data-dir {} must name a directory",
                data_dir.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(format!("cannot create {}", parent.display())))?;
    // Next to the data directory, so the final rename stays on one filesystem.
    // Dropped (deleted) on any error below.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.restore-"))
        .tempdir_in(&parent)
        .map_err(io(format!("cannot write in {}", parent.display())))?;
    let manifest = unpack(archive, staging.path())?;

    let db = sql::open_for_reading(&staging.path().join(DB_FILE))?;
    let found = sql::schema_version(&db)?;
    let known = store::known_version();
    if found > known {
        return Err(OpsError::Refused(format!(
            "the backup's database has schema version {found}, newer than this parley-server knows ({known}); restore it with a newer parley-server"
        )));
    }
    let check = sql::quick_check(&db)?;
    if check != "ok" {
        return Err(OpsError::Refused(format!(
            "the backup's database fails its integrity check: {check}"
        )));
    }
    drop(db);

    // Swap: old data aside (kept), restored data in.
    let staged = staging.keep();
    let aside = parent.join(format!(".{name}.replaced-{}", store::now_ms()));
    if occupied {
        std::fs::rename(data_dir, &aside)
            .map_err(io(format!("cannot move {} aside", data_dir.display())))?;
    } else if data_dir.exists() {
        std::fs::remove_dir(data_dir)
            .map_err(io(format!("cannot replace {}", data_dir.display())))?;
    }
    if let Err(e) = std::fs::rename(&staged, data_dir) {
        if occupied {
            let _ = std::fs::rename(&aside, data_dir);
        }
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io(format!(
            "cannot move the restored data to {}",
            data_dir.display()
        ))(e));
    }
    sync_dir(&parent);
    // Kept, not deleted: restoring the wrong archive must have an undo.
    if occupied {
        eprintln!(
            "restore: the data it replaced is kept in {} (move it back to undo; delete it \
             once the restored server works)",
            aside.display()
        );
    }
    eprintln!(
        "restore: restored {} files ({}, schema version {found}, taken {}) into {} in {:.1} s",
        manifest.files,
        human_bytes(manifest.bytes),
        manifest.created_at,
        data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(manifest)
}

/// Checks an archive without restoring it: the checksum and every file.
pub fn verify(archive: &Path) -> Result<Manifest, OpsError> {
    let scratch = tempfile::tempdir().map_err(io("cannot create a temporary directory"))?;
    unpack(archive, scratch.path())
}

/// Unpacks and checks `archive` into the empty directory `dest`.
fn unpack(archive: &Path, dest: &Path) -> Result<Manifest, OpsError> {
    let shown = archive.display().to_string();
    let bad = |why: &str| OpsError::Refused(format!("{shown} is not a usable backup: {why}"));
    let file = File::open(archive).map_err(io(format!("cannot open {shown}")))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::new(file);
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    let read_line = |r: &mut BufReader<File>, line: &mut Vec<u8>| -> Result<String, OpsError> {
        line.clear();
        r.by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', line)
            .map_err(io(format!("cannot read {shown}")))?;
        if line.last() != Some(&b'\n') {
            return Err(bad("it ends early (truncated?)"));
        }
        String::from_utf8(line[..line.len() - 1].to_vec()).map_err(|_| bad("a header is not text"))
    };

    let magic = read_line(&mut r, &mut line)?;
    if magic != MAGIC {
        return Err(bad("it does not start with the Parley backup header"));
    }
    hasher.update(&line);
    let mut have_db = false;
    let mut have_secret = false;
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut last = Instant::now();
    let manifest: Manifest = loop {
        let header = read_line(&mut r, &mut line)?;
        hasher.update(&line);
        if let Some(json) = header.strip_prefix("end ") {
            break serde_json::from_str(json).map_err(|_| bad("its manifest is unreadable"))?;
        }
        let Some(rest) = header.strip_prefix("file ") else {
            return Err(bad("an entry header is malformed"));
        };
        let (size, path) = rest
            .split_once(' ')
            .and_then(|(s, p)| Some((s.parse::<u64>().ok()?, p)))
            .ok_or_else(|| bad("an entry header is malformed"))?;
        let expect_sha = match path {
            DB_FILE => {
                have_db = true;
                None
            }
            SECRET_FILE => {
                have_secret = true;
                None
            }
            p => Some(attachment_sha(p).ok_or_else(|| bad(&format!("unexpected path {p:?}")))?),
        };
        let target = dest.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        let mut out = create_private(&target)?;
        let mut remaining = size;
        let mut buf = vec![0u8; 64 * 1024];
        let mut file_hash = Sha256::new();
        while remaining > 0 {
            let want = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = r
                .read(&mut buf[..want])
                .map_err(io(format!("cannot read {shown}")))?;
            if n == 0 {
                return Err(bad("it ends early (truncated?)"));
            }
            hasher.update(&buf[..n]);
            file_hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io(format!("cannot write {}", target.display())))?;
            remaining -= n as u64;
        }
        out.sync_all()
            .map_err(io(format!("cannot sync {}", target.display())))?;
        if let Some(sha) = expect_sha {
            if hex::encode(file_hash.finalize()) != sha {
                return Err(bad(&format!("attachment {sha} does not match its hash")));
            }
        }
        files += 1;
        bytes += size;
        if last.elapsed() >= PROGRESS_EVERY {
            eprintln!(
                "restore: {files} files, {} of {}",
                human_bytes(bytes),
                human_bytes(total)
            );
            last = Instant::now();
        }
    };
    let trailer = read_line(&mut r, &mut line)?;
    let stored = trailer
        .strip_prefix("sha256 ")
        .ok_or_else(|| bad("the checksum line is missing"))?;
    if stored != hex::encode(hasher.finalize()) {
        return Err(bad("checksum mismatch (the file is damaged)"));
    }
    let mut extra = [0u8; 1];
    if r.read(&mut extra)
        .map_err(io(format!("cannot read {shown}")))?
        != 0
    {
        return Err(bad("there is data after the checksum"));
    }
    if !have_db || !have_secret {
        return Err(bad("it lacks parley.db or secret.key"));
    }
    if files != manifest.files || bytes != manifest.bytes {
        return Err(bad("its manifest does not match its content"));
    }
    let secret_len = file_len(&dest.join(SECRET_FILE))?;
    if secret_len != 64 {
        return Err(bad("its secret.key has the wrong size"));
    }
    sync_dir(dest);
    Ok(manifest)
}

/// `attachments/ab/<sha>` -> the sha, if the path is exactly that shape.
fn attachment_sha(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("attachments/")?;
    let (dir, sha) = rest.split_once('/')?;
    (is_sha256_hex(sha) && dir == &sha[..2]).then_some(sha)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Streams files into the archive, hashing and counting as it goes.
struct ArchiveWriter<W: Write> {
    out: W,
    hasher: Sha256,
    files: u64,
    bytes: u64,
}

impl<W: Write> ArchiveWriter<W> {
    fn new(out: W) -> Self {
        ArchiveWriter {
            out,
            hasher: Sha256::new(),
            files: 0,
            bytes: 0,
        }
    }

    fn raw(&mut self, data: &[u8]) -> Result<(), OpsError> {
        self.out
            .write_all(data)
            .map_err(io("cannot write the backup file"))
    }

    fn hashed(&mut self, data: &[u8]) -> Result<(), OpsError> {
        self.hasher.update(data);
        self.raw(data)
    }

    fn line(&mut self, text: &str) -> Result<(), OpsError> {
        self.hashed(format!("{text}\n").as_bytes())
    }

    fn file(&mut self, name: &str, path: &Path) -> Result<(), OpsError> {
        let mut f = File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
        let size = f
            .metadata()
            .map_err(io(format!("cannot read {}", path.display())))?
            .len();
        self.line(&format!("file {size} {name}"))?;
        let mut remaining = size;
        let mut buf = vec![0u8; 64 * 1024];
        while remaining > 0 {
            let want = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = f
                .read(&mut buf[..want])
                .map_err(io(format!("cannot read {}", path.display())))?;
            if n == 0 {
                return Err(OpsError::Refused(format!(
                    "{} shrank while it was being backed up",
                    path.display()
                )));
            }
            self.hashed(&buf[..n])?;
            remaining -= n as u64;
        }
        self.files += 1;
        self.bytes += size;
        Ok(())
    }
}

fn create_private(path: &Path) -> Result<File, OpsError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map_err(io(format!("cannot create {}", path.display())))
}

fn file_len(path: &Path) -> Result<u64, OpsError> {
    Ok(std::fs::metadata(path)
        .map_err(io(format!("cannot read {}", path.display())))?
        .len())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Makes renames in `dir` durable (best effort; not all platforms can).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_paths_are_strict() {
        let sha = "ab".to_owned() + &"0".repeat(62);
        assert_eq!(
            attachment_sha(&format!("attachments/ab/{sha}")),
            Some(sha.as_str())
        );
        assert_eq!(attachment_sha(&format!("attachments/cd/{sha}")), None);
        assert_eq!(attachment_sha("attachments/ab/../../etc/passwd"), None);
        assert_eq!(attachment_sha("../parley.db"), None);
    }
}
