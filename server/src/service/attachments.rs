//! Attachments: streamed upload with size limit and sha256, content-addressed
//! files, access only for the uploader and members of chats that reference them.

use super::Caller;
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms},
    tokens,
};
use futures_util::{Stream, StreamExt};
use parley_protocol::Attachment;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// An image's width and height as it is shown: a camera's photo stored
/// sideways with an EXIF orientation that turns it is shown turned, and a
/// client sizes its preview box from these before the bytes arrive. None
/// when the file is not an image this server can read.
fn shown_size(path: &Path) -> Option<(u32, u32)> {
    use image::{metadata::Orientation, ImageDecoder};
    let mut decoder = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .ok()?
        .into_decoder()
        .ok()?;
    let (w, h) = decoder.dimensions();
    let turned = matches!(
        decoder.orientation(),
        Ok(Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH)
    );
    Some(if turned { (h, w) } else { (w, h) })
}

/// Where the bytes of `sha256` live: `<data>/attachments/ab/abcdef...`.
pub fn blob_path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("attachments").join(&sha256[..2]).join(sha256)
}

/// Checks a declared media type: `type/subtype`, printable, <= 127 bytes.
fn check_mime(ct: Option<&str>) -> Result<String> {
    let mime = ct
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let ok = mime.len() <= 127
        && mime.split_once('/').is_some_and(|(t, s)| {
            !t.is_empty()
                && !s.is_empty()
                && mime
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
        });
    if ok {
        Ok(mime)
    } else {
        Err(Error::UnsupportedMediaType {
            detail: "give the file's Content-Type, e.g. image/jpeg or application/pdf".into(),
        })
    }
}

/// The unsent uploads a user may keep are full (`upload_quota`), for now:
/// sending them or their expiry frees room.
fn quota_full(quota: u64) -> Error {
    Error::TooManyRequests {
        code: "upload_quota",
        detail: format!(
            "you have {} MiB of uploads not sent yet, the most this server keeps; \
             send or wait for them to expire (a week)",
            quota >> 20
        ),
        retry_after: 3600,
    }
}

/// A file larger than the unsent uploads a user may keep: it never fits,
/// so it is refused as too large rather than "try again in an hour".
fn beyond_quota(quota: u64) -> Error {
    Error::PayloadTooLarge {
        detail: format!(
            "this server keeps at most {} MiB of one person's uploads not sent yet; \
             the file is larger",
            quota >> 20
        ),
    }
}

