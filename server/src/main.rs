use clap::Parser;
use parley_server::{
    config::{Cli, Command},
    ops,
};
use tracing_subscriber::EnvFilter;

/// The writer thread allocates what the socket tasks free (job closures,
/// results, event frames) and SQLite allocates per statement; glibc's malloc
/// made those threads contend on its arena locks (seen in `perf` under load).
/// Built without transparent huge pages (`no_thp`): with them, idle sockets
/// cost 13–15 KiB of RSS each instead of 11.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PARLEY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        // Colours only on a terminal: a log redirected to a file or read by
        // journald stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let result: Result<(), String> = match cli.command {
        None => parley_server::run(cli.config)
            .await
            .map_err(|e| e.to_string()),
        Some(Command::Serve(a)) => parley_server::run(a.config)
            .await
            .map_err(|e| e.to_string()),
        Some(Command::CheckConfig(a)) => ops::check::run(&a.config).map_err(|e| e.to_string()),
        Some(Command::Backup(a)) => ops::blocking(move || ops::backup::backup(&a.data_dir, &a.out))
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Some(Command::Restore(a)) => {
            ops::blocking(move || ops::backup::restore(&a.data_dir, &a.file, a.force))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Some(Command::Admin(a)) => ops::blocking(move || ops::admin::run(&a.data_dir, &a.command))
            .await
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley-server: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
