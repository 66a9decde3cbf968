//! The `postern` command: `serve`, `check-config`, `demo`, `account` (the passwd-file), and
//! the administration commands that talk to a running server (`reload`, `who`, `kick`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
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
    /// Make the running server re-read its configuration, accounts and certificates.
    Reload(AdminArgs),
    /// List the running server's sessions.
    Who(AdminArgs),
    /// End the running server's sessions of a user, or from an IP address.
    Kick {
        /// A user name, or an IP address.
        target: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Administer the accounts in the passwd-file: list, show, add, passwd, remove, set.
    Account(postern::cli::account::AccountArgs),
}

/// How to reach a running server.
#[derive(clap::Args)]
struct AdminArgs {
    /// The server's configuration file, for its `[admin] socket`.
    #[arg(long, short, default_value = "/etc/postern/postern.toml")]
    config: PathBuf,
    /// The admin socket itself (instead of reading --config).
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl AdminArgs {
    fn socket(&self) -> anyhow::Result<PathBuf> {
        if let Some(socket) = &self.socket {
            return Ok(socket.clone());
        }
        let config = Config::load(&self.config)?;
        config.admin.socket.with_context(|| {
            format!(
                "{} has no [admin] socket; set one (or pass --socket)",
                self.config.display()
            )
        })
    }

    /// Sends `request` and prints the answer.
    fn run(&self, request: &str) -> anyhow::Result<()> {
        // A reload re-reads every file and hashes nothing; a minute is far more than enough.
        let answer =
            postern::admin::client::request(&self.socket()?, request, Duration::from_secs(60))?;
        print!("{answer}");
        Ok(())
    }
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
        Command::Serve { config: path } => {
            let config = Config::load(&path)?;
            serve(config, &path)
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
            serve(config, &demo.config_path)
        }
        Command::Reload(admin) => admin.run("reload"),
        Command::Who(admin) => admin.run("who"),
        Command::Kick { target, admin } => {
            let request = match target.parse::<std::net::IpAddr>() {
                Ok(ip) => format!("kick ip {ip}"),
                Err(_) => format!("kick user {target}"),
            };
            admin.run(&request)
        }
        Command::Account(args) => postern::cli::account::run(args),
    }
}

fn serve(config: Config, path: &std::path::Path) -> anyhow::Result<()> {
    // Registered before any thread starts, so every thread inherits the handling.
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).context("installing signal handlers")?;
    let server = postern::server::start(config)?;
    server.set_config_path(path);
    for (kind, addr) in server.addrs() {
        println!("postern: {} listening on {addr}", kind.name());
    }
    postern::server::sdnotify::notify("READY=1");
    for signal in signals.forever() {
        if signal == SIGHUP {
            // The reload logs what it did or why it refused; the server goes on either way.
            let _ = server.reload();
            continue;
        }
        tracing::info!(signal, "shutting down");
        break;
    }
    postern::server::sdnotify::notify("STOPPING=1");
    let grace = server.shutdown_grace();
    // A second signal during the grace period closes everything at once.
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().any(|s| s != SIGHUP) {
            std::process::exit(1);
        }
    });
    server.shutdown_with_grace(grace.max(Duration::ZERO));
    handle.close();
    tracing::info!("stopped");
    Ok(())
}
