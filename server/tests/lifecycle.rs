#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code: sync sleeps in #[test] fns only
//! Restart, start-up errors of the real binary, health and the OpenAPI document.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test]
async fn data_survives_a_restart() {
    let mut ts = TestServer::start().await;
    let s = ts.login(ana()).await;
    let r = ts
        .call_json(Method::PATCH, "/v1/me", &s, json!({"username": "ana"}))
        .await;
    assert_eq!(r.status(), 200);
    let secret_before = std::fs::read(ts.config.data_dir.join("secret.key")).unwrap();
    ts.restart().await;
    assert_eq!(
        std::fs::read(ts.config.data_dir.join("secret.key")).unwrap(),
        secret_before
    );
    // The old access token is still valid: same signing key.
    let me: Value = ts.get_json("/v1/me", &s).await;
    assert_eq!(me["username"], "ana");
    let r = ts
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": s.tokens.refresh_token}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn healthz_and_openapi() {
    let ts = TestServer::start().await;
    let h: Value = ts
        .req(Method::GET, "/healthz")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        h,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    let doc: Value = ts
        .req(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/auth/otp/request",
        "/v1/auth/otp/verify",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/me",
        "/v1/me/avatar",
        "/v1/users/{id}",
        "/v1/users/{id}/avatar",
        "/v1/devices",
        "/v1/devices/{id}",
        "/healthz",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
}

fn server_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parley-server"))
}

/// Runs the binary expecting a start-up failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = server_bin()
        .args(args)
        .env_remove("PARLEY_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn startup_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // A data dir under a file cannot be created.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("data");
    let err = fails(&[
        "--data-dir",
        bad.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(
        err.contains("data directory") && err.contains("not usable"),
        "{err}"
    );

    // A corrupt database.
    let data = dir.path().join("corrupt");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("parley.db"), vec![7u8; 8192]).unwrap();
    let err = fails(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(err.contains("corrupt"), "{err}");

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ok_dir = dir.path().join("ok");
    let err = fails(&["--data-dir", ok_dir.to_str().unwrap(), "--listen", &addr]);
    assert!(
        err.contains("cannot listen") && err.contains("in use"),
        "{err}"
    );

    // A bad flag value.
    let err = fails(&["--otp-driver", "pigeon"]);
    assert!(err.contains("unknown OTP driver"), "{err}");
    let err = fails(&[
        "--otp-driver",
        "smtp",
        "--data-dir",
        ok_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(err.contains("--smtp-url"), "{err}");
}

#[test]
fn help_documents_every_flag() {
    let out = server_bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data-dir",
        "--listen",
        "--public-url",
        "--otp-driver",
        "--smtp-url",
        "--webhook-url",
        "--otp-ttl",
        "PARLEY_DATA_DIR",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn sigterm_stops_cleanly_and_a_second_start_reuses_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    for _ in 0..2 {
        let mut child = server_bin()
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the database to exist, then ask for a graceful stop.
        for _ in 0..100 {
            if data.join("parley.db").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "exit status {status:?}");
        // Every connection closed, the last one checkpointing: one file.
        for leftover in ["parley.db-wal", "parley.db-shm"] {
            assert!(
                !data.join(leftover).exists(),
                "{leftover} left after a clean stop"
            );
        }
    }
    assert!(data.join("secret.key").exists());
}
