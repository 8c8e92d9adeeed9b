//! The client crate's one error enum.

use parley_protocol::Problem;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem document.
    #[error("{0}")]
    Api(Problem),
    /// The server could not be reached (or the connection broke).
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// No session in this profile.
    #[error("not signed in (run `parley login`)")]
    NotSignedIn,
    /// The session was revoked or expired for good.
    #[error("signed out by the server: {0}")]
    SignedOut(String),
    #[error("local cache: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
    /// Linking waited its whole timeout and no device approved.
    #[error("no device approved the link in time")]
    LinkNotApproved,
    /// A message was queued and is not sent yet, for the reason inside. It
    /// goes out later by itself, so it must not be sent again: whatever the
    /// reason, this is a failure for now (the CLI exits 75).
    #[error("{0}")]
    StillQueued(Box<ClientError>),
}

impl ClientError {
    /// The problem's stable code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(p) => Some(&p.code),
            ClientError::StillQueued(why) => why.code(),
            _ => None,
        }
    }

    /// Worth retrying later (the network, a 5xx, a rate limit).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Network(_) | ClientError::StillQueued(_) => true,
            ClientError::Api(p) => refused_for_now(p),
            _ => false,
        }
    }
}

/// A refusal that says "not now" rather than "never": a 5xx (the server's
/// storage is full, a batch was rolled back, ...) or a rate limit. What was
/// refused so stays queued and is sent again.
pub fn refused_for_now(p: &parley_protocol::Problem) -> bool {
    p.status >= 500 || p.status == 429
}

/// A refused token refresh that ends this device's session: any 401 but
/// `account_disabled`, whose tokens the server takes again once an admin
/// enables the account (PROTOCOL.md), so the session is kept.
pub fn ends_session(e: &ClientError) -> bool {
    crate::api::is_unauthorized(e) && e.code() != Some("account_disabled")
}

/// A refusal for now that is about this message, not about the sender or
/// the server as a whole: a server error (500) on it. Rate limits and a full
/// or failed disk refuse everything alike, so everything waits for them;
/// this holds back only the message's chat (its order kept) while the
/// other chats' messages go on.
pub fn fails_only_its_chat(p: &parley_protocol::Problem) -> bool {
    p.status == 500
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            ClientError::Protocol(e.to_string())
        } else {
            ClientError::Network(e.to_string())
        }
    }
}
