//! The one error every command returns to the UI: a stable `code` the UI
//! switches on (the server's `Problem.code` when the server answered, else one
//! of a few local codes) and a `message` meant for people.

use parley_client::ClientError;
use serde::Serialize;

/// A failed command, as the UI receives it (`invoke` rejects with this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct CommandError {
    /// The server's problem code (`invalid_code`, `code_expired`,
    /// `rate_limited`, ...) or a local one: `unreachable` (no answer from the
    /// server), `not_signed_in`, `signed_out`, `protocol`, `local`, `invalid`.
    pub code: String,
    /// What to show.
    pub message: String,
    /// The HTTP status when the server answered with a problem.
    pub status: Option<u16>,
    /// Seconds before trying again, when the server said (a 429).
    pub retry_after: Option<u64>,
}

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError {
            code: code.to_owned(),
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        // The codes are the library's (`ClientError::stable_code`), as the
        // CLI's --json errors give them; the words are for people.
        let code = e.stable_code().to_owned();
        let message = match e {
            ClientError::Api(p) => {
                return CommandError {
                    message: if p.detail.is_empty() {
                        p.title.clone()
                    } else {
                        p.detail.clone()
                    },
                    code: p.code,
                    status: Some(p.status),
                    retry_after: p.retry_after,
                }
            }
            ClientError::StillQueued(why) => return CommandError::from(*why),
            // The library's wording ("error sending request for url
            // (https://...)") is for the log, not for people.
            ClientError::Network(m) => {
                tracing::info!(error = %m, "a command could not reach the server");
                "Cannot reach the server. Check your connection and try again.".to_owned()
            }
            ClientError::Protocol(m) => {
                tracing::warn!(error = %m, "the server answered something unexpected");
                "The server answered something this app does not understand \
                 (it may run another version of Parley)."
                    .to_owned()
            }
            ClientError::NotSignedIn => "Not signed in".to_owned(),
            ClientError::SignedOut(m) => format!("Signed out by the server: {m}"),
            ClientError::Cache(e) => {
                format!("This computer's copy of your chats could not be read or written ({e}).")
            }
            ClientError::Io(e) => e.to_string(),
            ClientError::Invalid(m) => m,
            ClientError::LinkNotApproved => {
                "No device approved the link in time; start again".to_owned()
            }
        };
        CommandError::new(&code, message)
    }
}

/// What every command returns.
pub type CmdResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;
    use parley_protocol::Problem;

    #[test]
    fn keeps_the_problem_code_and_detail() {
        let e: CommandError = ClientError::Api(Problem::new(
            400,
            "invalid_code",
            "Bad request",
            "the code is wrong",
        ))
        .into();
        assert_eq!(e.code, "invalid_code");
        assert_eq!(e.message, "the code is wrong");
        assert_eq!(e.status, Some(400));
    }

    #[test]
    fn network_errors_are_unreachable() {
        let e: CommandError = ClientError::Network("connection refused".into()).into();
        assert_eq!(e.code, "unreachable");
        assert_eq!(
            e.message,
            "Cannot reach the server. Check your connection and try again."
        );
    }
}
