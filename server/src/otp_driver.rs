//! Delivery of sign-in codes. Chosen by `--otp-driver`; each driver is real.

use crate::config::{Config, OtpDriverKind};
use chrono::{DateTime, Utc};
use lettre::{
    message::header::ContentType, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Serialize;
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::{io::AsyncWriteExt, sync::Mutex};

/// One code to deliver; also the JSON line of the `file:` driver and the body of
/// the webhook POST.
#[derive(Debug, Clone, Serialize)]
pub struct OtpMessage {
    pub identifier: String,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a driver could not be configured (startup) or could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("--otp-driver smtp needs --smtp-url")]
    MissingSmtpUrl,
    #[error("invalid --smtp-url: {0}")]
    BadSmtpUrl(String),
    #[error("invalid --smtp-from: {0}")]
    BadSmtpFrom(String),
    #[error("--otp-driver webhook needs --webhook-url")]
    MissingWebhookUrl,
    #[error("cannot write sign-in code to {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("email delivery failed: {0}")]
    Smtp(String),
    #[error("webhook delivery failed: {0}")]
    Webhook(String),
    #[error("the smtp driver can only deliver to email addresses")]
    NotAnEmail,
}

#[derive(Clone)]
pub enum OtpDriver {
    Log,
    /// The mutex serialises appends so concurrent lines never interleave.
    File(Arc<Mutex<PathBuf>>),
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: lettre::message::Mailbox,
    },
    Webhook {
        client: reqwest::Client,
        url: url::Url,
        token: Option<String>,
    },
}

impl OtpDriver {
    pub fn from_config(config: &Config) -> Result<OtpDriver, DriverError> {
        Ok(match &config.otp_driver {
            OtpDriverKind::Log => OtpDriver::Log,
            OtpDriverKind::File(path) => OtpDriver::File(Arc::new(Mutex::new(path.clone()))),
            OtpDriverKind::Smtp => {
                let url = config
                    .smtp_url
                    .as_deref()
                    .ok_or(DriverError::MissingSmtpUrl)?;
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| DriverError::BadSmtpUrl(e.to_string()))?
                    .timeout(Some(Duration::from_secs(15)))
                    .build();
                let from =
                    config
                        .smtp_from
                        .parse()
                        .map_err(|e: lettre::address::AddressError| {
                            DriverError::BadSmtpFrom(e.to_string())
                        })?;
                OtpDriver::Smtp { transport, from }
            }
            OtpDriverKind::Webhook => {
                let url = config
                    .webhook_url
                    .clone()
                    .ok_or(DriverError::MissingWebhookUrl)?;
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .build()
                    .map_err(|e| DriverError::Webhook(e.to_string()))?;
                OtpDriver::Webhook {
                    client,
                    url,
                    token: config.webhook_token.clone(),
                }
            }
        })
    }

    pub async fn deliver(&self, msg: &OtpMessage) -> Result<(), DriverError> {
        match self {
            OtpDriver::Log => {
                tracing::info!(
                    identifier = %msg.identifier,
                    code = %msg.code,
                    expires_at = %msg.expires_at,
                    "sign-in code (log driver)"
                );
                Ok(())
            }
            OtpDriver::File(path) => {
                let path = path.lock().await;
                let mut line = serde_json::to_vec(msg).map_err(|e| DriverError::File {
                    path: path.display().to_string(),
                    source: std::io::Error::other(e),
                })?;
                line.push(b'\n');
                let result = async {
                    let mut f = tokio::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&*path)
                        .await?;
                    f.write_all(&line).await?;
                    f.flush().await
                }
                .await;
                result.map_err(|source| DriverError::File {
                    path: path.display().to_string(),
                    source,
                })
            }
            OtpDriver::Smtp { transport, from } => {
                let to: lettre::message::Mailbox = msg
                    .identifier
                    .parse()
                    .map_err(|_| DriverError::NotAnEmail)?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(format!("{} is your Parley code", msg.code))
                    .header(ContentType::TEXT_PLAIN)
                    .body(format!(
                        "Your Parley sign-in code is {}\n\nIt expires at {} (UTC).\n\
                         If you did not ask for it, ignore this email.\n",
                        msg.code,
                        msg.expires_at.format("%Y-%m-%d %H:%M:%S")
                    ))
                    .map_err(|e| DriverError::Smtp(e.to_string()))?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| DriverError::Smtp(e.to_string()))
            }
            OtpDriver::Webhook { client, url, token } => {
                let mut req = client.post(url.clone()).json(msg);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| DriverError::Webhook(e.to_string()))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(DriverError::Webhook(format!(
                        "gateway answered {}",
                        resp.status()
                    )))
                }
            }
        }
    }
}
