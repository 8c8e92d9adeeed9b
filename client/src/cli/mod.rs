//! The `parley` command line: argument parsing and one function per command.
//! Output is human text, or with `--json` one JSON document per command (JSON
//! lines for `listen`), and an error as `{"error": {"code", "detail",
//! "transient", ...}}` on stderr (the server's problem document when it
//! answered one; `code` is stable either way, see `ClientError::stable_code`).
//! Errors print the server's `detail` and exit 1; usage errors exit 2
//! (clap); a failure worth retrying (no network, the server busy or rate
//! limiting) exits 75 (`EX_TEMPFAIL`): for `send`, that means the message is
//! queued and goes out by itself (sending it again would send it twice). Ctrl+C (or SIGTERM) stops a command with exit 130, once a
//! token refresh on its way is stored; `listen` stops cleanly with 0.

/// `println!` for everything the CLI prints: a closed stdout
/// (`parley history ben | head`, quitting `less`) ends the program quietly,
/// where `println!` would panic.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::out_line(format_args!($($arg)*))
    };
}

mod commands;
mod output;

use clap::{Args, Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

#[derive(Debug, Parser)]
#[command(
    name = "parley",
    version,
    about = "Parley from a terminal: sign in, add contacts by QR, chat."
)]
pub struct Cli {
    /// Server base URL (needed to sign in; afterwards the profile remembers it).
    #[arg(long, global = true, env = "PARLEY_SERVER")]
    pub server: Option<String>,
    /// Profile directory (one account per profile).
    #[arg(long, global = true, env = "PARLEY_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Machine-readable output: one JSON document per command, JSON lines for streams.
    #[arg(long, global = true)]
    pub json: bool,
    /// Background of this terminal, so QR codes come out dark on light
    /// either way (phone scanners rarely read inverted codes). `auto` reads
    /// $COLORFGBG, which many terminals set, and assumes dark without it.
    #[arg(long, global = true, env = "PARLEY_QR_THEME", value_enum, default_value_t = QrTheme::Auto)]
    pub qr_theme: QrTheme,
    #[command(subcommand)]
    pub command: Command,
}

/// `--qr-theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QrTheme {
    Auto,
    /// Light text on a dark background.
    Dark,
    /// Dark text on a light background.
    Light,
}

