//! Server configuration: every flag is also a `PARLEY_*` environment variable.

use clap::{Args, Parser, Subcommand};
use parley_protocol::limits;
use std::{net::SocketAddr, path::PathBuf, str::FromStr};

/// The Parley server: one binary, one SQLite file, one attachments folder.
#[derive(Debug, Parser)]
///
/// With no subcommand it serves, taking the flags below; every subcommand takes
/// its own flags after its name (`parley-server backup --help`).
#[command(
    name = "parley-server",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
// Parsed once at start; boxing the big variants buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Validate the flags and environment, and print the effective
    /// configuration with secrets masked. Exits non-zero when invalid.
    CheckConfig(ServeArgs),
    /// Write a consistent backup of a data directory (safe while the server
    /// runs): the database, secret.key and the referenced attachments.
    Backup(BackupArgs),
    /// Restore a backup into a data directory (stop the server first).
    Restore(RestoreArgs),
    /// Inspect and administer accounts, devices and storage of a data directory
    /// (safe while the server runs).
    Admin(AdminArgs),
}

/// The server's flags, for `serve` and `check-config`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,
    /// The backup file to write (written as FILE.tmp, then renamed).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The data directory to restore into; must be absent or empty unless --force.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,
    /// Replace a non-empty data directory.
    #[arg(long)]
    pub force: bool,
    /// The backup file written by `parley-server backup`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The data directory to work on.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// List every account with its status and number of live devices.
    Users,
    /// List the devices of a user (id, identifier or username), revoked ones too.
    Devices { user: String },
    /// Revoke a device: its tokens stop working and its sockets close.
    RevokeDevice { device_id: String },
    /// Disable an account: sign-in and refresh are refused (code
    /// `account_disabled`) and its sockets close with 4001.
    Disable { user: String },
    /// Enable a disabled account again.
    Enable { user: String },
    /// Print database, write-ahead log, attachment and event-log usage.
    Storage,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory holding the SQLite database, the signing key and attachments.
    /// Created on first start.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, env = "PARLEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Base URL clients use to reach this server (put into QR codes). Defaults to
    /// http://<listen address>.
    #[arg(long, env = "PARLEY_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// How sign-in codes are delivered: `log` (printed in the server log),
    /// `file:PATH` (one JSON line per code appended to PATH), `smtp` (email; see
    /// --smtp-url) or `webhook` (HTTP POST; see --webhook-url).
    #[arg(long, env = "PARLEY_OTP_DRIVER", default_value = "log")]
    pub otp_driver: OtpDriverKind,

    /// SMTP server for the `smtp` driver, e.g. `smtps://user:pass@mail.example.org`
    /// or `smtp://127.0.0.1:2525` (plain, for a local relay).
    #[arg(long, env = "PARLEY_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// Sender address of sign-in emails.
    #[arg(
        long,
        env = "PARLEY_SMTP_FROM",
        default_value = "Parley <parley@localhost>"
    )]
    pub smtp_from: String,

    /// URL the `webhook` driver POSTs `{"identifier","code","expires_at"}` to.
    #[arg(long, env = "PARLEY_WEBHOOK_URL")]
    pub webhook_url: Option<url::Url>,

    /// Bearer token sent to the webhook (Authorization header), if any.
    #[arg(long, env = "PARLEY_WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<String>,

    /// Lifetime of a sign-in code, seconds.
    #[arg(long, env = "PARLEY_OTP_TTL", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub otp_ttl: u64,

    /// Minimum seconds between two codes for one identifier.
    #[arg(long, env = "PARLEY_OTP_RESEND_INTERVAL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub otp_resend_interval: u64,

    /// Sign-in requests (code requests and verifies, device links and invite
    /// redeems, account deletions) allowed per client IP per minute.
    #[arg(long, env = "PARLEY_AUTH_RATE_PER_IP", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_ip: u32,

    /// Token refreshes allowed per client IP per minute. Counted apart from
    /// sign-ins: every device refreshes about every quarter of an hour, and
    /// many devices behind one address (an office, a carrier's NAT) must
    /// neither lock each other out of signing in nor be locked out by it.
    #[arg(long, env = "PARLEY_REFRESH_RATE_PER_IP", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub refresh_rate_per_ip: u32,

    /// Lifetime of an access token, seconds.
    #[arg(long, env = "PARLEY_ACCESS_TOKEN_TTL", default_value_t = limits::ACCESS_TOKEN_TTL_SECS, value_parser = clap::value_parser!(u64).range(10..=86400))]
    pub access_token_ttl: u64,

    /// Take the client IP from the last X-Forwarded-For entry (only behind a
    /// reverse proxy you run).
    #[arg(long, env = "PARLEY_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Lifetime of a contact code (QR), seconds.
    #[arg(long, env = "PARLEY_CONTACT_CODE_TTL", default_value_t = limits::CONTACT_CODE_TTL_SECS, value_parser = clap::value_parser!(u64).range(10..=86400))]
    pub contact_code_ttl: u64,

    /// Typed short contact codes (XXXXX-XXXXX) a user may try per minute.
    #[arg(long, env = "PARLEY_SHORT_CODE_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub short_code_attempts: u32,

    /// Largest attachment upload, bytes.
    #[arg(long, env = "PARLEY_MAX_ATTACHMENT_BYTES", default_value_t = limits::ATTACHMENT_MAX_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..=(4u64 << 30)))]
    pub max_attachment_bytes: u64,

    /// MiB one user may have uploaded and not sent yet (unsent uploads are
    /// kept a week): more gets 429 `upload_quota`, so one account cannot
    /// fill the disk with uploads it never sends. 0: no cap.
    #[arg(long, env = "PARLEY_MAX_UNSENT_UPLOAD_MIB", default_value_t = 1024)]
    pub max_unsent_upload_mib: u64,

    /// Days of per-user event log kept for devices to resume from; a device
    /// offline longer reloads its state (`resync_required`).
    #[arg(long, env = "PARLEY_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub event_retention_days: u64,

    /// Frames queued per WebSocket before the device counts as lagging and is
    /// closed with 4008 (it then resumes from its cursor).
    #[arg(long, env = "PARLEY_WS_QUEUE", default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..=65536))]
    pub ws_queue: u32,

    /// `send` and `read` frames allowed per second per WebSocket, and REST
    /// sends, edits, deletions and reactions per second per user (bursts of
    /// twice that); more get a
    /// `rate_limited` result (a 429 over REST), the connection stays.
    #[arg(long, env = "PARLEY_WS_RATE", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_rate: u32,

    /// Seconds a WebSocket may stay silent (not even a pong) before it is
    /// closed; the server pings every third of it. Lower it when a proxy in
    /// front closes idle connections sooner than every 20 s.
    #[arg(long, env = "PARLEY_WS_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub ws_idle_timeout: u64,

    /// WebSockets one device may have open at once; one more is refused
    /// with 429 `too_many_connections` (each holds buffers and a queue, and
    /// its hello may replay the whole retained log).
    #[arg(long, env = "PARLEY_WS_PER_DEVICE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_per_device: u32,

    /// Kernel send buffer per TCP connection, bytes (0 = the OS default, which
    /// autotunes up to several MiB). A bound makes a stalled client show up as
    /// a lagging WebSocket (4008) sooner and caps kernel memory per socket.
    #[arg(long, env = "PARLEY_TCP_SEND_BUFFER", default_value_t = 0)]
    pub tcp_send_buffer: u32,

    /// Serve Prometheus metrics at GET /metrics on this address (off when
    /// unset). Keep it private: bind to loopback or an internal network.
    #[arg(long, env = "PARLEY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Cap on the database file, MiB (0: none, the disk is the limit). At the
    /// cap, changes are refused with 503 `storage_full` while everything
    /// already stored stays readable. Attachments are files beside it and not
    /// counted. A cap below the database's current size holds it at that size.
    #[arg(long, env = "PARLEY_MAX_DATABASE_MIB", default_value_t = 0)]
    pub max_database_mib: u64,

    /// Read-only SQLite connections serving queries.
    #[arg(long, env = "PARLEY_READ_CONNECTIONS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub read_connections: u32,
}

impl Config {
    /// A configuration for tests and embedding: everything default but the data
    /// directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let mut cli = Cli::parse_from(["parley-server"]);
        cli.config.data_dir = data_dir.into();
        cli.config
    }

    /// The base URL clients should use.
    pub fn public_url(&self, bound: SocketAddr) -> url::Url {
        match &self.public_url {
            Some(u) => u.clone(),
            None => {
                // Infallible: a socket address always forms a valid http URL.
                #[allow(clippy::unwrap_used)]
                url::Url::parse(&format!("http://{bound}")).unwrap()
            }
        }
    }
}

/// The `--otp-driver` choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpDriverKind {
    Log,
    File(PathBuf),
    Smtp,
    Webhook,
}

impl FromStr for OtpDriverKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "log" => Ok(OtpDriverKind::Log),
            "smtp" => Ok(OtpDriverKind::Smtp),
            "webhook" => Ok(OtpDriverKind::Webhook),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(OtpDriverKind::File(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown OTP driver {s:?}: expected log, file:PATH, smtp or webhook"
                )),
            },
        }
    }
}
