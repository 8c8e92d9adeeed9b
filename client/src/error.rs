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

    /// A stable code for every error, for programs to act on: the server's
    /// problem code, or for one that never got a server's answer, what
    /// happened: `unreachable` (the network), `protocol` (an answer this
    /// client cannot read), `not_signed_in`, `signed_out`, `local` (this
    /// computer's cache or a file), `invalid` (refused here before asking),
    /// `link_expired` (no device approved a link in time).
    pub fn stable_code(&self) -> &str {
        match self {
            ClientError::Api(p) => &p.code,
            ClientError::StillQueued(why) => why.stable_code(),
            ClientError::Network(_) => "unreachable",
            ClientError::Protocol(_) => "protocol",
            ClientError::NotSignedIn => "not_signed_in",
            ClientError::SignedOut(_) => "signed_out",
            ClientError::Cache(_) | ClientError::Io(_) => "local",
            ClientError::Invalid(_) => "invalid",
            ClientError::LinkNotApproved => "link_expired",
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
