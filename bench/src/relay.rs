//! The baseline: a bare tokio-tungstenite relay (no auth, no storage). A client
//! connects to `/p/<pair>/<a|b>`; each text frame is forwarded to the other side
//! of the pair, and the sender gets `{"type":"result","req":...}` back, so the
//! load generator drives it exactly like Parley.

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::tungstenite::{handshake::server::Request, Message};

type Peers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;

/// Serves forever on `listener`.
pub async fn serve(listener: TcpListener) -> Result<()> {
    let peers: Peers = Arc::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let peers = peers.clone();
        tokio::spawn(async move {
            let mut path = String::new();
            #[allow(clippy::result_large_err)] // the signature tungstenite asks for
            let cb = |req: &Request, resp| {
                path = req.uri().path().to_owned();
                Ok(resp)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                return;
            };
            let (me, other) = match path.rsplit_once('/') {
                Some((pair, "a")) => (format!("{pair}/a"), format!("{pair}/b")),
                Some((pair, _)) => (format!("{pair}/b"), format!("{pair}/a")),
                None => return,
            };
            let (mut sink, mut stream) = ws.split();
            let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
            peers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(me.clone(), tx.clone());
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if v["type"] != "send" {
                    continue;
                }
                let result =
                    serde_json::json!({"type": "result", "req": v["req"], "ok": true}).to_string();
                let _ = tx.send(Message::Text(result.into()));
                let peer = peers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&other)
                    .cloned();
                if let Some(p) = peer {
                    let _ = p.send(Message::Text(text));
                }
            }
            peers.lock().unwrap_or_else(|p| p.into_inner()).remove(&me);
            writer.abort();
        });
    }
}

/// Runs the relay in a child process (this binary, hidden `relay` mode) so its
/// memory can be measured apart from the load generator. Returns (child, url).
pub fn spawn_process() -> Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .env("PARLEY_BENCH_RELAY", "1")
        .arg("store") // ignored in relay mode; any valid subcommand
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(out).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("relay exited")
        };
        let line = line?;
        if let Some(u) = line.strip_prefix("relay listening on ") {
            break u.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}

/// Entry point of the relay child process.
pub fn run_process() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("relay listening on ws://{}", listener.local_addr()?);
        serve(listener).await
    })
}
