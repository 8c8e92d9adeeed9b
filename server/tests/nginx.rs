#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The committed nginx example (packaging/nginx/parley.conf) in front of a real
//! server: Debian's nginx on loopback, a WebSocket conversation through it.
//! Only what cannot run in a test is changed: the listen ports (no TLS
//! certificate here) and the upstream address.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::{path::Path, process::Stdio, time::Duration};

fn nginx_binary() -> String {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    "nginx".to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The example config adapted to loopback: `https_port` stands in for 443
/// (plain HTTP), `http_port` for 80, `upstream` for 127.0.0.1:8080.
fn adapted_config(http_port: u16, https_port: u16, upstream: &str) -> String {
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/nginx/parley.conf"),
    )
    .unwrap();
    let mut out = String::new();
    let mut replaced = 0;
    for line in original.lines() {
        let t = line.trim();
        let new = if t == "listen 80;" {
            format!("    listen 127.0.0.1:{http_port};")
        } else if t == "listen 443 ssl http2;" {
            format!("    listen 127.0.0.1:{https_port};")
        } else if t == "server 127.0.0.1:8080;" {
            format!("    server {upstream};")
        } else if t.starts_with("listen [::]") || t.starts_with("ssl_certificate") {
            replaced += 1;
            continue;
        } else {
            line.to_owned()
        };
        if new != line {
            replaced += 1;
        }
        out.push_str(&new);
        out.push('\n');
    }
    assert_eq!(
        replaced,
        3 + 4,
        "the example config changed shape: update this test"
    );
    out
}

struct Nginx {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_nginx(http_port: u16, https_port: u16, upstream: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("parley.conf"),
        adapted_config(http_port, https_port, upstream),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n  include {d}/parley.conf;\n}}\n"
        ),
    )
    .unwrap();
    let bin = nginx_binary();
    let conf = dir.path().join("nginx.conf");
    let test = std::process::Command::new(&bin)
        .args(["-t", "-q", "-e", &format!("{d}/error.log"), "-p", &d, "-c"])
        .arg(&conf)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "nginx is needed to test the example config, but running {bin} failed ({e}); \
                 install it with `apt-get install nginx-light` (scripts/test does this)"
            )
        });
    assert!(
        test.status.success(),
        "nginx -t rejects the example config: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let child = std::process::Command::new(&bin)
        .args(["-e", &format!("{d}/error.log"), "-p", &d, "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx { child, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", https_port))
            .await
            .is_ok()
        {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
    );
}

/// Waits for the `message.created` event of `body` (a sender also gets the
/// events of its own messages, for its other devices).
async fn wait_for_body(ws: &mut Ws, body: &str) {
    loop {
        let ev = ws.next_event("message.created").await;
        if ev["event"]["message"]["body"] == body {
            return;
        }
    }
}

#[tokio::test]
async fn a_websocket_conversation_passes_through_the_nginx_example() {
    let ts = TestServer::start_with(|c| c.trust_forwarded_for = true).await;
    let (http_port, https_port) = (free_port(), free_port());
    let upstream = ts.base.trim_start_matches("http://").to_owned();
    let _nginx = start_nginx(http_port, https_port, &upstream).await;
    let proxied = format!("http://127.0.0.1:{https_port}");

    // Plain HTTP is redirected to HTTPS.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("http://127.0.0.1:{http_port}/healthz"))
        .header("host", "parley.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        "https://parley.example.org/healthz"
    );

    // Sign-in and the REST API through the proxy.
    let (a, b, chat) = ts.pair().await;
    let r = ts
        .http
        .get(format!("{proxied}/v1/me"))
        .bearer_auth(&a.tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Both sockets go through nginx.
    let ws_via_proxy = |s: &parley_protocol::Session| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://127.0.0.1:{https_port}/v1/ws")
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", s.tokens.access_token).parse().unwrap(),
        );
        async move {
            let (stream, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
            assert_eq!(resp.status(), 101);
            Ws { stream }
        }
    };
    let mut wa = ws_via_proxy(&a).await;
    let mut wb = ws_via_proxy(&b).await;
    wa.hello(0).await;
    wb.hello(0).await;
    for i in 0..5 {
        wb.send_json(
            json!({"type": "send", "req": format!("r{i}"), "chat_id": chat,
            "client_id": format!("k{i}"), "body": format!("through nginx {i}")}),
        )
        .await;
        let result = wb.next_of("result").await;
        assert_eq!(result["ok"], true, "{result}");
        wait_for_body(&mut wa, &format!("through nginx {i}")).await;
        // And a reply the other way.
        wa.send_json(
            json!({"type": "send", "req": format!("a{i}"), "chat_id": chat,
            "client_id": format!("ak{i}"), "body": format!("reply {i}")}),
        )
        .await;
        assert_eq!(wa.next_of("result").await["ok"], true);
        wait_for_body(&mut wb, &format!("reply {i}")).await;
    }
    // The messages are really stored, and visible over REST through the proxy.
    let history: Value = ts
        .http
        .request(Method::GET, format!("{proxied}/v1/chats/{chat}/messages"))
        .bearer_auth(&a.tokens.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(history.to_string().contains("through nginx 4"), "{history}");
    let n: i64 = ts
        .db()
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
    ts.stop().await;
}
