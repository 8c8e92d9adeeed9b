//! Test support for parley-client: a real parley-server on 127.0.0.1 with a
//! temporary data directory and the `file:` OTP driver, the real `parley`
//! binary behind a small runner with timeouts, and signed-in library clients.
//!
//! The server runs on its own tokio runtime on its own threads. That keeps it
//! serving while a test blocks on a `parley` child process, and lets `stop`
//! really end it: `Server::stop` is graceful for HTTP but leaves upgraded
//! WebSocket sessions running as detached tasks, so only shutting the runtime
//! down closes them the way a server process exit would.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    // Polling a file or a child process from plain threads, never on a tokio worker.
    clippy::disallowed_methods
)]

use parley_client::{Client, Profile};
use parley_server::{
    config::{Config, OtpDriverKind},
    Server,
};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, ExitStatus, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};
use tempfile::TempDir;

/// Every wait in these tests gives up after this long.
pub const WAIT: Duration = Duration::from_secs(20);

pub const ANA: &str = "ana@example.org";
pub const BEN: &str = "ben@example.org";

/// A real server. Stopping keeps the data directory; starting again binds the
/// same address, because profiles remember their server's URL.
pub struct TestServer {
    rt: Option<tokio::runtime::Runtime>,
    server: Option<Server>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, what clients are given.
    pub base: String,
    pub dir: TempDir,
    pub config: Config,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// Test defaults (no per-IP auth limit to speak of, no resend spacing),
    /// adjusted by `tweak`. Callable from sync and async tests alike.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path().join("data"));
        config.otp_driver = OtpDriverKind::File(dir.path().join("otp.jsonl"));
        config.auth_rate_per_ip = 100_000;
        config.refresh_rate_per_ip = 100_000;
        // Tests send over REST as fast as they can (the server's REST send
        // limit is --ws-rate); the tests of the limit set it low.
        config.ws_rate = 100_000;
        config.otp_resend_interval = 0;
        tweak(&mut config);
        let (rt, server) = boot(&config, "127.0.0.1:0".parse().unwrap());
        let addr = server.addr;
        TestServer {
            rt: Some(rt),
            server: Some(server),
            addr,
            base: format!("http://{addr}"),
            dir,
            config,
        }
    }

    /// Graceful stop, then the runtime goes, taking every socket with it.
    pub fn stop(&mut self) {
        let (Some(rt), Some(server)) = (self.rt.take(), self.server.take()) else {
            return;
        };
        std::thread::spawn(move || {
            rt.block_on(async {
                tokio::time::timeout(WAIT, server.stop())
                    .await
                    .expect("server stops in time")
                    .expect("server stops cleanly")
            });
            rt.shutdown_timeout(Duration::from_secs(5));
        })
        .join()
        .unwrap();
    }

    /// Starts again on the same data directory and the same address.
    pub fn start_again(&mut self) {
        assert!(self.server.is_none(), "already running");
        let (rt, server) = boot(&self.config, self.addr);
        assert_eq!(server.addr, self.addr);
        self.rt = Some(rt);
        self.server = Some(server);
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    pub fn otp_file(&self) -> PathBuf {
        self.dir.path().join("otp.jsonl")
    }

    /// The server's SQLite file, read-only, as an operator would open it.
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open_with_flags(
            self.config.data_dir.join("parley.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// A writing connection to the server's database, to change what a test
    /// cannot reach through the API (a trigger, an aged row, a disabled
    /// account); it waits for the server's writer.
    pub fn db_mut(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.config.data_dir.join("parley.db")).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// Disables every account (as `parley-server admin disable` does), or
    /// enables them again.
    pub fn set_disabled(&self, disabled: bool) {
        let at = disabled.then_some(1_i64);
        self.db_mut()
            .execute("UPDATE users SET disabled_at = ?1", [at])
            .unwrap();
    }

    /// How many messages the server stored with exactly this body.
    pub fn messages_with_body(&self, body: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE body = ?1",
                [body],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// How many codes the `file:` driver has written for `identifier`.
    pub fn code_count(&self, identifier: &str) -> usize {
        self.codes(identifier).len()
    }

    fn codes(&self, identifier: &str) -> Vec<String> {
        std::fs::read_to_string(self.otp_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["identifier"] == identifier)
            .map(|v| v["code"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the driver wrote more than `seen` codes for `identifier`;
    /// returns the newest.
    pub fn wait_code(&self, identifier: &str, seen: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let codes = self.codes(identifier);
            if codes.len() > seen {
                return codes.last().unwrap().clone();
            }
            assert!(
                Instant::now() < deadline,
                "no sign-in code for {identifier} within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the server for a code (over HTTP) and returns it. Sync tests only.
    pub fn request_code_blocking(&self, identifier: &str) -> String {
        let seen = self.code_count(identifier);
        let base = self.base.clone();
        let id = identifier.to_owned();
        self.rt
            .as_ref()
            .expect("server running")
            .block_on(async move { parley_client::request_code(&base, &id).await })
            .unwrap();
        self.wait_code(identifier, seen)
    }

    /// Asks the server for a code (over HTTP) and returns it.
    pub async fn request_code(&self, identifier: &str) -> String {
        let seen = self.code_count(identifier);
        parley_client::request_code(&self.base, identifier)
            .await
            .unwrap();
        self.wait_code(identifier, seen)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Builds a runtime and starts a server on `addr` (retrying the bind for a
/// while: a port just released may take a moment to be free again).
fn boot(config: &Config, addr: SocketAddr) -> (tokio::runtime::Runtime, Server) {
    let config = config.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-server")
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async move {
            let deadline = Instant::now() + WAIT;
            let listener = loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("bind {addr}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("cannot bind {addr}: {e}"),
                }
            };
            Server::start(config, listener).await.unwrap()
        });
        (rt, server)
    })
    .join()
    .unwrap()
}

// --- the `parley` binary ----------------------------------------------------

/// One profile directory driven through the real `parley` binary.
pub struct Parley {
    pub profile: PathBuf,
    pub server: String,
}

/// What a finished `parley` run left behind.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl Parley {
    pub fn new(ts: &TestServer, profile: impl Into<PathBuf>) -> Parley {
        Parley {
            profile: profile.into(),
            server: ts.base.clone(),
        }
    }

    /// The binary with this profile, the test server, and no OS keyring (this
    /// headless machine has none; the 0600 file fallback is what runs).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_parley"));
        c.arg("--profile")
            .arg(&self.profile)
            .args(args)
            .env("PARLEY_KEYRING", "off")
            .env("PARLEY_SERVER", &self.server)
            .env("PARLEY_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("PARLEY_PROFILE")
            .env_remove("PARLEY_PLATFORM")
            .env_remove("PARLEY_QR_THEME")
            .env_remove("COLORFGBG");
        c
    }

    /// Runs to completion with `input` on stdin (killed after [`WAIT`]).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let out = assert_cmd::Command::from_std(self.command(args))
            .write_stdin(input)
            .timeout(WAIT)
            .output()
            .unwrap();
        let run = Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            run.code().is_some(),
            "parley {args:?} did not finish within {WAIT:?} (killed): {run:?}"
        );
        run
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "")
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code(), Some(0), "parley {args:?} failed: {run:?}");
        run.stdout
    }

    /// Runs with `--json`, asserts exit 0, parses stdout as one document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("parley {all:?} printed no JSON ({e}): {out}"))
    }

    /// Runs and asserts the exit code `code`; returns the run.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args);
        assert_eq!(run.code(), Some(code), "parley {args:?}: {run:?}");
        run
    }

    /// Starts `parley args` in the background with stdin and stdout piped.
    pub fn spawn(&self, args: &[&str]) -> Bg {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Bg::spawn(cmd)
    }

    /// Signs in with `--code`, the code fetched over HTTP beforehand.
    pub fn login_with_code(&self, ts: &TestServer, identifier: &str) -> Value {
        let code = ts.request_code_blocking(identifier);
        let v = self.json(&["login", identifier, "--code", &code]);
        assert_eq!(v["user"]["identifier"], identifier, "{v}");
        v
    }
}

