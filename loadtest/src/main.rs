//! `postern-load`: the command-line front end.
//!
//! Parses the command line, checks the machine's limits before anything starts, then drives
//! the chosen mode: `run` starts the scenario and, once a second, samples the recorder, this
//! process's CPU and (with `--server-pid`) the server's process tree, printing a progress
//! line; at the end it prints the report table and writes the JSON and SVG files. Every run
//! ends by itself: the scenario has its own time cap, and this driver stops it at the cap
//! plus one timeout plus a grace period if it has not ended by then, or at Ctrl-C; what was
//! measured up to then is still reported. `ceiling` measures the machine itself,
//! `gen-maildir` writes test mailboxes, and `plot` redraws the SVG from a JSON report.

use anyhow::{Context, Result, bail};
use clap::Parser;
use postern_load::ceiling::{self, CeilingConfig};
use postern_load::cli::{
    CeilingArgs, Cli, Command, GenArgs, PlotArgs, RunArgs, TransportArg, read_ceiling,
};
use postern_load::metrics::Recorder;
use postern_load::procstat::{SelfCpu, TreeMonitor, available_cores};
use postern_load::progress::Progress;
use postern_load::report::{GeneratorUsage, Report, RunInfo, Sample, ServerUsage, round};
use postern_load::{genmaildir, limits, plot, scenario};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time given to the scenario beyond its own cap and timeout before it is stopped from here:
/// enough for sessions to send LOGOUT/QUIT and close.
const GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run(*args),
        Command::Ceiling(args) => ceiling(args),
        Command::GenMaildir(args) => gen_maildir(args),
        Command::Plot(args) => replot(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postern-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// How the scenario ended.
enum Ending {
    Finished(Result<()>),
    TimeCap,
    Interrupted,
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let cfg = args.to_run_config()?;
    // Read before the run, so a wrong path costs nothing.
    let ceiling = args.ceiling.as_deref().map(read_ceiling).transpose()?;
    let fd_limit = limits::ensure_open_files(cfg.connections)?;
    limits::check_ports(
        cfg.connections,
        &cfg.source_ips,
        limits::ephemeral_port_range(),
    )?;
    let target = args.target(&cfg);
    if !args.quiet {
        eprintln!(
            "postern-load: {} against {target}: {} connections, {} users, up to {:?}{} \
             (open-file limit {fd_limit})",
            args.scenario.name(),
            cfg.connections,
            cfg.users.len(),
            cfg.duration,
            cfg.sessions
                .map_or(String::new(), |n| format!(" or {n} sessions")),
        );
    }
    let server = args
        .server_pid
        .map(|pid| TreeMonitor::start(pid).with_context(|| format!("--server-pid {pid}")))
        .transpose()?;
    let connections = cfg.connections;
    let cap = cfg.duration + cfg.timeout + GRACE;
    let rec = Recorder::new();
    let runtime = runtime()?;

    let (ending, elapsed, watch) = runtime.block_on(async {
        let mut watch = Watch::start(server, args.quiet)?;
        let mut task = tokio::spawn(scenario::run(Arc::new(cfg), rec.clone()));
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let ending = loop {
            tokio::select! {
                joined = &mut task => {
                    break Ending::Finished(joined.unwrap_or_else(|e| {
                        Err(anyhow::anyhow!("the scenario task failed: {e}"))
                    }));
                }
                _ = &mut ctrl_c => {
                    task.abort();
                    break Ending::Interrupted;
                }
                _ = ticker.tick() => {
                    watch.tick(&rec);
                    if watch.start.elapsed() > cap {
                        task.abort();
                        break Ending::TimeCap;
                    }
                }
            }
        };
        anyhow::Ok((ending, watch.start.elapsed(), watch))
    })?;
    // Aborted client tasks may still hold sockets; the report does not need them.
    runtime.shutdown_timeout(Duration::from_secs(1));

    let snapshot = rec.snapshot();
    let generator = watch
        .self_cpu
        .total()
        .ok()
        .map(|(cpu, wall)| GeneratorUsage::new(cpu, wall, available_cores(), watch.peak_cpu));
    let server = watch.server.map(|mut monitor| {
        if let Err(e) = monitor.sample() {
            eprintln!("postern-load: server sample after the run failed: {e}");
        }
        ServerUsage::from_monitor(&monitor, connections, snapshot.operations())
    });
    let samples = watch.samples;
    let info = RunInfo {
        scenario: args.scenario.name().to_owned(),
        target,
        connections,
        elapsed,
    };
    let mut report = Report::build(&info, &snapshot, generator, server, samples);
    if let Some(ceiling) = &ceiling {
        report.compare_with_ceiling(ceiling, args.transport != TransportArg::Plain);
    }
    match &ending {
        Ending::Finished(_) => {}
        Ending::TimeCap => report.warnings.push(format!(
            "the scenario did not stop by itself and was stopped at {:.0} s",
            cap.as_secs_f64()
        )),
        Ending::Interrupted => report
            .warnings
            .push("interrupted (Ctrl-C): the numbers cover the run so far".to_owned()),
    }
    print!("{}", report.to_table());
    for warning in &report.warnings {
        eprintln!("postern-load: WARNING: {warning}");
    }
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("postern-load: JSON report written to {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot::write_svg(&report, path)
            .with_context(|| format!("writing the plot {}", path.display()))?;
        eprintln!("postern-load: plot written to {}", path.display());
    }
    match ending {
        Ending::Finished(Ok(())) => Ok(ExitCode::SUCCESS),
        Ending::Finished(Err(e)) => Err(e.context("the scenario failed")),
        Ending::TimeCap | Ending::Interrupted => Ok(ExitCode::FAILURE),
    }
}

/// What is sampled once a second during a run.
struct Watch {
    start: Instant,
    quiet: bool,
    self_cpu: SelfCpu,
    /// Highest one-second CPU fraction of this process.
    peak_cpu: f64,
    server: Option<TreeMonitor>,
    progress: Progress,
    samples: Vec<Sample>,
}

impl Watch {
    fn start(server: Option<TreeMonitor>, quiet: bool) -> Result<Self> {
        let start = Instant::now();
        Ok(Watch {
            start,
            quiet,
            self_cpu: SelfCpu::start()?,
            peak_cpu: 0.0,
            server,
            progress: Progress::new(start),
            samples: Vec::new(),
        })
    }

    /// Takes one sample of everything and prints the progress line.
    fn tick(&mut self, rec: &Recorder) {
        let snapshot = rec.snapshot();
        let mut sample = Sample {
            t_secs: round(self.start.elapsed().as_secs_f64(), 3),
            sessions: snapshot.sessions,
            operations: snapshot.operations(),
            errors: snapshot.errors_total(),
            bytes: snapshot.bytes,
            ..Sample::default()
        };
        if let Ok(fraction) = self.self_cpu.interval_fraction() {
            self.peak_cpu = self.peak_cpu.max(fraction);
            sample.generator_cpu_fraction = Some(round(fraction, 4));
        }
        // A server that died mid-run shows in the errors; its last good sample stays the
        // latest one.
        if let Some(Ok(tree)) = self.server.as_mut().map(TreeMonitor::sample) {
            sample.server_rss_bytes = Some(tree.rss_bytes);
            sample.server_pss_bytes = tree.pss_bytes;
            sample.server_cpu_seconds = Some(round(tree.cpu_seconds, 3));
            sample.server_processes = Some(tree.processes);
        }
        self.samples.push(sample);
        if !self.quiet {
            eprintln!("{}", self.progress.line(snapshot, Instant::now()));
        }
    }
}

fn ceiling(args: CeilingArgs) -> Result<ExitCode> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be longer than 0s");
    }
    limits::ensure_open_files(args.connections)?;
    let cfg = CeilingConfig {
        duration: args.duration,
        connections: args.connections,
    };
    eprintln!(
        "postern-load: measuring for about {:.0} s ...",
        cfg.duration.as_secs_f64() * 3.0
    );
    let report = runtime()?.block_on(ceiling::run(&cfg))?;
    print!("{}", report.to_table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("postern-load: JSON written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn gen_maildir(args: GenArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let summary = genmaildir::generate(&args.to_config())?;
    print!("{}", summary.describe(start.elapsed()));
    println!(
        "try:         postern-load run pop3-download --users {} --maildir-template {} \
         --verify-sample 0.1",
        summary.passwd_file.display(),
        summary.out.join("home/%u/Maildir").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn replot(args: PlotArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("reading {}", args.report.display()))?;
    let report = Report::from_json(&text)
        .with_context(|| format!("{} is not a `run --json` report", args.report.display()))?;
    plot::write_svg(&report, &args.svg)
        .with_context(|| format!("writing {}", args.svg.display()))?;
    eprintln!("postern-load: plot written to {}", args.svg.display());
    Ok(ExitCode::SUCCESS)
}
