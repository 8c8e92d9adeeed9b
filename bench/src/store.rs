//! Message inserts through the real send path: many concurrent senders (the
//! group-commit writer batches them into few transactions) versus one sender at
//! a time (one transaction, one fsync per message). Same code, same data.

use crate::table;
use anyhow::{anyhow, Result};
use parley_protocol::{SendMessage, UserId};
use parley_server::{
    config::Config,
    service::{self, Caller},
    state::AppState,
};
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Concurrent senders in the group-commit run.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            messages: 20_000,
            concurrency: 128,
        }
    }
}

impl Args {
    pub fn sized(mut self, tiny: bool) -> Self {
        if tiny {
            self.messages = 200;
            self.concurrency = 16;
        }
        self
    }
}

/// A fresh server state (no HTTP) with two connected users and their chat.
async fn setup() -> Result<(tempfile::TempDir, AppState, Caller, String)> {
    let dir = tempfile::tempdir()?;
    let config = Config::for_data_dir(dir.path().join("data"));
    let state = parley_server::build_state(config, "127.0.0.1:0".parse()?).await?;
    let now = parley_server::store::now_ms();
    let (a, b) = ("user-a".to_owned(), "user-b".to_owned());
    let (a2, b2) = (a.clone(), b.clone());
    state
        .store
        .write(move |conn| -> Result<(), parley_server::error::Error> {
            parley_server::store::users::insert(conn, &a2, "a@bench.test", "A", now)?;
            parley_server::store::users::insert(conn, &b2, "b@bench.test", "B", now)?;
            parley_server::store::contacts::connect(conn, &a2, &b2, now)?;
            Ok(())
        })
        .await?;
    let caller = Caller {
        user_id: a,
        device_id: "bench-device".into(),
    };
    let (chat, _) = service::chats::open(&state, &caller, &UserId(b)).await?;
    Ok((dir, state, caller, chat.id))
}

async fn send_all(
    state: &AppState,
    caller: &Caller,
    chat: &str,
    n: usize,
    concurrency: usize,
    tag: &str,
) -> Result<f64> {
    let start = Instant::now();
    let per = n / concurrency.max(1);
    let mut tasks = Vec::new();
    for w in 0..concurrency.max(1) {
        let (state, caller, chat, tag) = (
            state.clone(),
            caller.clone(),
            chat.to_owned(),
            tag.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let msg = SendMessage {
                    client_id: format!("{tag}-{w}-{i}"),
                    body: format!("benchmark message {w}/{i} with a typical length of text"),
                    reply_to: None,
                    attachment_ids: Vec::new(),
                    forwarded: false,
                };
                service::messages::send(&state, &caller, &chat, msg)
                    .await
                    .map_err(|e| anyhow!("send: {e}"))?;
            }
            Ok::<_, anyhow::Error>(per)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

pub async fn run(args: Args) -> Result<Value> {
    let (_d1, state, caller, chat) = setup().await?;
    let grouped = send_all(&state, &caller, &chat, args.messages, args.concurrency, "g").await?;
    let (_d2, state2, caller2, chat2) = setup().await?;
    // One sender: every job is alone in its batch, so each message is its own
    // transaction and fsync. Fewer messages keep the run short; the rate is
    // what is compared.
    let single_n = (args.messages / 10).max(50);
    let single = send_all(&state2, &caller2, &chat2, single_n, 1, "s").await?;
    table(
        "store: durable sends (message + 2 events + counters per send)",
        &[
            (
                format!("group commit, {} concurrent senders", args.concurrency),
                format!("{grouped:.0} msg/s"),
            ),
            (
                "one transaction per message".into(),
                format!("{single:.0} msg/s"),
            ),
            (
                "ratio".into(),
                format!("{:.1}x", grouped / single.max(1e-9)),
            ),
        ],
    );
    Ok(
        json!({"args": {"messages": args.messages, "concurrency": args.concurrency},
              "group_commit_msgs_per_sec": grouped, "per_message_tx_msgs_per_sec": single,
              "ratio": grouped / single.max(1e-9)}),
    )
}
