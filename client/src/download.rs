//! Saving a received attachment to a file.
//!
//! The name comes from whoever sent the file, so it is made safe before it
//! touches the file system (no folders, no hidden files, no device names, no
//! characters Windows refuses). The bytes go to a temporary file beside the
//! destination and appear under their name only once their size and SHA-256
//! match the attachment's: an interrupted or corrupted download never leaves a
//! half file that looks whole. Saving into a folder never overwrites: the
//! second `notes.pdf` becomes `notes (1).pdf`, as browsers do.

use crate::error::{ClientError, Result};
use futures_util::StreamExt;
use parley_protocol::Attachment;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Where a download goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Into this folder, under the attachment's (safe) name, never replacing
    /// a file that is already there. The folder is created if missing.
    Folder(PathBuf),
    /// To exactly this path, replacing what is there: the user chose it (a
    /// save dialog asks before replacing).
    File(PathBuf),
}

/// The folder downloads go to when none is given: `PARLEY_DOWNLOAD_DIR`,
/// else the user's Downloads folder, else `~/Downloads`.
pub fn default_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os("PARLEY_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let dirs = directories::UserDirs::new();
    if let Some(d) = dirs.as_ref().and_then(|u| u.download_dir()) {
        return d.to_owned();
    }
    dirs.map(|u| u.home_dir().join("Downloads"))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Longest name kept, in bytes of UTF-8: file systems allow 255, and a
/// ` (999)` may still be added.
const NAME_MAX_BYTES: usize = 200;

/// Invisible characters that change how a name reads (bidi overrides and
/// isolates, zero-width ones): `invoice\u{202e}gpj.exe` would show as
/// `invoiceexe.jpg`.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A file name for `att` that is safe on every desktop OS: its own name's
/// last path component without control, reserved or invisible characters,
/// leading dots or trailing dots and spaces, not a DOS device name, at most
/// [`NAME_MAX_BYTES`]; or `attachment-<id>` with an extension from its mime
/// type when nothing is left.
pub fn safe_file_name(att: &Attachment) -> String {
    let raw = att.name.as_deref().unwrap_or("");
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .map(|c| if "<>:\"|?*".contains(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let mut name = shorten(trimmed);
    if name.is_empty() {
        let id: String = att.id.chars().filter(char::is_ascii_alphanumeric).collect();
        let id: String = id
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        name = format!("attachment-{id}");
        if let Some(ext) = extension_of(&att.mime) {
            name = format!("{name}.{ext}");
        }
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if device {
        name = format!("_{name}");
    }
    name
}

/// Cuts a name to [`NAME_MAX_BYTES`] on a character boundary, keeping a
/// short extension.
fn shorten(name: &str) -> String {
    if name.len() <= NAME_MAX_BYTES {
        return name.to_owned();
    }
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 16);
    let room = NAME_MAX_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut stem = String::new();
    for c in name.chars() {
        if stem.len() + c.len_utf8() > room {
            break;
        }
        stem.push(c);
    }
    match ext {
        Some(ext) => format!("{}.{ext}", stem.trim_end_matches(['.', ' '])),
        None => stem,
    }
}

fn extension_of(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "application/zip" => "zip",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => return None,
    })
}

/// The `n`-th name tried in a folder: `notes.pdf`, `notes (1).pdf`, ...
pub fn candidate(dir: &Path, name: &str, n: u32) -> PathBuf {
    if n == 0 {
        return dir.join(name);
    }
    let p = Path::new(name);
    match (
        p.file_stem().and_then(|s| s.to_str()),
        p.extension().and_then(|e| e.to_str()),
    ) {
        (Some(stem), Some(ext)) => dir.join(format!("{stem} ({n}).{ext}")),
        _ => dir.join(format!("{name} ({n})")),
    }
}

/// How many numbered names are tried before giving up.
const CANDIDATES: u32 = 1000;

/// Writes the body of `resp` (a download of `att`) to `dest`, calling
/// `progress` with the bytes received so far. Returns the path written.
pub(crate) async fn save(
    resp: reqwest::Response,
    att: &Attachment,
    dest: Destination,
    progress: impl Fn(u64),
) -> Result<PathBuf> {
    let dir = match &dest {
        Destination::Folder(d) => d.clone(),
        Destination::File(f) => match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        },
    };
    if let Destination::Folder(d) = &dest {
        tokio::fs::create_dir_all(d)
            .await
            .map_err(|e| io_at(d, e))?;
    }
    let tmp = {
        let dir = dir.clone();
        crate::client::blocking(move || {
            clear_stale_parts(&dir, PART_KEPT);
            tempfile::Builder::new()
                .prefix(PART_PREFIX)
                .suffix(PART_SUFFIX)
                .tempfile_in(&dir)
                .map_err(|e| io_at(&dir, e))
        })
        .await?
    };
    let mut file = tokio::fs::File::from_std(tmp.as_file().try_clone()?);
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut body = resp.bytes_stream();
    loop {
        // A connection that stops bringing bytes is given up, not waited
        // on for the whole download's hour.
        let next = tokio::time::timeout(crate::api::TRANSFER_IDLE, body.next())
            .await
            .map_err(|_| {
                ClientError::Network(format!(
                    "the download stalled: nothing came for {} s",
                    crate::api::TRANSFER_IDLE.as_secs()
                ))
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk?;
        got += chunk.len() as u64;
        if got > att.size {
            return Err(mismatch(att, got));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|e| io_at(&dir, e))?;
        progress(got);
    }
    file.sync_all().await.map_err(|e| io_at(&dir, e))?;
    drop(file);
    let digest = hex::encode(hasher.finalize());
    if got != att.size || !digest.eq_ignore_ascii_case(&att.sha256) {
        return Err(mismatch(att, got));
    }
    let name = safe_file_name(att);
    crate::client::blocking(move || persist(tmp, dest, &name)).await
}

/// The mode of a newly created file: 0666 less the process's umask (Linux
/// says it in /proc; elsewhere the usual 022 is assumed).
#[cfg(unix)]
fn new_file_mode() -> u32 {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// Gives the finished temporary file its name.
fn persist(tmp: tempfile::NamedTempFile, dest: Destination, name: &str) -> Result<PathBuf> {
    // Temporary files are created private (0600); a saved download gets the
    // mode a file created there would get (the user's umask), or, replacing
    // a file, that file's.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let replaced = match &dest {
            Destination::File(path) => std::fs::metadata(path).ok().map(|m| m.permissions().mode()),
            Destination::Folder(_) => None,
        };
        let mode = replaced.unwrap_or_else(new_file_mode) & 0o777;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    }
    match dest {
        Destination::File(path) => {
            tmp.persist(&path).map_err(|e| io_at(&path, e.error))?;
            Ok(path)
        }
        Destination::Folder(dir) => {
            let mut tmp = tmp;
            for n in 0..CANDIDATES {
                let path = candidate(&dir, name, n);
                match tmp.persist_noclobber(&path) {
                    Ok(_) => return Ok(path),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = e.file,
                    Err(e) => return Err(io_at(&path, e.error)),
                }
            }
            Err(ClientError::Invalid(format!(
                "{}: {CANDIDATES} files named like {name} already exist",
                dir.display()
            )))
        }
    }
}

fn mismatch(att: &Attachment, got: u64) -> ClientError {
    ClientError::Protocol(format!(
        "attachment {}: received {got} bytes that do not match its size ({}) and SHA-256; \
         nothing was saved",
        att.id, att.size
    ))
}

fn io_at(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

/// How a download's temporary file is named, next to where it goes.
const PART_PREFIX: &str = ".parley-";
const PART_SUFFIX: &str = ".part";
/// A temporary file of ours untouched this long was left by a save that
/// was cut off (the app quit, or crashed): no save takes a day.
const PART_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes our own temporary files in `dir` last changed more than `kept`
/// ago (nothing else: `dir` is the user's Downloads folder or one they
/// chose). Blocking.
fn clear_stale_parts(dir: &Path, kept: std::time::Duration) {
    remove_stale(dir, kept, |e| {
        let name = e.file_name();
        e.file_type().is_ok_and(|t| t.is_file())
            && name
                .to_str()
                .is_some_and(|n| n.starts_with(PART_PREFIX) && n.ends_with(PART_SUFFIX))
    });
}

/// Removes the entries of `dir` (files or folders) last changed more than
/// `kept` ago: what an interrupted transfer left in a working folder.
/// Blocking.
pub fn clear_stale(dir: &std::path::Path, kept: std::time::Duration) {
    remove_stale(dir, kept, |_| true);
}

/// Removes the entries of `dir` that `ours` accepts and that were last
/// changed more than `kept` ago.
fn remove_stale(dir: &Path, kept: std::time::Duration, ours: impl Fn(&std::fs::DirEntry) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let stale = || {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > kept)
        };
        if ours(&e) && stale() {
            let path = e.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(name: Option<&str>, mime: &str) -> Attachment {
        Attachment {
            id: "01936f2a-7c3e-7000-8000-00000000abcd".into(),
            mime: mime.into(),
            size: 0,
            sha256: String::new(),
            name: name.map(str::to_owned),
            width: None,
            height: None,
        }
    }

    fn safe(name: &str) -> String {
        safe_file_name(&att(Some(name), "application/octet-stream"))
    }

    /// A name chosen by the sender cannot reach outside the folder, hide
    /// itself, or be a name Windows refuses.
    #[test]
    fn names_from_the_sender_are_made_safe() {
        assert_eq!(safe("notes.pdf"), "notes.pdf");
        assert_eq!(safe("../../.bashrc"), "bashrc");
        assert_eq!(safe("C:\\Windows\\evil.exe"), "evil.exe");
        assert_eq!(safe("/etc/passwd"), "passwd");
        assert_eq!(safe("a<b>c:d\"e|f?g*.txt"), "a_b_c_d_e_f_g_.txt");
        assert_eq!(safe("bell\u{7}\nname.txt"), "bellname.txt");
        assert_eq!(safe("trailing. . "), "trailing");
        assert_eq!(safe("CON.txt"), "_CON.txt");
        assert_eq!(safe("lpt1"), "_lpt1");
        assert_eq!(safe("console.txt"), "console.txt");
        assert_eq!(safe("été 😀.png"), "été 😀.png");
    }

    #[test]
    fn an_empty_or_missing_name_falls_back_to_the_id_and_mime() {
        assert_eq!(
            safe_file_name(&att(None, "image/png")),
            "attachment-0000abcd.png"
        );
        assert_eq!(
            safe_file_name(&att(Some("../.."), "x/y")),
            "attachment-0000abcd"
        );
    }

    #[test]
    fn long_names_are_cut_in_bytes_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let s = safe(&long);
        assert_eq!(s.len(), NAME_MAX_BYTES);
        assert!(s.ends_with("a.pdf"));
        let at_limit = format!("{}.pdf", "b".repeat(NAME_MAX_BYTES - 4));
        assert_eq!(safe(&at_limit), at_limit, "exactly at the limit: kept");
        // 100 three-byte characters are 300 bytes: cut on a boundary.
        let cjk = format!("{}.txt", "文".repeat(100));
        let s = safe(&cjk);
        assert!(s.len() <= NAME_MAX_BYTES && s.ends_with("文.txt"), "{s}");
    }

    #[test]
    fn invisible_characters_cannot_disguise_a_name() {
        assert_eq!(safe("invoice\u{202e}gpj.exe"), "invoicegpj.exe");
        assert_eq!(safe("a\u{200b}b\u{2066}c.txt"), "abc.txt");
    }

    #[test]
    fn numbered_candidates_keep_the_extension() {
        let d = Path::new("/d");
        assert_eq!(candidate(d, "notes.pdf", 0), Path::new("/d/notes.pdf"));
        assert_eq!(candidate(d, "notes.pdf", 2), Path::new("/d/notes (2).pdf"));
        assert_eq!(candidate(d, "README", 1), Path::new("/d/README (1)"));
    }
}

#[cfg(test)]
mod clear_stale_tests {
    use super::{clear_stale, clear_stale_parts};
    use std::time::Duration;

    /// A save cut off leaves its temporary file; the next save into that
    /// folder removes it once stale, and nothing of the user's.
    #[test]
    fn a_cut_off_save_leaves_nothing_for_long() {
        let dir = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(24 * 3600);
        let old = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(std::time::SystemTime::now() - 2 * day)
                .unwrap();
            p
        };
        let ours = old(".parley-a1b2.part");
        let theirs = old("report.part");
        let hidden = old(".parley-notes.txt");
        let fresh = dir.path().join(".parley-c3d4.part");
        std::fs::write(&fresh, b"on its way").unwrap();
        clear_stale_parts(dir.path(), day);
        assert!(!ours.exists());
        assert!(theirs.exists() && hidden.exists() && fresh.exists());
    }

    #[test]
    fn leftovers_of_an_interrupted_forward_are_cleared_once_stale() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("old"), root.path().join("new"));
        for d in [&old, &new] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("photo.png.part"), b"half").unwrap();
        }
        let day = Duration::from_secs(24 * 3600);
        std::fs::File::open(&old)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - 2 * day)
            .unwrap();
        clear_stale(root.path(), day);
        assert!(!old.exists());
        assert!(new.join("photo.png.part").exists());
    }
}
