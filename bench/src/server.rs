//! Starting the real parley-server binary on loopback with a temp data dir, and
//! creating users through the real OTP flow (`file:` driver).

use anyhow::{anyhow, bail, Context, Result};
use parley_protocol::Session;
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// `parley-server` next to this binary (both built by one `cargo build`).
pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("parley-server")))
        .unwrap_or_else(|| PathBuf::from("parley-server"))
}

pub struct ServerProc {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl ServerProc {
    pub fn start(bin: &Path, extra: &[&str]) -> Result<ServerProc> {
        let dir = tempfile::tempdir()?;
        let otp = dir.path().join("otp.jsonl");
        let mut child = Command::new(bin)
            .args(["--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--otp-resend-interval",
                "0",
                "--auth-rate-per-ip",
                "1000000",
                "--refresh-rate-per-ip",
                "1000000",
            ])
            .arg("--otp-driver")
            .arg(format!("file:{}", otp.display()))
            .args(["--ws-rate", "1000000"])
            // `connections` opens thousands of sockets per device.
            .args(["--ws-per-device", "1000000"])
            .args(extra)
            .env("PARLEY_LOG", "warn,parley_server=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it: cargo build --release -p parley-server)",
                    bin.display()
                )
            })?;
        let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(out).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                bail!("server exited before listening")
            };
            let line = line?;
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProc {
            child,
            base,
            dir,
            http: reqwest::Client::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.base.replacen("http", "ws", 1))
    }

    fn last_code(&self, identifier: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.path().join("otp.jsonl")).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["identifier"] == identifier)
            .and_then(|v| v["code"].as_str().map(str::to_owned))
    }

    /// Signs a user in through the OTP flow.
    pub async fn login(&self, identifier: &str) -> Result<Session> {
        let r = self
            .http
            .post(format!("{}/v1/auth/otp/request", self.base))
            .json(&json!({ "identifier": identifier }))
            .send()
            .await?;
        if r.status() != 202 {
            bail!("otp request: {}", r.text().await?);
        }
        let code = self
            .last_code(identifier)
            .ok_or_else(|| anyhow!("no code for {identifier}"))?;
        let r = self
            .http
            .post(format!("{}/v1/auth/otp/verify", self.base))
            .json(&json!({"identifier": identifier, "code": code, "device_name": "bench", "platform": "cli"}))
            .send()
            .await?;
        if r.status() != 200 {
            bail!("otp verify: {}", r.text().await?);
        }
        Ok(r.json().await?)
    }

    /// Connects two users through the real contact-code flow; returns their chat.
    pub async fn connect(&self, a: &Session, b: &Session) -> Result<String> {
        let auth = |s: &Session| format!("Bearer {}", s.tokens.access_token);
        let code: Value = self
            .http
            .post(format!("{}/v1/contact-codes", self.base))
            .header("authorization", auth(a))
            .send()
            .await?
            .json()
            .await?;
        let req: Value = self
            .http
            .post(format!("{}/v1/connection-requests", self.base))
            .header("authorization", auth(b))
            .json(&json!({"code": code["code"]}))
            .send()
            .await?
            .json()
            .await?;
        let id = req["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no request id: {req}"))?;
        self.http
            .post(format!("{}/v1/connection-requests/{id}/accept", self.base))
            .header("authorization", auth(a))
            .send()
            .await?
            .error_for_status()?;
        let chat: Value = self
            .http
            .post(format!("{}/v1/chats", self.base))
            .header("authorization", auth(a))
            .json(&json!({"peer_id": b.user.user.id}))
            .send()
            .await?
            .json()
            .await?;
        chat["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no chat: {chat}"))
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        rss_of(self.pid())
    }
}

/// CPU time (user + system, all threads) and bytes written to storage by a
/// process so far, from `/proc`. The difference over a run, per message, is
/// what the work costs the machine whatever else shares it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub cpu_secs: f64,
    pub write_bytes: u64,
}

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ: 100 on Linux).
const USER_HZ: f64 = 100.0;

pub fn usage_of(pid: u32) -> Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // utime and stime are the 14th and 15th of the whole line.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("bad /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("bad /proc/{pid}/stat"))
    };
    let cpu_secs = (ticks(11)? + ticks(12)?) / USER_HZ;
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let write_bytes = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("no write_bytes in /proc/{pid}/io"))?;
    Ok(Usage {
        cpu_secs,
        write_bytes,
    })
}

pub fn rss_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

// Drop runs outside the async runtime's hot path (at scenario end); a short
// blocking wait for the child to exit is what we want there.
#[allow(clippy::disallowed_methods)]
impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
