//! QR payloads: the `parley://` URIs shown as QR codes and accepted when pasted.
//!
//! - contact: `parley://contact?server=<url-encoded base URL>&code=<code>`
//! - device link: `parley://link?server=<...>&id=<link_id>&secret=<secret>`
//! - device invite: `parley://join?server=<...>&code=<code>`
//!
//! Codes and secrets are Crockford base32 (no padding) carrying >= 128 bits.
//! Parsing is strict about what matters (scheme, kind, required fields, no
//! duplicates, alphabet, length) and ignores unknown fields so newer servers can
//! add some.

use std::{fmt, str::FromStr};

/// Longest URI accepted, bytes.
pub const MAX_URI_LEN: usize = 1024;
/// Shortest code/secret: 26 base32 characters = 130 bits.
pub const MIN_SECRET_CHARS: usize = 26;
/// Longest code/secret accepted.
pub const MAX_SECRET_CHARS: usize = 128;
/// Longest opaque id (link id) accepted.
pub const MAX_ID_CHARS: usize = 64;

/// A contact code: scanning it asks its owner to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactQr {
    pub server: String,
    pub code: String,
}

/// A device link: a new, signed-out device asks to join the scanner's account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceLinkQr {
    pub server: String,
    pub link_id: String,
    pub secret: String,
}

/// A device invite: a signed-in device invites a new device to join its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceInviteQr {
    pub server: String,
    pub code: String,
}

/// Any Parley QR payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QrPayload {
    Contact(ContactQr),
    DeviceLink(DeviceLinkQr),
    DeviceInvite(DeviceInviteQr),
}

/// Why a string is not a Parley QR payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("longer than {MAX_URI_LEN} bytes")]
    TooLong,
    #[error("not a Parley code (expected a parley:// link)")]
    NotParley,
    #[error("unknown kind of Parley code {0:?} (expected contact, link or join)")]
    UnknownKind(String),
    #[error("missing field {0:?}")]
    Missing(&'static str),
    #[error("field {0:?} appears twice")]
    Duplicate(String),
    #[error("field {0:?} is not valid base32 of the right length")]
    BadSecret(&'static str),
    #[error("field {0:?} is not a valid id")]
    BadId(&'static str),
    #[error("server is not an http(s) URL")]
    BadServer,
    #[error("bad percent-encoding")]
    BadEncoding,
}

impl QrPayload {
    pub fn server(&self) -> &str {
        match self {
            QrPayload::Contact(c) => &c.server,
            QrPayload::DeviceLink(l) => &l.server,
            QrPayload::DeviceInvite(i) => &i.server,
        }
    }

    /// A short word for what this is, for people.
    pub fn kind(&self) -> &'static str {
        match self {
            QrPayload::Contact(_) => "contact",
            QrPayload::DeviceLink(_) => "link",
            QrPayload::DeviceInvite(_) => "join",
        }
    }
}

impl fmt::Display for QrPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QrPayload::Contact(c) => c.fmt(f),
            QrPayload::DeviceLink(l) => l.fmt(f),
            QrPayload::DeviceInvite(i) => i.fmt(f),
        }
    }
}

impl fmt::Display for ContactQr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parley://contact?server={}&code={}",
            encode(&self.server),
            self.code
        )
    }
}

impl fmt::Display for DeviceLinkQr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parley://link?server={}&id={}&secret={}",
            encode(&self.server),
            encode(&self.link_id),
            self.secret
        )
    }
}

impl fmt::Display for DeviceInviteQr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parley://join?server={}&code={}",
            encode(&self.server),
            self.code
        )
    }
}

impl FromStr for QrPayload {
    type Err = QrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_URI_LEN {
            return Err(QrError::TooLong);
        }
        let s = s.trim();
        let rest = strip_prefix_ci(s, "parley://").ok_or(QrError::NotParley)?;
        let (kind, query) = rest.split_once('?').unwrap_or((rest, ""));
        let kind = kind.trim_end_matches('/').to_ascii_lowercase();
        let fields = Fields::parse(query)?;
        match kind.as_str() {
            "contact" => Ok(QrPayload::Contact(ContactQr {
                server: fields.server()?,
                code: fields.secret("code")?,
            })),
            "link" => Ok(QrPayload::DeviceLink(DeviceLinkQr {
                server: fields.server()?,
                link_id: fields.id("id")?,
                secret: fields.secret("secret")?,
            })),
            "join" => Ok(QrPayload::DeviceInvite(DeviceInviteQr {
                server: fields.server()?,
                code: fields.secret("code")?,
            })),
            _ => Err(QrError::UnknownKind(kind.chars().take(32).collect())),
        }
    }
}

