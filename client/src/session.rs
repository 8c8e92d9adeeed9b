//! A profile directory and the session stored for it.
//!
//! The refresh token (and the short-lived access token) go to the OS keyring;
//! where no keyring service exists (headless Linux, CI) they go to a `session`
//! file in the profile directory with mode 0600, and the caller is told so it
//! can warn once. The non-secret part (server, user, device) is `profile.json`.
//! Refreshing happens under an exclusive file lock, because two processes of
//! one profile (the CLI's `listen` and `send`) must never both present the same
//! refresh token: the server would see reuse and sign the device out.

use crate::error::{ClientError, Result};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

const KEYRING_SERVICE: &str = "parley";
const PROFILE_FILE: &str = "profile.json";
const SECRET_FILE: &str = "session";
const LOCK_FILE: &str = "lock";
/// A secret of this profile's own, never sent: refresh retry keys are made
/// from it (see `Profile::refresh_retry_key`).
const RETRY_SECRET_FILE: &str = "retry.key";

/// Where the secret part of a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStore {
    Keyring,
    File,
}

/// What the profile knows about its account (not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub server: String,
    pub user_id: String,
    pub device_id: String,
    pub store: SecretStore,
}

/// The secret part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    pub refresh_token: String,
    pub access_token: String,
    /// Unix seconds.
    pub access_expires_at: i64,
    /// Lifetime the server gave the access token, seconds (0 if unknown).
    #[serde(default)]
    pub access_ttl: i64,
}

