#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Operating a server: backup and restore, admin commands, check-config and
//! /metrics, run as an operator would (the real binary against the data dir of
//! a real running server).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

/// The real binary, with no `PARLEY_*` from the test's environment.
fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley-server"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PARLEY_") {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1");
    c
}

/// Runs the binary; returns (success, stdout, stderr). Never a panic inside.
async fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (out.status.success(), stdout, stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Entries of `dir` whose name contains `part` (leftover staging directories).
fn leftovers(dir: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

async fn send_rest(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    chat: &str,
    client_id: &str,
) -> bool {
    let r = http
        .post(format!("{base}/v1/chats/{chat}/messages"))
        .bearer_auth(token)
        .json(&json!({"client_id": client_id, "body": format!("hello {client_id}")}))
        .send()
        .await;
    matches!(r, Ok(r) if r.status() == 201 || r.status() == 200)
}

#[tokio::test]
async fn backup_taken_while_clients_send_restores_every_acknowledged_message() {
    let ts = TestServer::start().await;
    let (a, b, chat) = ts.pair().await;
    // An attachment, sent in the chat: its file must travel with the backup.
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let att: Value = ts
        .req(Method::POST, "/v1/attachments?name=data.bin")
        .auth(&a)
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let att_id = att["id"].as_str().unwrap().to_owned();
    let r = ts
        .call_json(
            Method::POST,
            &format!("/v1/chats/{chat}/messages"),
            &a,
            json!({"client_id": "with-file", "attachment_ids": [att_id]}),
        )
        .await;
    assert_eq!(r.status(), 201);

    // Two clients send without pause; every acknowledged client_id is recorded.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for (who, session) in [("a", &a), ("b", &b)] {
        let (acked, stop) = (acked.clone(), stop.clone());
        let (http, base) = (ts.http.clone(), ts.base.clone());
        let (token, chat) = (session.tokens.access_token.clone(), chat.clone());
        senders.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let cid = format!("{who}-{i}");
                if send_rest(&http, &base, &token, &chat, &cid).await {
                    acked.lock().unwrap().push(cid);
                }
                i += 1;
            }
        }));
    }
    while acked.lock().unwrap().len() < 150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let out = ts.dir.path().join("parley.backup");
    let (ok, _, stderr) = run(&[
        "backup",
        "--data-dir",
        s(&ts.config.data_dir),
        "--out",
        s(&out),
    ])
    .await;
    let during = acked.lock().unwrap().len() - acked_before.len();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in senders {
        t.await.unwrap();
    }
    assert!(ok, "backup failed: {stderr}");
    assert!(stderr.contains("database snapshot taken"), "{stderr}");
    assert!(stderr.contains("backup: wrote"), "{stderr}");
    assert!(stderr.contains("backup: sha256 "), "{stderr}");
    assert!(out.is_file());
    assert!(!Path::new(&format!("{}.tmp", s(&out))).exists());
    // Every message and the signing key: readable by its owner only.
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions())
            & 0o777,
        0o600
    );
    assert!(
        during > 0 || acked.lock().unwrap().len() > acked_before.len(),
        "clients kept sending while the backup ran"
    );

    // Not over the data of the server still running on it, nor a second
    // server on the same directory.
    let (ok, _, stderr) = run(&[
        "restore",
        "--force",
        "--data-dir",
        s(&ts.config.data_dir),
        s(&out),
    ])
    .await;
    assert!(!ok);
    assert!(stderr.contains("a parley-server is running"), "{stderr}");
    let second = parley_server::Server::start(
        ts.config.clone(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await;
    assert!(
        matches!(second, Err(parley_server::StartError::InUse { .. })),
        "a second server started on the same data"
    );

    // Restore into a new data directory and check it from the file itself.
    let restored = ts.dir.path().join("restored");
    let (ok, _, stderr) = run(&["restore", "--data-dir", s(&restored), s(&out)]).await;
    assert!(ok, "restore failed: {stderr}");
    assert!(stderr.contains("restore: restored"), "{stderr}");
    let db = rusqlite::Connection::open_with_flags(
        restored.join("parley.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db.prepare("SELECT client_id FROM messages").unwrap();
    let have: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(stmt);
    drop(db);
    let missing: Vec<_> = acked_before.iter().filter(|c| !have.contains(*c)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages missing from the restored copy, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(have.contains("with-file"));
    assert_eq!(
        std::fs::read(restored.join("secret.key")).unwrap(),
        std::fs::read(ts.config.data_dir.join("secret.key")).unwrap()
    );

    // A server on the restored copy accepts the old tokens (same secret.key)
    // and serves the attachment bytes.
    let restored_dir = restored.clone();
    let ts2 = TestServer::start_with(move |c| c.data_dir = restored_dir).await;
    let r = ts2
        .req(Method::GET, "/v1/me")
        .auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ts2
        .req(Method::GET, &format!("/v1/attachments/{att_id}"))
        .auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    let r = ts2
        .req(Method::GET, &format!("/v1/chats/{chat}/messages"))
        .auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ts2.stop().await;
    ts.stop().await;
}

/// A stopped server's data dir with one user, and its backup file.
async fn backed_up_data_dir(
    tweak_db: impl FnOnce(&rusqlite::Connection),
) -> (tempfile::TempDir, PathBuf) {
    let mut ts = TestServer::start().await;
    ts.login(ana()).await;
    ts.shutdown().await;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("source");
    std::fs::rename(&ts.config.data_dir, &data).unwrap();
    {
        let db = rusqlite::Connection::open(data.join("parley.db")).unwrap();
        tweak_db(&db);
    }
    let out = work.path().join("b.parley");
    let (ok, _, err) = run(&["backup", "--data-dir", s(&data), "--out", s(&out)]).await;
    assert!(ok, "{err}");
    (work, out)
}

#[tokio::test]
async fn restore_refuses_occupied_dirs_truncated_files_bad_checksums_and_newer_schemas() {
    let (work, good) = backed_up_data_dir(|_| {}).await;
    let w = work.path();

    // An occupied data directory: refused without --force, replaced with it.
    let target = w.join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), b"precious").unwrap();
    let (ok, _, err) = run(&["restore", "--data-dir", s(&target), s(&good)]).await;
    assert!(!ok);
    assert!(
        err.contains("is not empty") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(target.join("keep.txt")).unwrap(), b"precious");

    // A truncated file: refused, nothing written anywhere.
    let bytes = std::fs::read(&good).unwrap();
    let truncated = w.join("truncated.parley");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let fresh = w.join("fresh");
    let (ok, _, err) = run(&["restore", "--data-dir", s(&fresh), s(&truncated)]).await;
    assert!(!ok);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(!fresh.exists());
    // Even with --force over an occupied directory, which stays as it was.
    let (ok, _, err) = run(&[
        "restore",
        "--force",
        "--data-dir",
        s(&target),
        s(&truncated),
    ])
    .await;
    assert!(!ok, "{err}");
    assert_eq!(std::fs::read(target.join("keep.txt")).unwrap(), b"precious");
    // Cut just before the checksum line, too.
    let cut = bytes.len() - 10;
    std::fs::write(&truncated, &bytes[..cut]).unwrap();
    let (ok, _, err) = run(&["restore", "--data-dir", s(&fresh), s(&truncated)]).await;
    assert!(!ok && err.contains("truncated"), "{err}");

    // One flipped bit inside the database: the checksum catches it.
    let mut damaged = bytes.clone();
    damaged[5000] ^= 0x01;
    let damaged_path = w.join("damaged.parley");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let (ok, _, err) = run(&["restore", "--data-dir", s(&fresh), s(&damaged_path)]).await;
    assert!(!ok);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!fresh.exists());
    // Not a backup at all.
    let (ok, _, err) = run(&[
        "restore",
        "--data-dir",
        s(&fresh),
        s(&w.join("target/keep.txt")),
    ])
    .await;
    assert!(!ok && err.contains("not a usable backup"), "{err}");
    assert!(
        leftovers(w, ".restore-").is_empty(),
        "{:?}",
        leftovers(w, ".restore-")
    );

    // The good file restores, over the occupied directory with --force.
    let (ok, _, err) = run(&["restore", "--force", "--data-dir", s(&target), s(&good)]).await;
    assert!(ok, "{err}");
    assert!(!target.join("keep.txt").exists());
    assert!(target.join("parley.db").is_file() && target.join("secret.key").is_file());
    assert!(leftovers(w, ".restore-").is_empty());
    // What it replaced is kept beside it, and said where: an undo.
    let kept = leftovers(w, ".replaced-");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(w.join(&kept[0]).join("keep.txt")).unwrap(),
        b"precious"
    );
    assert!(err.contains("is kept in"), "{err}");
    let (ok, out, err) = run(&["admin", "--data-dir", s(&target), "users"]).await;
    assert!(ok, "{err}");
    assert!(out.contains(ana()), "{out}");

    // A backup of a database from a newer parley-server is refused.
    let (work2, newer) =
        backed_up_data_dir(|db| db.pragma_update(None, "user_version", 99).unwrap()).await;
    let dest = work2.path().join("dest");
    let (ok, _, err) = run(&["restore", "--data-dir", s(&dest), s(&newer)]).await;
    assert!(!ok);
    assert!(
        err.contains("schema version 99") && err.contains("newer"),
        "{err}"
    );
    assert!(!dest.exists());
    assert!(leftovers(work2.path(), ".restore-").is_empty());
}

