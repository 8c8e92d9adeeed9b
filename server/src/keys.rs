//! Server secrets: one random master secret in the data directory (mode 0600),
//! from which the JWT signing key and the OTP hashing key are derived, so an
//! operator backs up and rotates one file.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::{io::Write, path::Path};

type HmacSha256 = Hmac<Sha256>;

const SECRET_FILE: &str = "secret.key";
const SECRET_LEN: usize = 64;

/// Keys derived from the master secret.
#[derive(Clone)]
pub struct Keys {
    /// HS256 key for access tokens.
    pub jwt: [u8; 32],
    /// HMAC key for stored OTP hashes: a database leak alone does not let anyone
    /// brute-force live 6-digit codes offline.
    otp: [u8; 32],
}

impl Keys {
    /// Loads `secret.key` from `data_dir`, creating it (0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Keys> {
        let path = data_dir.join(SECRET_FILE);
        let secret = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == SECRET_LEN => bytes,
            Ok(bytes) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} holds {} bytes, expected {SECRET_LEN}; restore it from a backup",
                        path.display(),
                        bytes.len()
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; SECRET_LEN];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                write_private(&path, &bytes)?;
                bytes
            }
            Err(e) => return Err(e),
        };
        Ok(Keys {
            jwt: derive(&secret, b"parley/jwt/v1"),
            otp: derive(&secret, b"parley/otp/v1"),
        })
    }

    /// Keyed hash of an OTP code, bound to the identifier it was sent to.
    pub fn otp_hash(&self, identifier: &str, code: &str) -> Vec<u8> {
        let mut mac = hmac_with(&self.otp);
        mac.update(identifier.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// SHA-256 of a high-entropy token (refresh tokens): no key needed, since the
/// token itself carries 256 bits.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_with(secret);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hmac_with(key: &[u8]) -> HmacSha256 {
    // Infallible: HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(key).expect("HMAC takes any key length")
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path()).unwrap();
        let b = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.jwt, b.jwt);
        assert_ne!(a.jwt, a.otp);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(a.otp_hash("x", "123456"), a.otp_hash("y", "123456"));
    }

    #[test]
    fn truncated_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_FILE), b"short").unwrap();
        assert!(Keys::load_or_create(dir.path()).is_err());
    }
}