/// A profile directory: one account on one server, its cache and its lock.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// Opens (creating) a profile directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Profile> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        }
        Ok(Profile { dir })
    }

    /// The default profile directory of this OS user.
    pub fn default_dir() -> PathBuf {
        directories::ProjectDirs::from("org", "Parley", "parley")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".parley"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cache_path(&self) -> PathBuf {
        self.dir.join("cache.db")
    }

    /// Where the cache of `user_id` on `server` waits, holding messages that
    /// never reached the server, while another account uses this profile;
    /// it comes back when that account signs in here again.
    pub fn set_aside_cache_path(&self, server: &str, user_id: &str) -> PathBuf {
        self.dir
            .join(format!("cache-{}.db", account_key(server, user_id)))
    }

    /// Moves the file `from` to `to`, never over another file (a cache
    /// set aside before is not replaced: the move is refused), and durably
    /// (the folder is synced). For a cache, only once it is one file (see
    /// `cache::retire`). Blocking.
    pub fn move_cache(&self, from: &Path, to: &Path) -> Result<()> {
        let failed = |e: std::io::Error| {
            ClientError::Invalid(format!(
                "could not move {} to {}: {e}",
                from.display(),
                to.display()
            ))
        };
        // A hard link fails if `to` exists, where a rename would replace it.
        match fs::hard_link(from, to) {
            Ok(()) => fs::remove_file(from).map_err(failed)?,
            // The same file: a move cut short between link and unlink.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && same_file(from, to) => {
                fs::remove_file(from).map_err(failed)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(failed(e)),
            // A file system without hard links: check, then rename.
            Err(_) if !to.exists() => fs::rename(from, to).map_err(failed)?,
            Err(e) => return Err(failed(e)),
        }
        #[cfg(unix)]
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    pub fn info(&self) -> Result<Option<ProfileInfo>> {
        match fs::read(self.dir.join(PROFILE_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ClientError::Invalid(format!("profile.json is damaged: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn keyring_entry(&self) -> Option<keyring::Entry> {
        if std::env::var("PARLEY_KEYRING").is_ok_and(|v| v == "0" || v == "off") {
            return None;
        }
        let account = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        keyring::Entry::new(KEYRING_SERVICE, &account.to_string_lossy()).ok()
    }

    /// Stores a session; says where the secret went. Blocking (keyring).
    pub fn save(
        &self,
        server: &str,
        user_id: &str,
        device_id: &str,
        secrets: &Secrets,
    ) -> Result<SecretStore> {
        let json =
            serde_json::to_string(secrets).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let store = match self.keyring_entry().map(|e| e.set_password(&json)) {
            Some(Ok(())) => {
                let _ = fs::remove_file(self.dir.join(SECRET_FILE));
                SecretStore::Keyring
            }
            _ => {
                write_private(&self.dir.join(SECRET_FILE), json.as_bytes())?;
                SecretStore::File
            }
        };
        let info = ProfileInfo {
            server: server.to_owned(),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            store,
        };
        let bytes =
            serde_json::to_vec_pretty(&info).map_err(|e| ClientError::Invalid(e.to_string()))?;
        write_private(&self.dir.join(PROFILE_FILE), &bytes)?;
        Ok(store)
    }

    /// Replaces only the secrets (after a refresh), keeping where they live.
    pub fn save_secrets(&self, info: &ProfileInfo, secrets: &Secrets) -> Result<()> {
        let json =
            serde_json::to_string(secrets).map_err(|e| ClientError::Invalid(e.to_string()))?;
        match info.store {
            SecretStore::Keyring => self
                .keyring_entry()
                .ok_or_else(|| ClientError::Invalid("keyring unavailable".into()))?
                .set_password(&json)
                .map_err(|e| ClientError::Invalid(format!("keyring: {e}"))),
            SecretStore::File => write_private(&self.dir.join(SECRET_FILE), json.as_bytes()),
        }
    }

    pub fn secrets(&self, info: &ProfileInfo) -> Result<Option<Secrets>> {
        let json = match info.store {
            SecretStore::Keyring => match self.keyring_entry().map(|e| e.get_password()) {
                Some(Ok(j)) => j,
                Some(Err(keyring::Error::NoEntry)) | None => return Ok(None),
                Some(Err(e)) => return Err(ClientError::Invalid(format!("keyring: {e}"))),
            },
            SecretStore::File => match fs::read_to_string(self.dir.join(SECRET_FILE)) {
                Ok(j) => j,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| ClientError::Invalid(format!("stored session is damaged: {e}")))
    }

    /// Forgets the session everywhere (keyring and file). The cache stays so a
    /// signed-out profile can still be inspected; `wipe_cache` removes it.
    pub fn clear(&self) -> Result<()> {
        if let Some(e) = self.keyring_entry() {
            let _ = e.delete_credential();
        }
        for f in [SECRET_FILE, PROFILE_FILE, RETRY_SECRET_FILE] {
            match fs::remove_file(self.dir.join(f)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Removes `second` if it is another name of the file `first` (a move
    /// cut short between its link and its unlink); best effort.
    pub fn forget_second_name(&self, first: &Path, second: &Path) {
        if second.exists() && same_file(first, second) {
            let _ = fs::remove_file(second);
        }
    }

    /// Where the attachments shown to `user_id` on `server` are kept, by
    /// SHA-256 (see [`crate::media`]): a folder per account, so that another
    /// account signing in on this profile never sees them.
    pub fn media_dir(&self, server: &str, user_id: &str) -> PathBuf {
        self.dir.join("media").join(account_key(server, user_id))
    }

    /// Deletes the kept attachments of every account (with the cache, on
    /// signing out).
    pub fn wipe_media(&self) -> Result<()> {
        let media = self.dir.join("media");
        match fs::remove_dir_all(&media) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::Invalid(format!(
                "could not delete {}: {e}",
                media.display()
            ))),
        }
    }

    /// Deletes the cache files (close the [`crate::cache::Cache`] first),
    /// and the attachments kept with it. One that cannot be deleted is an
    /// error: signing out or deleting the account must not leave messages
    /// behind unsaid.
    pub fn wipe_cache(&self) -> Result<()> {
        self.wipe_media()?;
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", self.cache_path().display()));
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(crate::error::ClientError::Invalid(format!(
                        "could not delete {}: {e}",
                        p.display()
                    )))
                }
            }
        }
        Ok(())
    }

    /// The retry key for exchanging `refresh_token` (PROTOCOL.md: a retry
    /// after a lost answer must bring the key its first exchange came with).
    /// Made from the token and a secret kept in this profile's folder, so
    /// every process of the profile, and this one after a restart, makes the
    /// same key for the same token, while someone who holds only the token
    /// cannot. Blocking; called under the profile lock.
    pub fn refresh_retry_key(&self, refresh_token: &str) -> Result<String> {
        use sha2::{Digest, Sha256};
        let path = self.dir.join(RETRY_SECRET_FILE);
        let secret = match fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= 32 => s.trim().to_owned(),
            // Missing, short, or not text (a damaged file): a new one.
            Ok(_) => make_retry_secret(&path)?,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
                ) =>
            {
                make_retry_secret(&path)?
            }
            Err(e) => return Err(e.into()),
        };
        let digest = Sha256::digest(format!("parley/refresh-retry/{secret}/{refresh_token}"));
        Ok(hex::encode(&digest[..16]))
    }

    /// Takes the profile's exclusive lock (blocking) until the guard drops.
    pub fn lock(&self) -> Result<ProfileLock> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))?;
        f.lock()?;
        Ok(ProfileLock(f))
    }
}

