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

/// `POST /v1/attachments`: streams the body to disk, hashing as it goes, and
/// refuses it once it passes the limit.
pub async fn upload<S, E>(
    state: &AppState,
    caller: &Caller,
    content_type: Option<&str>,
    name: Option<String>,
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
    let dir = state.config.data_dir.join("attachments");
    let tmp_dir = dir.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir)
        .await
        .map_err(Error::io)?;
    let tmp = tmp_dir.join(tokens::new_id());
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(Error::io)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                let text = e.to_string();
                if text.contains("length limit") {
                    Error::PayloadTooLarge {
                        detail: format!("attachments are limited to {max} bytes"),
                    }
                } else {
                    Error::bad_request("bad_request", format!("upload interrupted: {text}"))
                }
            })?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::PayloadTooLarge {
                    detail: format!("attachments are limited to {max} bytes"),
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
        Ok((size, hex(&hasher.finalize())))
    }
    .await;
    let (size, sha) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let dest = blob_path(&state.config.data_dir, &sha);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(Error::io)?;
    }
    // Content-addressed: identical bytes are stored once.
    if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        let _ = tokio::fs::remove_file(&tmp).await;
    } else {
        tokio::fs::rename(&tmp, &dest).await.map_err(Error::io)?;
    }
    let (width, height) = if mime.starts_with("image/") {
        let path = dest.clone();
        tokio::task::spawn_blocking(move || {
            image::ImageReader::open(&path)
                .and_then(|r| r.with_guessed_format())
                .ok()
                .and_then(|r| r.into_dimensions().ok())
        })
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
    state
        .store
        .write(move |conn| store::attachments::insert(conn, &a, &uid, now).map_err(Error::from))
        .await?;
    Ok(attachment)
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