macro_rules! typed_from_str {
    ($ty:ident, $variant:ident, $what:literal) => {
        impl FromStr for $ty {
            type Err = QrError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<QrPayload>()? {
                    QrPayload::$variant(v) => Ok(v),
                    other => Err(QrError::UnknownKind(format!(
                        "{} (expected {})",
                        other.kind(),
                        $what
                    ))),
                }
            }
        }
    };
}
typed_from_str!(ContactQr, Contact, "contact");
typed_from_str!(DeviceLinkQr, DeviceLink, "link");
typed_from_str!(DeviceInviteQr, DeviceInvite, "join");

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(query: &str) -> Result<Fields, QrError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k)?;
            let v = decode(v)?;
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(QrError::Duplicate(k.chars().take(32).collect()));
            }
            out.push((k, v));
        }
        Ok(Fields(out))
    }

    fn get(&self, name: &'static str) -> Result<&str, QrError> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or(QrError::Missing(name))
    }

    fn server(&self) -> Result<String, QrError> {
        let v = self.get("server")?;
        let lower = v.to_ascii_lowercase();
        let host = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or(QrError::BadServer)?;
        if host.is_empty()
            || host.starts_with('/')
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(QrError::BadServer);
        }
        Ok(v.trim_end_matches('/').to_owned())
    }

    fn secret(&self, name: &'static str) -> Result<String, QrError> {
        let v = self.get(name)?;
        normalize_base32(v)
            .filter(|s| (MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&s.len()))
            .ok_or(QrError::BadSecret(name))
    }

    fn id(&self, name: &'static str) -> Result<String, QrError> {
        let v = self.get(name)?;
        let ok = v.len() <= MAX_ID_CHARS
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(v.to_owned())
        } else {
            Err(QrError::BadId(name))
        }
    }
}

