//! Access tokens (HS256 JWTs) and opaque random secrets.

use crate::error::{Error, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

/// Claims of an access token. `did` lets the server check the device is still
/// live on every request, so revocation takes effect at once, not at expiry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub did: String,
    pub iat: u64,
    pub exp: u64,
}

pub fn issue_access(
    key: &[u8; 32],
    user_id: &str,
    device_id: &str,
    ttl_secs: u64,
) -> Result<String> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        sub: user_id.to_owned(),
        did: device_id.to_owned(),
        iat: now,
        exp: now + ttl_secs,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(Error::internal)
}

pub fn verify_access(key: &[u8; 32], token: &str) -> Result<Claims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 5;
    v.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &v)
        .map(|d| d.claims)
        .map_err(|e| {
            let detail = match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "access token expired",
                _ => "access token is invalid",
            };
            Error::unauthorized("unauthorized", detail)
        })
}

/// A random secret of `bytes` bytes as Crockford base32 (no padding).
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base32::encode(base32::Alphabet::Crockford, &buf)
}

/// A uniformly random decimal code of `digits` digits, from the OS CSPRNG.
pub fn random_digits(digits: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..digits)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// A new UUIDv7 id as a string.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let key = [7u8; 32];
        let t = issue_access(&key, "u1", "d1", 60).unwrap();
        let c = verify_access(&key, &t).unwrap();
        assert_eq!((c.sub.as_str(), c.did.as_str()), ("u1", "d1"));
        assert!(verify_access(&[8u8; 32], &t).is_err());
        assert!(verify_access(&key, &format!("{t}x")).is_err());
    }

    #[test]
    fn codes_have_the_right_shape() {
        let c = random_digits(6);
        assert_eq!(c.len(), 6);
        assert!(c.chars().all(|c| c.is_ascii_digit()));
        let s = random_secret(32);
        assert_eq!(s.len(), 52);
    }
}