/// Holds the profile lock; released on drop.
pub struct ProfileLock(fs::File);

impl Drop for ProfileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn make_retry_secret(path: &Path) -> Result<String> {
    let secret = random_key();
    write_private(path, secret.as_bytes())?;
    Ok(secret)
}

/// Whether two paths name the same file (where that can be told).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// A short name for an account (a server and a user id) in file names.
fn account_key(server: &str, user_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{server}\n{user_id}"));
    hex::encode(&digest[..8])
}

/// 32 random letters and digits (~190 bits).
pub(crate) fn random_key() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Writes `bytes` to `path` readable by its owner only (0600), whole or not
/// at all (a temporary file, synced, then renamed over it), and durably: the
/// folder is synced too, since a rename lost with a power cut brings the old
/// file back. For a session, that is a refresh token already exchanged,
/// which the server takes for a stolen one and signs the device out; for the
/// retry secret, a retry key the server no longer matches.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    #[cfg(unix)]
    {
        // `ana.png` has the parent "": the working folder.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_moves_only_where_nothing_is_and_a_move_cut_short_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let p = Profile::open(dir.path().join("p")).unwrap();
        let (a, b) = (p.dir().join("a.db"), p.dir().join("b.db"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        assert!(p.move_cache(&a, &b).is_err(), "never over another file");
        assert_eq!(fs::read(&b).unwrap(), b"b");
        // Cut short between the link and the unlink: two names, one file.
        fs::remove_file(&b).unwrap();
        fs::hard_link(&a, &b).unwrap();
        p.move_cache(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"a");
        fs::hard_link(&b, &a).unwrap();
        p.forget_second_name(&b, &a);
        assert!(!a.exists() && b.exists());
    }

    #[test]
    fn file_fallback_is_private_and_clear_removes_it() {
        std::env::set_var("PARLEY_KEYRING", "off");
        let dir = tempfile::tempdir().unwrap();
        let p = Profile::open(dir.path().join("p")).unwrap();
        let s = Secrets {
            refresh_token: "r".into(),
            access_token: "a".into(),
            access_expires_at: 5,
            access_ttl: 900,
        };
        assert_eq!(p.save("http://x", "u", "d", &s).unwrap(), SecretStore::File);
        let info = p.info().unwrap().unwrap();
        assert_eq!(p.secrets(&info).unwrap().unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.dir().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        p.clear().unwrap();
        assert!(p.info().unwrap().is_none());
        assert!(!p.dir().join(SECRET_FILE).exists());
    }
}
