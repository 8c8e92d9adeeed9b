//! parley-bench: every speed claim of Parley, measured against a baseline in
//! the same run on the same machine (this machine is shared and noisy, so
//! absolute numbers mean little; ratios do).
//!
//! Scenarios: `messaging`, `connections`, `store`, `qr`, or `all`. Each prints
//! a table and writes `bench/results/<scenario>-<time>.json`.

mod connections;
mod messaging;
mod qr;
mod relay;
mod server;
mod store;

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "parley-bench",
    about = "Parley benchmarks with same-run baselines"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// A tiny configuration (seconds, not minutes): for CI, to keep the
    /// benches building and working. Its numbers mean nothing.
    #[arg(long, global = true)]
    tiny: bool,
    /// Where results go.
    #[arg(long, global = true, default_value = "bench/results")]
    out: PathBuf,
    /// The parley-server binary (default: next to this one).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
enum Scenario {
    /// P pairs exchanging messages over WebSockets vs a bare relay.
    Messaging(messaging::Args),
    /// K idle authenticated WebSockets: RSS per connection, open time, reconnect storm.
    Connections(connections::Args),
    /// Message inserts: group-commit writer vs one transaction per message.
    Store(store::Args),
    /// QR decode time per frame and the corpus decode rate.
    Qr(qr::Args),
    /// Every scenario with its defaults.
    All,
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("PARLEY_BENCH_RELAY").is_some() {
        return relay::run_process();
    }
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let server_bin = cli.server_bin.clone().unwrap_or_else(server::default_bin);
    let mut results: Vec<(&str, Value)> = Vec::new();
    let tiny = cli.tiny;
    match cli.scenario {
        Scenario::Messaging(a) => results.push((
            "messaging",
            rt.block_on(messaging::run(a.sized(tiny), &server_bin))?,
        )),
        Scenario::Connections(a) => results.push((
            "connections",
            rt.block_on(connections::run(a.sized(tiny), &server_bin))?,
        )),
        Scenario::Store(a) => results.push(("store", rt.block_on(store::run(a.sized(tiny)))?)),
        Scenario::Qr(a) => results.push(("qr", qr::run(a.sized(tiny))?)),
        Scenario::All => {
            results.push((
                "store",
                rt.block_on(store::run(store::Args::default().sized(tiny)))?,
            ));
            results.push((
                "messaging",
                rt.block_on(messaging::run(
                    messaging::Args::default().sized(tiny),
                    &server_bin,
                ))?,
            ));
            results.push((
                "connections",
                rt.block_on(connections::run(
                    connections::Args::default().sized(tiny),
                    &server_bin,
                ))?,
            ));
            results.push(("qr", qr::run(qr::Args::default().sized(tiny))?));
        }
    }
    std::fs::create_dir_all(&cli.out)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    for (name, value) in results {
        let path = cli.out.join(format!(
            "{name}-{stamp}{}.json",
            if tiny { "-tiny" } else { "" }
        ));
        let doc = serde_json::json!({
            "scenario": name,
            "tiny": tiny,
            "date": chrono::Utc::now().to_rfc3339(),
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "result": value,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Prints a two-column table.
pub fn table(title: &str, rows: &[(String, String)]) {
    println!("\n== {title}");
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<w$}  {v}");
    }
}