/// A background child process: stdout lines arrive on a channel, stderr is
/// collected; killed on drop.
pub struct Bg {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Bg {
    pub fn spawn(mut cmd: std::process::Command) -> Bg {
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Bg {
            child,
            lines,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Writes to the child's stdin (and flushes).
    pub fn write_stdin(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin piped");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next stdout line, or None when none comes before `wait` (or the
    /// stream ended).
    pub fn next_line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Reads stdout lines (JSON documents) until one satisfies `pred`; panics
    /// after [`WAIT`]. Returns the lines read, the match last.
    pub fn json_until(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.next_line(left) else {
                panic!(
                    "no {what} within {WAIT:?}; stdout so far: {seen:?}; stderr: {}",
                    self.stderr()
                );
            };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            let hit = pred(&v);
            seen.push(v);
            if hit {
                return seen;
            }
        }
    }

    /// Waits for the child to exit; panics after `wait`.
    pub fn wait(&mut self, wait: Duration) -> ExitStatus {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process {} still running after {wait:?}; stderr: {}",
                self.pid(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (through kill(1): no libc bindings needed).
    pub fn terminate(&self) {
        let st = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM failed");
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `path` exists and is non-empty; panics after [`WAIT`].
pub fn wait_file(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small PNG (a colour gradient) to use as an avatar.
pub fn write_png(path: &Path) {
    let img = image::RgbImage::from_fn(48, 48, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 5) as u8, 128])
    });
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

// --- library clients ----------------------------------------------------------

/// Makes the library keep sessions in the profile's 0600 file, as the CLI
/// tests' `PARLEY_KEYRING=off` does: this machine has no OS keyring. Set once,
/// before the first client of the process opens a profile.
pub fn no_keyring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("PARLEY_KEYRING", "off"));
}

/// Signs `identifier` in through the real OTP flow into profile `dir`.
pub async fn login(ts: &TestServer, dir: &Path, identifier: &str) -> Client {
    no_keyring();
    let code = ts.request_code(identifier).await;
    let profile = Profile::open(dir).unwrap();
    let (client, _new, _store) = Client::login(profile, &ts.base, identifier, &code, "test device")
        .await
        .unwrap();
    client
}

/// Connects `a` and `b` through a contact code; returns their chat's id.
pub async fn connect(a: &Client, b: &Client) -> String {
    let code = a.contact_code().await.unwrap();
    let req = b.request_connection(&code.code).await.unwrap();
    a.accept(&req.id).await.unwrap();
    let chat = a
        .chat_with(&parley_protocol::UserId(b.user_id().to_owned()))
        .await
        .unwrap();
    chat.id
}