#[tokio::test]
async fn admin_commands_change_what_clients_of_a_running_server_see() {
    let ts = TestServer::start().await;
    let (a, b, _chat) = ts.pair().await;
    let data = ts.config.data_dir.clone();
    let admin = |args: &[&str]| {
        let mut v = vec!["admin", "--data-dir", s(&data)];
        v.extend_from_slice(args);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run_admin = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs).await
    };

    let (ok, out, err) = run_admin(admin(&["users"])).await;
    assert!(ok, "{err}");
    assert!(out.contains(ana()) && out.contains(ben()), "{out}");
    assert!(out.contains("2 user(s)"), "{out}");
    let (ok, out, _) = run_admin(admin(&["devices", ana()])).await;
    assert!(ok);
    assert!(
        out.contains(&a.tokens.device_id.0) && out.contains("live"),
        "{out}"
    );

    // Disabling Ana closes her socket with 4001 at once and refuses her sign-in.
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    let (ok, out, err) = run_admin(admin(&["disable", ana()])).await;
    assert!(ok, "{err}");
    assert!(out.contains("disabled"), "{out}");
    let code = tokio::time::timeout(Duration::from_secs(5), ws.closed_with())
        .await
        .expect("socket closed within 5 s");
    assert_eq!(code, 4001);
    let r = ts.call(Method::GET, "/v1/me", &a).await;
    problem(r, 401, "account_disabled").await;
    let r = ts
        .post_json("/v1/auth/otp/request", json!({ "identifier": ana() }))
        .await;
    assert_eq!(r.status(), 202);
    let r = ts
        .post_json(
            "/v1/auth/otp/verify",
            json!({"identifier": ana(), "code": ts.last_code(ana()), "device_name": "x", "platform": "linux"}),
        )
        .await;
    problem(r, 403, "account_disabled").await;
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": a.tokens.refresh_token}),
        )
        .await;
    problem(r, 401, "account_disabled").await;
    let (_, out, _) = run_admin(admin(&["users"])).await;
    assert!(out.contains("disabled since"), "{out}");

    // Enabling her again: the same device works again.
    let (ok, _, err) = run_admin(admin(&["enable", ana()])).await;
    assert!(ok, "{err}");
    let r = ts.call(Method::GET, "/v1/me", &a).await;
    assert_eq!(r.status(), 200);
    ts.login(ana()).await;

    // Revoking Ben's device closes its socket and stops its tokens; his other
    // device hears of it live, though the event was written by another process.
    let mut ws = ts.ws(&b).await;
    ws.hello(0).await;
    let b2 = ts.login_device(ben(), "laptop").await;
    let mut ws2 = ts.ws(&b2).await;
    ws2.hello(0).await;
    let (ok, _, err) = run_admin(admin(&["revoke-device", &b.tokens.device_id.0])).await;
    assert!(ok, "{err}");
    let code = tokio::time::timeout(Duration::from_secs(5), ws.closed_with())
        .await
        .expect("socket closed within 5 s");
    assert_eq!(code, 4001);
    let ev = tokio::time::timeout(Duration::from_secs(5), ws2.next_event("device.revoked"))
        .await
        .expect("device.revoked within 5 s");
    assert_eq!(ev["event"]["device_id"], b.tokens.device_id.0.as_str());
    let r = ts.call(Method::GET, "/v1/me", &b).await;
    assert_eq!(r.status(), 401);
    let (_, out, _) = run_admin(admin(&["devices", ben()])).await;
    assert!(out.contains("revoked"), "{out}");

    // An account its owner deleted shows as deleted and stays so.
    let carol = ts.login("carol@example.org").await;
    let r = ts
        .post_json(
            "/v1/auth/otp/request",
            json!({ "identifier": "carol@example.org" }),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = ts.last_code("carol@example.org");
    let r = ts
        .call_json(Method::DELETE, "/v1/me", &carol, json!({ "code": code }))
        .await;
    assert_eq!(r.status(), 204);
    let (_, out, _) = run_admin(admin(&["users"])).await;
    let line = out
        .lines()
        .find(|l| l.contains(carol.user.user.id.as_str()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("deleted "), "{line}");
    let (ok, _, err) = run_admin(admin(&["enable", carol.user.user.id.as_str()])).await;
    assert!(!ok && err.contains("deleted by its owner"), "{err}");

    // Storage report, and clear one-line errors.
    let (ok, out, _) = run_admin(admin(&["storage"])).await;
    assert!(ok);
    for line in [
        "database",
        "write-ahead log",
        "attachment files",
        "event log rows",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let (ok, _, err) = run_admin(admin(&["disable", "nobody@example.org"])).await;
    assert!(!ok);
    assert!(err.contains("no user"), "{err}");
    let (ok, _, err) = run_admin(admin(&["revoke-device", "nope"])).await;
    assert!(!ok && err.contains("no device"), "{err}");
    let (ok, _, err) = run(&[
        "admin",
        "--data-dir",
        s(&ts.dir.path().join("nothing")),
        "users",
    ])
    .await;
    assert!(!ok && err.contains("no database"), "{err}");
    ts.stop().await;
}

#[tokio::test]
async fn check_config_masks_secrets_and_rejects_what_serve_would_reject() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = bin()
        .args([
            "check-config",
            "--data-dir",
            s(&data),
            "--otp-driver",
            "smtp",
            "--smtp-url",
            "smtps://mailer:hunter2@mail.example.org",
        ])
        .env("PARLEY_WEBHOOK_TOKEN", "tok-s3cret")
        .env("PARLEY_METRICS_LISTEN", "127.0.0.1:9100")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("tok-s3cret"),
        "{stdout}"
    );
    assert!(
        stdout.contains("smtp-url = smtps://mailer:********@mail.example.org"),
        "{stdout}"
    );
    assert!(stdout.contains("webhook-token = ********"), "{stdout}");
    assert!(
        stdout.contains("metrics-listen = 127.0.0.1:9100"),
        "{stdout}"
    );
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(!data.exists(), "check-config creates nothing");

    let (ok, _, err) = run(&["check-config", "--otp-driver", "smtp"]).await;
    assert!(!ok);
    assert!(err.contains("--smtp-url"), "{err}");
    let (ok, _, err) = run(&["check-config", "--otp-driver", "webhook"]).await;
    assert!(!ok && err.contains("--webhook-url"), "{err}");
    let (ok, _, err) = run(&["check-config", "--listen", "nonsense"]).await;
    assert!(!ok && err.contains("--listen"), "{err}");
    let (ok, _, err) = run(&[
        "check-config",
        "--listen",
        "127.0.0.1:8080",
        "--metrics-listen",
        "127.0.0.1:8080",
    ])
    .await;
    assert!(!ok && err.contains("--metrics-listen"), "{err}");
}

fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of a scalar sample (`labels` must all match).
fn sample(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{metric} is not scalar: {other:?}"),
        })
        .next()
        .unwrap_or(0.0)
}

/// Observations of a histogram (its +Inf bucket).
fn observations(s: &prometheus_parse::Scrape, metric: &str) -> f64 {
    s.samples
        .iter()
        .find(|x| x.metric == metric)
        .map(|x| match &x.value {
            prometheus_parse::Value::Histogram(b) => b
                .iter()
                .find(|c| c.less_than.is_infinite())
                .map_or(0.0, |c| c.count),
            other => panic!("{metric} is not a histogram: {other:?}"),
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_are_off_by_default_and_move_under_load() {
    let plain = TestServer::start().await;
    assert!(plain.metrics_addr().is_none());
    let r = plain.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 404, "never on the public port");
    plain.stop().await;

    let ts =
        TestServer::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let maddr = ts.metrics_addr().unwrap();
    let get = || async {
        let r = reqwest::get(format!("http://{maddr}/metrics"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.contains("text"), "{ct}");
        scrape(&r.text().await.unwrap())
    };
    let before = get().await;
    let (a, _b, chat) = ts.pair().await;
    let mut ws = ts.ws(&a).await;
    ws.hello(0).await;
    for i in 0..40 {
        ts.send_text(&a, &chat, &format!("m{i}"), "hi").await;
    }
    // An idempotent retry is not a new message.
    ts.send_text(&a, &chat, "m0", "hi").await;
    let r = ts.req(Method::GET, "/v1/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let after = get().await;

    let sent = sample(&after, "parley_messages_sent_total", &[])
        - sample(&before, "parley_messages_sent_total", &[]);
    assert!(sent >= 40.0, "messages_sent moved by {sent}");
    let created = sample(&after, "parley_http_responses_total", &[("code", "201")])
        - sample(&before, "parley_http_responses_total", &[("code", "201")]);
    assert!(created >= 40.0, "201 count moved by {created}");
    assert!(sample(&after, "parley_http_responses_total", &[("code", "404")]) >= 1.0);
    assert!(sample(&after, "parley_http_responses_total", &[("code", "101")]) >= 1.0);
    let commits = observations(&after, "parley_writer_batch_jobs")
        - observations(&before, "parley_writer_batch_jobs");
    assert!(commits >= 40.0, "writer batches moved by {commits}");
    assert!(
        observations(&after, "parley_writer_commit_seconds")
            > observations(&before, "parley_writer_commit_seconds")
    );
    // Every send was answered after an fsync; each job's wait and its whole
    // durable write are timed.
    assert!(
        observations(&after, "parley_wal_sync_seconds")
            > observations(&before, "parley_wal_sync_seconds")
    );
    for timed in ["parley_writer_wait_seconds", "parley_write_seconds"] {
        let moved = observations(&after, timed) - observations(&before, timed);
        assert!(moved >= 41.0, "{timed} moved by {moved}");
    }
    assert_eq!(sample(&after, "parley_connected_sockets", &[]), 1.0);
    assert!(sample(&after, "parley_event_log_rows", &[]) >= 80.0);
    ts.stop().await;
}