impl QrTheme {
    /// The theme to draw in; `colorfgbg` is $COLORFGBG (`"15;0"`: white on
    /// black), whose last field is the background's ANSI colour number.
    pub fn resolve(self, colorfgbg: Option<&str>) -> parley_client::qr::TerminalTheme {
        use parley_client::qr::TerminalTheme;
        match self {
            QrTheme::Dark => TerminalTheme::Dark,
            QrTheme::Light => TerminalTheme::Light,
            QrTheme::Auto => {
                let bg = colorfgbg.and_then(|v| v.rsplit(';').next()?.trim().parse::<u8>().ok());
                // 7 (white) and 9..=15 but 8 (bright black) are light in
                // the common palettes; rxvt and Konsole set these.
                match bg {
                    Some(7 | 9..=15) => TerminalTheme::Light,
                    _ => TerminalTheme::Dark,
                }
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in with a one-time code (asked for when not given).
    Login {
        /// Email address or phone number (+15551234567).
        identifier: String,
        /// The code, if you already have one (skips asking the server for one).
        #[arg(long)]
        code: Option<String>,
        /// How this device appears in your device list.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Sign this device out and forget the session (and this computer's
    /// copy of the chats). Asks first when messages were never sent.
    Logout {
        /// Sign out even if messages were never sent (they are deleted).
        #[arg(long)]
        yes: bool,
    },
    /// Delete your account for good: all your devices signed out, your
    /// contacts removed (they keep your chats' history, showing "Deleted
    /// account"), your profile erased. Sends a code to your address or
    /// number first and asks for it.
    DeleteAccount {
        /// Only send the code (then run again with --code).
        #[arg(long, conflicts_with = "code")]
        send_code: bool,
        /// The code sent by --send-code (or an earlier run).
        #[arg(long)]
        code: Option<String>,
    },
    /// Show who this profile is signed in as.
    Whoami,
    /// Your profile.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Contact QR codes: make, decode, scan.
    #[command(subcommand)]
    Qr(QrCmd),
    /// Pending connection requests (incoming unless --outgoing).
    Requests {
        /// The requests you sent, still waiting for an answer.
        #[arg(long)]
        outgoing: bool,
    },
    /// Accept a connection request.
    Accept {
        /// The request's id (see `parley requests`).
        id: String,
    },
    /// Decline a connection request.
    Decline {
        /// The request's id (see `parley requests`).
        id: String,
    },
    /// Your contacts, with presence.
    Contacts,
    /// Remove a contact (CONTACT: username, display name or user id).
    Remove { contact: String },
    /// Link this signed-out profile to an existing account: shows a QR code and
    /// waits until a signed-in device approves it.
    Link {
        /// Also write the QR code to this PNG file.
        #[arg(long)]
        png: Option<PathBuf>,
        /// How this device appears in your device list.
        #[arg(long)]
        device_name: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Your devices; revoke one; or invite a new device.
    Devices {
        #[command(subcommand)]
        action: Option<DevicesCmd>,
    },
    /// Join an account from a new, signed-out profile with an invite (a QR
    /// image made by `parley devices invite`, its parley://join URI, or its
    /// code typed, for the server of --server or PARLEY_SERVER).
    Join {
        /// An image file holding the QR code, the URI itself, or the code.
        source: String,
        /// How this device appears in your device list.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Your chats by last activity.
    Chats,
    /// Messages with a contact (or someone no longer one: their chat stays).
    History {
        /// Who: a username, display name or user id (see `parley chats`).
        contact: String,
        /// How many of the latest messages to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a message (queued first; sent when the server confirms).
    Send {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
        /// The message (at most 16 KiB; may be empty with --attach).
        text: String,
        /// Reply to this message id.
        #[arg(long)]
        reply_to: Option<String>,
        /// Attach a file (repeatable).
        #[arg(long)]
        attach: Vec<PathBuf>,
    },
    /// Mark a chat read up to its latest message.
    Read {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
    },
    /// Silence a chat's notifications on all your devices (messages still
    /// arrive and count as unread).
    Mute {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
        /// For how long: minutes, hours, days or weeks, as `30m`, `8h`,
        /// `3d`, `1w` (at most 365 days). Without it: until you unmute.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_mute_for)]
        duration: Option<chrono::Duration>,
    },
    /// Turn a muted chat's notifications back on.
    Unmute {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
    },
    /// Pin a chat to the top of `chats` (and of the desktop's list) on all
    /// your devices; at most 3.
    Pin {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
    },
    /// Unpin a chat.
    Unpin {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
    },
    /// Clear your history of a chat, on all your devices (your contact keeps
    /// theirs): every message up to the newest one now. Asks first.
    Clear {
        /// Who: a username, display name or user id (see `parley contacts`).
        contact: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// React to a message (or remove your reaction).
    React {
        /// The message's id (in parentheses in `history`).
        message_id: String,
        /// One emoji (at most 10 different ones of yours per message).
        emoji: String,
        /// Take your reaction back instead.
        #[arg(long)]
        remove: bool,
    },
    /// Send a copy of a message (its text and attachments) to a contact.
    Forward {
        /// The message's id (in parentheses in `history`, or from `search`).
        message_id: String,
        /// Who gets it: a username, name or user id.
        contact: String,
    },
    /// Save a message's attachments to files (checked against their SHA-256).
    Save {
        /// The message's id (in parentheses in `history`).
        message_id: String,
        /// Folder to save into, never replacing a file (`notes (1).pdf`);
        /// default: your Downloads folder (or `PARLEY_DOWNLOAD_DIR`).
        #[arg(long, conflicts_with = "out")]
        dir: Option<PathBuf>,
        /// Save to exactly this file, replacing it (a message with one attachment).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send again a message the server refused (see `history`).
    Retry {
        /// The message's client id, as `history` shows it.
        client_id: String,
    },
    /// Drop a message the server refused.
    Discard {
        /// The message's client id, as `history` shows it.
        client_id: String,
    },
    /// Search your messages (every word must match; words match as prefixes).
    Search {
        /// Up to 8 words.
        query: String,
        /// Only in the chat with this contact (name, username or id).
        #[arg(long = "in", value_name = "CONTACT")]
        within: Option<String>,
        /// The next page: results older than this message id (the last
        /// one shown).
        #[arg(long)]
        before: Option<String>,
    },
    /// Stream events until interrupted, acknowledging them.
    Listen,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Change profile fields.
    Set(ProfileSet),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct ProfileSet {
    /// Your display name (1 to 64 characters).
    #[arg(long)]
    pub name: Option<String>,
    /// 3 to 32 of a-z, 0-9, _ and . (unique on the server).
    #[arg(long)]
    pub username: Option<String>,
    /// A few words about you (at most 280 characters).
    #[arg(long)]
    pub bio: Option<String>,
    /// A status line (at most 140 characters).
    #[arg(long)]
    pub status: Option<String>,
    /// A PNG, JPEG or WebP image.
    #[arg(long)]
    pub avatar: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum QrCmd {
    /// Make a contact code: prints the QR in the terminal and the URI.
    Contact {
        /// Also write the QR code to this PNG file.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Also write the QR code to this SVG file.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Print the Parley payload found in an image.
    Decode {
        /// A PNG, JPEG or WebP image (a photo or a screenshot).
        image: PathBuf,
    },
    /// Decode a code and act on it: a contact code sends a connection request;
    /// a device link is approved after confirmation.
    Scan {
        /// An image file; or the code as text: a pasted parley:// link, or
        /// a contact code typed by hand (XXXXX-XXXXX). Or use --camera.
        #[arg(required_unless_present = "camera")]
        image: Option<PathBuf>,
        /// Read from the webcam.
        #[arg(long, conflicts_with = "image")]
        camera: bool,
        /// Camera index (see the list printed when several exist).
        #[arg(long, requires = "camera")]
        device: Option<u32>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevicesCmd {
    /// Sign a device out (this one too, after asking).
    Revoke {
        /// The device's id (see `parley devices`).
        id: String,
        /// Do not ask before signing out this very device.
        #[arg(long)]
        yes: bool,
    },
    /// Make a code a new device scans (or types) to join this account.
    Invite {
        /// Also write the QR code to this PNG file.
        #[arg(long)]
        png: Option<PathBuf>,
    },
}

/// The exit status of a failure worth retrying later (sysexits' `EX_TEMPFAIL`).
const TEMPORARY_FAILURE: u8 = 75;
/// How long an interrupted command waits for a token refresh on its way
/// (whose tries take up to a minute, see `retry_lost_answer`).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(70);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("parley: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    // `listen` ends cleanly on a signal by itself; any other command is
    // stopped where it is.
    let listen = matches!(cli.command, Command::Listen);
    let dir = cli
        .profile
        .clone()
        .unwrap_or_else(parley_client::session::Profile::default_dir);
    let outcome = rt.block_on(async move {
        let run = Box::pin(commands::run(cli));
        if listen {
            return Some(run.await);
        }
        tokio::select! {
            r = run => Some(r),
            () = commands::shutdown_signal() => None,
        }
    });
    let Some(outcome) = outcome else {
        // Interrupted. A token refresh on its way runs as a task of its own
        // that holds the profile's lock until the pair the server rotated
        // is stored; ended before that, the profile would keep a spent
        // token, and its next refresh (after the server's minute for
        // retries) sign the device out as stolen. So the lock is waited for,
        // a while at most, before going.
        rt.block_on(async move {
            let mut lock = tokio::task::spawn_blocking(move || {
                parley_client::session::Profile::open(dir)?.lock().map(drop)
            });
            if tokio::time::timeout(std::time::Duration::from_millis(200), &mut lock)
                .await
                .is_ok()
            {
                return;
            }
            eprintln!(
                "parley: finishing a sign-in token refresh before stopping \
                 (Ctrl+C again to stop at once)"
            );
            tokio::select! {
                _ = tokio::time::timeout(SETTLE, lock) => {},
                () = commands::shutdown_signal() => {},
            }
        });
        eprintln!("parley: interrupted");
        // Not through the runtime's drop, which would wait for the thread
        // still blocked on the lock.
        std::process::exit(130);
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(json, &e);
            if e.is_transient() {
                ExitCode::from(TEMPORARY_FAILURE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A mute's length: a positive whole number and a unit, `m`, `h`, `d` or
/// `w` (`8h`, `1w`); a day short of the server's limit of
/// [`parley_protocol::limits::MUTE_MAX_DAYS`], so that a clock a little
/// ahead of the server's never makes the longest one fail.
fn parse_mute_for(s: &str) -> Result<chrono::Duration, String> {
    let usage = "expected a number and m, h, d or w, as 30m, 8h, 3d or 1w";
    let s = s.trim();
    let unit = s.chars().last().ok_or(usage)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| usage)?;
    let d = match unit {
        'm' => chrono::Duration::try_minutes(n),
        'h' => chrono::Duration::try_hours(n),
        'd' => chrono::Duration::try_days(n),
        'w' => chrono::Duration::try_weeks(n),
        _ => None,
    }
    .ok_or(usage)?;
    let max = parley_protocol::limits::MUTE_MAX_DAYS - 1;
    if n <= 0 || d > chrono::Duration::days(max) {
        return Err(format!(
            "must be more than zero and at most {max} days; leave out --for to mute until you unmute"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod mute_for_tests {
    use super::parse_mute_for;

    #[test]
    fn mute_lengths_parse_within_the_limit() {
        assert_eq!(parse_mute_for("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_mute_for("8h"), Ok(chrono::Duration::hours(8)));
        assert_eq!(parse_mute_for("1w"), Ok(chrono::Duration::weeks(1)));
        assert_eq!(parse_mute_for("365d"), Ok(chrono::Duration::days(365)));
        for bad in [
            "366d",
            "0h",
            "-1h",
            "8",
            "h",
            "",
            "8x",
            "1.5h",
            "99999999999999w",
        ] {
            assert!(parse_mute_for(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod qr_theme_tests {
    use super::QrTheme;
    use parley_client::qr::TerminalTheme::{Dark, Light};

    #[test]
    fn auto_reads_the_background_from_colorfgbg_and_falls_back_to_dark() {
        for (v, want) in [
            (Some("0;15"), Light),
            (Some("0;7"), Light),
            (Some("0;default;15"), Light),
            (Some("15;0"), Dark),
            (Some("7;8"), Dark),
            (Some("15;default"), Dark),
            (Some(""), Dark),
            (Some("0;300"), Dark),
            (None, Dark),
        ] {
            assert_eq!(QrTheme::Auto.resolve(v), want, "{v:?}");
        }
        assert_eq!(QrTheme::Dark.resolve(Some("0;15")), Dark);
        assert_eq!(QrTheme::Light.resolve(None), Light);
    }
}
