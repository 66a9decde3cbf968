//! The `postern` command: `serve`, `check-config` and `demo`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use postern::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "postern",
    version,
    about = "POP3/IMAP4 mail-access server on io_uring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file (and the files it names) without starting.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Create a demo setup (certificate, accounts, mail, config) and serve it on high ports.
    Demo {
        /// Where to create the demo; an existing demo there is reused.
        #[arg(long, default_value = "postern-demo")]
        dir: PathBuf,
        /// Only create the files, do not start serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Administer the accounts in the passwd-file: list, show, add, passwd, remove, set.
    Account(postern::cli::account::AccountArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("POSTERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            serve(config)
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            postern::check::load_files(&config)?;
            println!("{}: OK", file.display());
            Ok(())
        }
        Command::Demo { dir, no_serve } => {
            let demo = postern::demo::create(&dir).context("creating the demo")?;
            let config = Config::load(&demo.config_path)?;
            println!("{}", demo.instructions());
            if no_serve {
                return Ok(());
            }
            serve(config)
        }
        Command::Account(args) => postern::cli::account::run(args),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    // Registered before any thread starts, so every thread inherits the handling.
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing signal handlers")?;
    let grace = config.server.shutdown_grace;
    let server = postern::server::start(config)?;
    for (kind, addr) in server.addrs() {
        println!("postern: {} listening on {addr}", kind.name());
    }
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, ?grace, "shutting down");
    }
    // A second signal during the grace period closes everything at once.
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            std::process::exit(1);
        }
    });
    server.shutdown_with_grace(grace.max(Duration::ZERO));
    handle.close();
    tracing::info!("stopped");
    Ok(())
}