/// Normalises Crockford base32 as typed: uppercase, `-`/spaces dropped, and the
/// look-alikes mapped (`O`->`0`, `I`/`L`->`1`). `None` for any other character.
pub fn normalize_base32(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_uppercase();
        match c {
            '-' | ' ' => continue,
            'O' => out.push('0'),
            'I' | 'L' => out.push('1'),
            '0'..='9' | 'A'..='H' | 'J' | 'K' | 'M' | 'N' | 'P'..='T' | 'V'..='Z' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> Result<String, QrError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(QrError::BadEncoding)?;
                let hex = std::str::from_utf8(hex).map_err(|_| QrError::BadEncoding)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| QrError::BadEncoding)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QrError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODE: &str = "0123456789ABCDEFGHJKMNPQRS";

    #[test]
    fn formats_and_parses_each_kind() {
        let c = QrPayload::Contact(ContactQr {
            server: "https://chat.example.org:8443/parley".into(),
            code: CODE.into(),
        });
        let s = c.to_string();
        assert_eq!(
            s,
            "parley://contact?server=https%3A%2F%2Fchat.example.org%3A8443%2Fparley&code=0123456789ABCDEFGHJKMNPQRS"
        );
        assert_eq!(s.parse::<QrPayload>().unwrap(), c);
        let l = QrPayload::DeviceLink(DeviceLinkQr {
            server: "http://127.0.0.1:8080".into(),
            link_id: "0190e4c2-7f7a-7b3c-9a55-1234567890ab".into(),
            secret: CODE.into(),
        });
        assert_eq!(l.to_string().parse::<QrPayload>().unwrap(), l);
        let j = QrPayload::DeviceInvite(DeviceInviteQr {
            server: "http://127.0.0.1:8080".into(),
            code: CODE.into(),
        });
        assert_eq!(j.to_string().parse::<QrPayload>().unwrap(), j);
        assert!(j.to_string().parse::<ContactQr>().is_err());
    }

    #[test]
    fn lenient_where_harmless() {
        // Lowercase code, look-alike letters, trailing slash, unknown fields.
        let p: QrPayload =
            "PARLEY://contact/?server=http%3A%2F%2Fh%2F&code=o123456789abcdefghjkmnpqrs&v=2"
                .parse()
                .unwrap();
        assert_eq!(
            p,
            QrPayload::Contact(ContactQr {
                server: "http://h".into(),
                code: CODE.into()
            })
        );
    }

    #[test]
    fn rejects_with_precise_errors() {
        let check = |s: &str, e: QrError| assert_eq!(s.parse::<QrPayload>(), Err(e), "{s}");
        check("https://example.org", QrError::NotParley);
        check("parley://pay?x=1", QrError::UnknownKind("pay".into()));
        check(
            "parley://contact?code=0123456789ABCDEFGHJKMNPQRS",
            QrError::Missing("server"),
        );
        check(
            "parley://contact?server=http%3A%2F%2Fh",
            QrError::Missing("code"),
        );
        check(
            "parley://contact?server=http%3A%2F%2Fh&code=0123456789ABCDEFGHJKMNPQRS&code=0123456789ABCDEFGHJKMNPQRS",
            QrError::Duplicate("code".into()),
        );
        check(
            "parley://contact?server=http%3A%2F%2Fh&code=SHORT",
            QrError::BadSecret("code"),
        );
        check(
            "parley://contact?server=http%3A%2F%2Fh&code=0123456789ABCDEFGHJKMNPQRU",
            QrError::BadSecret("code"),
        );
        check(
            "parley://contact?server=ftp%3A%2F%2Fh&code=0123456789ABCDEFGHJKMNPQRS",
            QrError::BadServer,
        );
        check("parley://contact?server=%ZZ&code=x", QrError::BadEncoding);
        check(
            "parley://link?server=http%3A%2F%2Fh&id=a%20b&secret=0123456789ABCDEFGHJKMNPQRS",
            QrError::BadId("id"),
        );
        let long = format!(
            "parley://contact?server=http%3A%2F%2Fh&code={}",
            "A".repeat(1100)
        );
        check(&long, QrError::TooLong);
    }

    fn secret() -> impl Strategy<Value = String> {
        "[0-9A-HJKMNP-TV-Z]{26,60}"
    }

    fn server() -> impl Strategy<Value = String> {
        (
            "https?",
            "[a-z0-9.-]{1,30}",
            proptest::option::of(1u16..),
            "(/[a-zA-Z0-9_~%&?=-]{0,12}){0,3}",
        )
            .prop_map(|(scheme, host, port, path)| {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{scheme}://{host}{port}{path}")
                    .trim_end_matches('/')
                    .to_owned()
            })
            .prop_filter("no trailing whitespace", |s| s.trim() == s)
    }

    proptest! {
        #[test]
        fn contact_round_trips(server in server(), code in secret()) {
            let p = QrPayload::Contact(ContactQr { server, code });
            prop_assert_eq!(p.to_string().parse::<QrPayload>().unwrap(), p);
        }

        #[test]
        fn link_round_trips(server in server(), id in "[A-Za-z0-9_-]{1,64}", secret in secret()) {
            let p = QrPayload::DeviceLink(DeviceLinkQr { server, link_id: id, secret });
            prop_assert_eq!(p.to_string().parse::<QrPayload>().unwrap(), p);
        }

        #[test]
        fn join_round_trips(server in server(), code in secret()) {
            let p = QrPayload::DeviceInvite(DeviceInviteQr { server, code });
            prop_assert_eq!(p.to_string().parse::<QrPayload>().unwrap(), p);
        }

        #[test]
        fn random_strings_never_panic(s in "\\PC{0,1200}") {
            let _ = s.parse::<QrPayload>();
        }

        #[test]
        fn random_parley_strings_never_panic(s in "parley://(contact|link|join)\\?[a-z=&%0-9A-F]{0,200}") {
            let _ = s.parse::<QrPayload>();
        }
    }
}
