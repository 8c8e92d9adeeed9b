//! `parley`: the terminal client. Thin: parses arguments and calls parley-client.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