/// `POST /v1/attachments`: streams the body to disk, hashing as it goes, and
/// refuses it once it passes the limit. `declared`: the request's
/// Content-Length, which lets a body over the unsent-upload quota be refused
/// before it is read; without one (chunked), the body is refused as soon as
/// it passes the room the quota leaves.
pub async fn upload<S, E>(
    state: &AppState,
    caller: &Caller,
    content_type: Option<&str>,
    name: Option<String>,
    declared: Option<u64>,
    mut body: S,
) -> Result<Attachment>
where
    S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mime = check_mime(content_type)?;
    if let Some(n) = &name {
        if n.is_empty()
            || n.chars().count() > 255
            || n.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(Error::unprocessable(
                "invalid_field",
                "name: 1 to 255 characters, no slashes",
            ));
        }
    }
    let max = state.config.max_attachment_bytes;
    let quota = state.config.max_unsent_upload_mib.saturating_mul(1 << 20);
    let since = now_ms() - UNSENT_KEPT.as_millis() as i64;
    // The room left now; the writer job below checks again, exactly.
    let room = if quota > 0 {
        let uid = caller.user_id.clone();
        let unsent = state
            .store
            .read(move |conn| store::attachments::unsent_bytes(conn, &uid, since))
            .await?;
        match declared {
            Some(len) if len > quota => return Err(beyond_quota(quota)),
            Some(len) if unsent.saturating_add(len) > quota => return Err(quota_full(quota)),
            _ => Some(quota.saturating_sub(unsent)),
        }
    } else {
        None
    };
    let dir = state.config.data_dir.join("attachments");
    let tmp_dir = dir.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir)
        .await
        .map_err(Error::io)?;
    let tmp = tmp_dir.join(tokens::new_id());
    // Removes the partial file however this ends, also if this future is
    // dropped before it does (a cancelled request); a client that goes away
    // mid-stream ends in the error path below. Once the file took its place
    // there is nothing left to remove.
    let _partial = tempfile::TempPath::try_from_path(&tmp).map_err(Error::io)?;
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(Error::io)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                crate::http::extract::body_read_error(e, || Error::PayloadTooLarge {
                    detail: format!("attachments are limited to {max} bytes"),
                })
            })?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::PayloadTooLarge {
                    detail: format!("attachments are limited to {max} bytes"),
                });
            }
            if room.is_some_and(|room| size > room) {
                return Err(if size > quota {
                    beyond_quota(quota)
                } else {
                    quota_full(quota)
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(Error::io)?;
        }
        if size == 0 {
            return Err(Error::unprocessable(
                "invalid_field",
                "body: the file is empty",
            ));
        }
        file.sync_all().await.map_err(Error::io)?;
        Ok((size, hex::encode(hasher.finalize())))
    }
    .await;
    // On an error the partial file goes with `_partial`.
    let (size, sha) = result?;
    let dest = blob_path(&state.config.data_dir, &sha);
    let shard = dest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::internal("an attachment path without a folder"))?;
    let new_shard = !tokio::fs::try_exists(&shard).await.unwrap_or(false);
    tokio::fs::create_dir_all(&shard).await.map_err(Error::io)?;
    let (width, height) = if mime.starts_with("image/") {
        let path = tmp.clone();
        tokio::task::spawn_blocking(move || shown_size(&path))
            .await
            .ok()
            .flatten()
            .map_or((None, None), |(w, h)| (Some(w), Some(h)))
    } else {
        (None, None)
    };
    let attachment = Attachment {
        id: tokens::new_id(),
        mime,
        size,
        sha256: sha,
        name,
        width,
        height,
    };
    let (a, uid) = (attachment.clone(), caller.user_id.clone());
    let now = now_ms();
    // The file takes its place and the row is written in one writer job, so
    // the collector (also a writer job) never sees one without the other.
    // Content-addressed: identical bytes are stored once.
    let created = state
        .store
        .write(move |conn| -> Result<bool> {
            if quota > 0 && store::attachments::unsent_bytes(conn, &uid, since)? + a.size > quota {
                return Err(quota_full(quota));
            }
            let created = !dest.exists();
            // Otherwise the same bytes are there already, and `_partial`
            // removes this copy.
            if created {
                std::fs::rename(&tmp, &dest).map_err(Error::io)?;
            }
            store::attachments::insert(conn, &a, &uid, now).map_err(|e| {
                if created {
                    let _ = std::fs::remove_file(&dest);
                }
                Error::from(e)
            })?;
            Ok(created)
        })
        .await?;
    // The rename (and a new shard folder) is durable only once its folder
    // is: a power cut could otherwise keep the row, whose WAL is synced, and
    // lose the file. Synced before the client hears of it, off the writer
    // (a crash before this leaves an unsent row the collector removes).
    // Nothing to sync when the bytes were there already; the parent only
    // when the shard folder is new.
    let folders = [
        created.then(|| shard.clone()),
        new_shard
            .then(|| shard.parent().map(Path::to_path_buf))
            .flatten(),
    ];
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for folder in folders.into_iter().flatten() {
            std::fs::File::open(&folder)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::io)?;
    Ok(attachment)
}

/// Partial uploads older than this are left over from a crash and swept.
const PARTIAL_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How long an upload may wait to be sent before it is collected.
pub const UNSENT_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// What one collection did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Files deleted for good: set aside by an earlier collection, or
    /// partial uploads a crash left.
    pub files_deleted: usize,
    /// Attachments (rows) deleted now: never sent within [`UNSENT_KEPT`], or
    /// their message was deleted.
    pub attachments: usize,
    /// Their files, moved aside now.
    pub files_moved: usize,
    /// Files no attachment refers to at all, older than [`STRAY_KEPT`],
    /// moved aside now: an upload whose batch was rolled back after its
    /// file took its place, or files newer than a restored database.
    pub strays: usize,
}

/// A file in the attachments tree with no row for this long is a stray:
/// an upload's file and row are written in one writer job, which takes
/// far less.
pub const STRAY_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Collects what no one can download any more, so that uploads never sent
/// and the files of deleted messages do not fill the disk.
///
/// Two steps, each a writer job (so never between an upload's file and its
/// row): first the files an earlier run set aside in `attachments/trash/`
/// are deleted, or put back if their rows came back (that run's batch was
/// rolled back after it moved them); then unreferenced attachments older
/// than `unsent_kept` are deleted and their files, where no other
/// attachment shares the bytes, moved to the trash for the next run. By
/// then the deletion that moved them is durable.
pub async fn collect_garbage(
    state: &AppState,
    unsent_kept: std::time::Duration,
) -> Result<Collected> {
    let data = state.config.data_dir.clone();
    let partial = sweep_partial(&data.join("attachments").join("tmp"), PARTIAL_KEPT).await;
    let trash = data.join("attachments").join("trash");
    let (d, t) = (data.clone(), trash.clone());
    let files_deleted = state
        .store
        .write(move |conn| -> Result<usize> {
            let Ok(entries) = std::fs::read_dir(&t) else {
                return Ok(0);
            };
            let mut deleted = 0;
            for entry in entries.flatten() {
                let sha = entry.file_name().to_string_lossy().into_owned();
                // Only files this collector put there; anything else is left
                // alone (and does not stop the collection).
                let ours = sha.len() == 64
                    && sha.bytes().all(|b| b.is_ascii_hexdigit())
                    && entry.file_type().is_ok_and(|t| t.is_file());
                if !ours {
                    tracing::warn!(name = %sha, "attachments/trash: not a set-aside file; left alone");
                    continue;
                }
                let dest = blob_path(&d, &sha);
                let done = if store::attachments::sha_in_use(conn, &sha)? && !dest.exists() {
                    std::fs::rename(entry.path(), &dest)
                } else {
                    std::fs::remove_file(entry.path()).map(|()| deleted += 1)
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, sha = %sha, "attachments/trash: cannot clear");
                }
            }
            Ok(deleted)
        })
        .await?;
    let before = now_ms() - unsent_kept.as_millis() as i64;
    let (attachments, files_moved) = state
        .store
        .write(move |conn| -> Result<(usize, usize)> {
            let (deleted, gone) = store::attachments::delete_unreferenced(conn, before)?;
            if !gone.is_empty() {
                std::fs::create_dir_all(&trash).map_err(Error::io)?;
            }
            let mut moved = 0;
            for sha in &gone {
                match std::fs::rename(blob_path(&data, sha), trash.join(sha)) {
                    Ok(()) => moved += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(e)),
                }
            }
            Ok((deleted, moved))
        })
        .await?;
    let strays = set_aside_strays(state, STRAY_KEPT).await?;
    Ok(Collected {
        files_deleted: files_deleted + partial,
        attachments,
        files_moved,
        strays,
    })
}

/// Moves to the trash the files under `attachments/xx/` older than `kept`
/// that no attachment refers to; returns how many. The search runs on a
/// reader, so the writer only re-checks the few it found (a row may have
/// come since) and moves them; the next collection deletes them, or puts
/// them back if their rows returned.
async fn set_aside_strays(state: &AppState, kept: std::time::Duration) -> Result<usize> {
    let data = state.config.data_dir.clone();
    let root = data.join("attachments");
    let old = tokio::task::spawn_blocking(move || old_blobs(&root, kept))
        .await
        .unwrap_or_default();
    if old.is_empty() {
        return Ok(0);
    }
    let unused = state
        .store
        .read(move |conn| -> Result<Vec<String>> {
            let mut unused = Vec::new();
            for sha in old {
                if !store::attachments::sha_in_use(conn, &sha)? {
                    unused.push(sha);
                }
            }
            Ok(unused)
        })
        .await?;
    if unused.is_empty() {
        return Ok(0);
    }
    state
        .store
        .write(move |conn| -> Result<usize> {
            let trash = data.join("attachments").join("trash");
            std::fs::create_dir_all(&trash).map_err(Error::io)?;
            let mut moved = 0;
            for sha in unused {
                if store::attachments::sha_in_use(conn, &sha)? {
                    continue;
                }
                match std::fs::rename(blob_path(&data, &sha), trash.join(&sha)) {
                    Ok(()) => {
                        tracing::warn!(sha = %sha, "attachments: a file without a row, set aside");
                        moved += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(e)),
                }
            }
            Ok(moved)
        })
        .await
}

/// The sha256 of the content files under `root/xx/` last modified more
/// than `kept` ago. Only names the upload writes (64 hex digits, in the
/// folder of their first two) count; anything else is left alone.
fn old_blobs(root: &Path, kept: std::time::Duration) -> Vec<String> {
    let is_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let Ok(dirs) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in dirs.flatten() {
        let prefix = dir.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !is_hex(&prefix) || !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let old = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > kept);
            if name.len() == 64 && name.starts_with(&prefix) && is_hex(&name) && old {
                found.push(name);
            }
        }
    }
    found
}

/// Deletes partial uploads in `dir` older than `kept` (a crash left them);
/// returns how many.
async fn sweep_partial(dir: &Path, kept: std::time::Duration) -> usize {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > kept)
            })
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
    })
    .await
    .unwrap_or(0)
}

/// `GET /v1/attachments/{id}`: metadata and file path, if the caller may see it.
pub async fn open(state: &AppState, caller: &Caller, id: &str) -> Result<(Attachment, PathBuf)> {
    let (uid, aid) = (caller.user_id.clone(), id.to_owned());
    let a = state
        .store
        .read(move |conn| {
            let not_found = || Error::not_found("attachment_not_found", "no such attachment");
            let (a, uploader) = store::attachments::by_id(conn, &aid)?.ok_or_else(not_found)?;
            if uploader == uid || store::attachments::visible_via_chat(conn, &aid, &uid)? {
                Ok(a)
            } else {
                Err(not_found())
            }
        })
        .await?;
    let path = blob_path(&state.config.data_dir, &a.sha256);
    Ok((a, path))
}
