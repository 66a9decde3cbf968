//! The command line: `postern-load run SCENARIO`, `ceiling` and `gen-maildir`.
//!
//! Lives in the library (not the binary) so that tests can check parsing and the mapping onto
//! [`RunConfig`] without starting processes. Values with a syntax of their own (durations,
//! source-address ranges, link profiles, the scenario mix, passwd-files) are parsed here with
//! error messages that say what was expected, since a load test that starts with a
//! misread option wastes a whole run.

use crate::scenario::{Kind, LinkProfile, Protocol, RunConfig, Transport};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most addresses one `--source-ips` value may expand to: far more than any run needs, small
/// enough that a typo (a /8 range) is an error, not an allocation of millions.
pub const MAX_SOURCE_IPS: u128 = 65_536;

/// Why the command line could not be turned into a run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read users file {}: {source}", path.display())]
    UsersFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "users file {}: no usable account (only {{PLAIN}} and {{CLEAR}} passwords can be sent; \
         {skipped} line(s) had other schemes)",
        path.display()
    )]
    NoUsers { path: PathBuf, skipped: usize },
    #[error(
        "give the accounts to log in as: --users FILE (a passwd-file) or --user U --password P"
    )]
    MissingUsers,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Parser)]
#[command(
    name = "postern-load",
    version,
    about = "Load generator for POP3/IMAP servers: slow links, verification, latency percentiles"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load scenario against a server and report latencies and throughput.
    Run(Box<RunArgs>),
    /// Measure this machine's own limits: loopback TCP and TLS throughput, TLS handshakes/s.
    Ceiling(CeilingArgs),
    /// Write deterministic, realistic Maildirs and a matching passwd-file.
    GenMaildir(GenArgs),
    /// Draw the latency-percentile SVG again from a `run --json` report.
    Plot(PlotArgs),
}

/// Options of `plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A report written by `run --json`.
    pub report: PathBuf,
    /// The SVG file to write.
    pub svg: PathBuf,
}

/// The scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// POP3: log in, STAT/LIST/UIDL, RETR every message (optionally DELE), QUIT.
    Pop3Download,
    /// IMAP: log in, SELECT INBOX, FETCH the newest messages, LOGOUT.
    ImapSync,
    /// IMAP: log in, SELECT, IDLE; measures how fast new mail wakes the client.
    ImapIdle,
    /// Log in and out as fast as possible (password checking and session set-up).
    LoginStorm,
    /// Several scenarios at once, weighted by --mix.
    Mixed,
}

impl ScenarioName {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioName::Pop3Download => "pop3-download",
            ScenarioName::ImapSync => "imap-sync",
            ScenarioName::ImapIdle => "imap-idle",
            ScenarioName::LoginStorm => "login-storm",
            ScenarioName::Mixed => "mixed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Pop3,
    Imap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Clear text.
    Plain,
    /// Clear text upgraded with STLS (POP3) or STARTTLS (IMAP) before login.
    Starttls,
    /// TLS from the first byte (ports 995/993).
    Tls,
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario to run.
    #[arg(value_enum)]
    pub scenario: ScenarioName,

    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port for the scenario's protocol (default: 110/995 POP3, 143/993 IMAP).
    #[arg(long)]
    pub port: Option<u16>,
    /// POP3 port (mixed runs; overrides --port for POP3).
    #[arg(long)]
    pub pop3_port: Option<u16>,
    /// IMAP port (mixed runs; overrides --port for IMAP).
    #[arg(long)]
    pub imap_port: Option<u16>,
    /// Protocol of login-storm.
    #[arg(long, value_enum, default_value = "pop3")]
    pub protocol: ProtocolArg,
    /// plain, starttls or tls.
    #[arg(long, value_enum, default_value = "plain")]
    pub transport: TransportArg,
    /// Server name sent in TLS SNI and checked in the certificate (default: --host).
    #[arg(long)]
    pub sni: Option<String>,
    /// Accept any server certificate (self-signed test servers).
    #[arg(long)]
    pub insecure: bool,
    /// PEM file of CA certificates to trust instead of the system's.
    #[arg(long)]
    pub cafile: Option<PathBuf>,

    /// Dovecot passwd-file of accounts; users with {PLAIN} or {CLEAR} passwords are used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "password"])]
    pub users: Option<PathBuf>,
    /// A single account (with --password).
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    #[arg(long, requires = "user")]
    pub password: Option<String>,

    /// Concurrent connections.
    #[arg(long, default_value_t = 10)]
    pub connections: usize,
    /// Stop after this many sessions in total (the time cap still applies).
    #[arg(long)]
    pub sessions: Option<u64>,
    /// Time cap of the run, e.g. 30s, 5m.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Emulated link: mobile, 1mbit, 10mbit, unlimited, or RATE,RTT such as 256kbit,200ms.
    #[arg(long, value_parser = parse_link, default_value = "unlimited")]
    pub link: LinkProfile,
    /// Local addresses to connect from, spread round-robin: 127.0.0.1-127.0.0.50, a,b,c.
    #[arg(long, value_parser = parse_source_ips)]
    pub source_ips: Option<SourceIps>,
    /// Where each user's Maildir is, for verification and IDLE deliveries: /x/%u/Maildir.
    #[arg(long)]
    pub maildir_template: Option<String>,
    /// Fraction of downloaded messages compared byte for byte with the Maildir (0..1).
    #[arg(long, value_parser = parse_fraction, default_value = "0")]
    pub verify_sample: f64,
    /// Longest wait for any one server answer.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// imap-sync: fetch this many of the newest messages.
    #[arg(long, default_value_t = 10)]
    pub newest: usize,
    /// pop3-download: delete the messages after downloading them.
    #[arg(long)]
    pub delete: bool,
    /// imap-idle: leave IDLE for a NOOP this often (default: stay in IDLE).
    #[arg(long, value_parser = parse_duration)]
    pub noop_every: Option<Duration>,
    /// imap-idle: messages to deliver into each idling mailbox during the run.
    #[arg(long, default_value_t = 1)]
    pub deliveries: u32,
    /// mixed: scenarios and weights, e.g. pop3-download=3,imap-sync=5.
    #[arg(long, value_parser = parse_mix)]
    pub mix: Option<Mix>,

    /// Write the full report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a latency-percentile plot as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Sample this server process and all its descendants (CPU, RSS, PSS).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// JSON from `postern-load ceiling --json`: report the run as a fraction of it.
    #[arg(long, value_name = "FILE")]
    pub ceiling: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `ceiling`.
#[derive(Debug, Args)]
pub struct CeilingArgs {
    /// Length of each of the three measurements.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub duration: Duration,
    /// Concurrent connections in each measurement.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Options of `gen-maildir`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output directory (must not hold an earlier home/ or passwd).
    #[arg(long, default_value = "maildirs")]
    pub out: PathBuf,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of ordinary users (user0001, ...).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Messages per ordinary user.
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Messages of the user `big` (0: no such user).
    #[arg(long, default_value_t = 10_000)]
    pub big_messages: usize,
    /// Password of every user, stored as {PLAIN}.
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Worker threads (0: one per core); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl GenArgs {
    pub fn to_config(&self) -> crate::genmaildir::GenConfig {
        crate::genmaildir::GenConfig {
            out: self.out.clone(),
            seed: self.seed,
            big_messages: self.big_messages,
            users: self.users,
            messages_per_user: self.messages,
            password: self.password.clone(),
            threads: self.threads,
        }
    }
}

/// Parsed `--source-ips`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceIps(pub Vec<IpAddr>);

/// Parsed `--mix`: scenario and weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix(pub Vec<(ScenarioName, u32)>);

/// A duration such as `30s`, `200ms`, `1.5s`, `5m`, `2h` or `500us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = || {
        format!("invalid duration {text:?}: expected a number and a unit, e.g. 30s, 200ms, 5m, 1h")
    };
    let value: f64 = number.parse().map_err(|_| expected())?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        _ => return Err(expected()),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| expected())
}

/// A fraction between 0 and 1.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid fraction {text:?}: expected a number from 0 to 1, e.g. 0.1 for 10 %"
        )),
    }
}

/// A link preset (mobile, 1mbit, 10mbit, unlimited) or `RATE,RTT`.
pub fn parse_link(text: &str) -> Result<LinkProfile, String> {
    if let Some(profile) = LinkProfile::preset(text) {
        return Ok(profile);
    }
    LinkProfile::parse(text).map_err(|e| {
        format!(
            "invalid link {text:?}: {e} (expected mobile, 1mbit, 10mbit, unlimited, or \
             RATE,RTT such as 256kbit,200ms)"
        )
    })
}

/// An IPv4 or IPv6 address as a number, to walk ranges.
fn ip_number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// `--source-ips`: comma-separated addresses and `FIRST-LAST` ranges of one family.
pub fn parse_source_ips(text: &str) -> Result<SourceIps, String> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!(
                "invalid source addresses {text:?}: empty item (expected e.g. \
                 127.0.0.1-127.0.0.50 or 127.0.0.1,127.0.0.2)"
            ));
        }
        let parse = |s: &str| -> Result<IpAddr, String> {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("invalid source address {s:?} in {text:?}"))
        };
        match item.split_once('-') {
            None => ips.push(parse(item)?),
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if first.is_ipv4() != last.is_ipv4() {
                    return Err(format!("range {item:?} mixes IPv4 and IPv6"));
                }
                let (lo, hi) = (ip_number(first), ip_number(last));
                if lo > hi {
                    return Err(format!("range {item:?} ends before it starts"));
                }
                if hi - lo + 1 > MAX_SOURCE_IPS {
                    return Err(format!(
                        "range {item:?} has {} addresses; at most {MAX_SOURCE_IPS} are allowed",
                        hi - lo + 1
                    ));
                }
                for n in lo..=hi {
                    ips.push(match first {
                        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(n as u32)),
                        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(n)),
                    });
                }
            }
        }
        if ips.len() as u128 > MAX_SOURCE_IPS {
            return Err(format!(
                "{text:?} gives more than {MAX_SOURCE_IPS} source addresses"
            ));
        }
    }
    if ips.iter().any(|ip| ip.is_ipv4() != ips[0].is_ipv4()) {
        return Err(format!("{text:?} mixes IPv4 and IPv6 source addresses"));
    }
    Ok(SourceIps(ips))
}

/// `--mix pop3-download=3,imap-sync=5`.
pub fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut parts = Vec::new();
    for item in text.split(',').map(str::trim) {
        let (name, weight) = item.split_once('=').unwrap_or((item, "1"));
        let scenario = ScenarioName::from_str(name.trim(), true).map_err(|_| {
            format!(
                "unknown scenario {name:?} in --mix (expected pop3-download, imap-sync, \
                 imap-idle or login-storm, each with =WEIGHT)"
            )
        })?;
        if scenario == ScenarioName::Mixed {
            return Err("--mix cannot contain mixed itself".to_owned());
        }
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("invalid weight {weight:?} for {name} in --mix"))?;
        if weight == 0 {
            return Err(format!("weight of {name} in --mix must be at least 1"));
        }
        parts.push((scenario, weight));
    }
    Ok(Mix(parts))
}

/// Accounts of a Dovecot passwd-file whose passwords can be sent: `{PLAIN}` and `{CLEAR}`.
/// Returns them with the number of lines skipped for other schemes.
pub fn parse_users(text: &str) -> (Vec<(String, String)>, usize) {
    let mut users = Vec::new();
    let mut skipped = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, ':');
        let user = fields.next().unwrap_or_default();
        let secret = fields.next().unwrap_or_default();
        let plain = ["{PLAIN}", "{CLEAR}", "{plain}", "{clear}"]
            .iter()
            .find_map(|scheme| secret.strip_prefix(scheme));
        match plain {
            Some(password) if !user.is_empty() => {
                users.push((user.to_owned(), password.to_owned()));
            }
            _ => skipped += 1,
        }
    }
    (users, skipped)
}

/// Reads `--users FILE`.
pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::UsersFile {
        path: path.to_owned(),
        source,
    })?;
    let (users, skipped) = parse_users(&text);
    if users.is_empty() {
        return Err(CliError::NoUsers {
            path: path.to_owned(),
            skipped,
        });
    }
    Ok(users)
}

fn default_port(protocol: ProtocolArg, transport: TransportArg) -> u16 {
    match (protocol, transport) {
        (ProtocolArg::Pop3, TransportArg::Tls) => 995,
        (ProtocolArg::Pop3, _) => 110,
        (ProtocolArg::Imap, TransportArg::Tls) => 993,
        (ProtocolArg::Imap, _) => 143,
    }
}

/// Reads a `ceiling --json` file.
pub fn read_ceiling(path: &Path) -> Result<crate::ceiling::CeilingReport, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Invalid(format!("cannot read --ceiling {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Invalid(format!(
            "--ceiling {} is not the JSON of `postern-load ceiling --json`: {e}",
            path.display()
        ))
    })
}

impl RunArgs {
    /// The protocol that `--port` is for: the scenario's own, POP3 for mixed runs.
    pub fn primary_protocol(&self) -> ProtocolArg {
        match self.scenario {
            ScenarioName::Pop3Download | ScenarioName::Mixed => ProtocolArg::Pop3,
            ScenarioName::ImapSync | ScenarioName::ImapIdle => ProtocolArg::Imap,
            ScenarioName::LoginStorm => self.protocol,
        }
    }

    fn kind_of(&self, scenario: ScenarioName) -> Kind {
        match scenario {
            ScenarioName::Pop3Download => Kind::Pop3Download {
                delete: self.delete,
            },
            ScenarioName::ImapSync => Kind::ImapSync {
                newest: self.newest,
            },
            ScenarioName::ImapIdle => Kind::ImapIdle {
                noop_every: self.noop_every,
                deliveries: self.deliveries,
            },
            ScenarioName::LoginStorm => Kind::LoginStorm,
            ScenarioName::Mixed => Kind::Mixed(
                self.mix
                    .as_ref()
                    .map(|mix| {
                        mix.0
                            .iter()
                            .map(|&(scenario, weight)| (self.kind_of(scenario), weight))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
        }
    }

    /// Checks the options together and builds the scenario's configuration.
    pub fn to_run_config(&self) -> Result<RunConfig, CliError> {
        let invalid = |msg: &str| Err(CliError::Invalid(msg.to_owned()));
        if self.connections == 0 {
            return invalid("--connections must be at least 1");
        }
        if self.duration.is_zero() {
            return invalid("--duration must be longer than 0s: every run needs a time cap");
        }
        if self.timeout.is_zero() {
            return invalid("--timeout must be longer than 0s");
        }
        if self.sessions == Some(0) {
            return invalid("--sessions must be at least 1");
        }
        if self.noop_every.is_some_and(|d| d.is_zero()) {
            return invalid("--noop-every must be longer than 0s");
        }
        match (self.scenario, &self.mix) {
            (ScenarioName::Mixed, None) => {
                return invalid("mixed needs --mix, e.g. --mix pop3-download=3,imap-sync=5");
            }
            (ScenarioName::Mixed, Some(_)) => {}
            (_, Some(_)) => return invalid("--mix only applies to the mixed scenario"),
            _ => {}
        }
        if let Some(template) = &self.maildir_template
            && !template.contains("%u")
            && !template.contains("%n")
        {
            return invalid(
                "--maildir-template must contain %u (the user name), e.g. /srv/mail/%u/Maildir",
            );
        }
        let idles = self.scenario == ScenarioName::ImapIdle
            || self
                .mix
                .as_ref()
                .is_some_and(|mix| mix.0.iter().any(|(s, _)| *s == ScenarioName::ImapIdle));
        if idles && self.deliveries == 0 {
            return invalid("imap-idle needs --deliveries of at least 1: it measures them");
        }
        if (idles || self.verify_sample > 0.0) && self.maildir_template.is_none() {
            return invalid(
                "imap-idle (which delivers into the Maildirs) and --verify-sample (which reads \
                 them) need --maildir-template, e.g. /srv/mail/%u/Maildir",
            );
        }

        let users = match (&self.users, &self.user, &self.password) {
            (Some(path), _, _) => read_users(path)?,
            (None, Some(user), Some(password)) => vec![(user.clone(), password.clone())],
            _ => return Err(CliError::MissingUsers),
        };

        let primary = self.primary_protocol();
        let port_for = |protocol: ProtocolArg, specific: Option<u16>| {
            specific
                .or(self.port.filter(|_| primary == protocol))
                .unwrap_or_else(|| default_port(protocol, self.transport))
        };
        let pop3_port = port_for(ProtocolArg::Pop3, self.pop3_port);
        let imap_port = port_for(ProtocolArg::Imap, self.imap_port);
        let port = match primary {
            ProtocolArg::Pop3 => pop3_port,
            ProtocolArg::Imap => imap_port,
        };

        Ok(RunConfig {
            kind: self.kind_of(self.scenario),
            host: self.host.clone(),
            port,
            pop3_port,
            imap_port,
            login_protocol: match self.protocol {
                ProtocolArg::Pop3 => Protocol::Pop3,
                ProtocolArg::Imap => Protocol::Imap,
            },
            transport: match self.transport {
                TransportArg::Plain => Transport::Plain,
                TransportArg::Starttls => Transport::StartTls,
                TransportArg::Tls => Transport::Tls,
            },
            sni: self.sni.clone().unwrap_or_else(|| self.host.clone()),
            insecure: self.insecure,
            cafile: self.cafile.clone(),
            users,
            connections: self.connections,
            sessions: self.sessions,
            duration: self.duration,
            link: self.link.clone(),
            source_ips: self
                .source_ips
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            maildir_template: self.maildir_template.clone(),
            verify_sample: self.verify_sample,
            timeout: self.timeout,
        })
    }

    /// What the run loads, for the report header: `127.0.0.1:110 (pop3, plain)`.
    pub fn target(&self, cfg: &RunConfig) -> String {
        let transport = match self.transport {
            TransportArg::Plain => "plain",
            TransportArg::Starttls => "starttls",
            TransportArg::Tls => "tls",
        };
        match self.scenario {
            ScenarioName::Mixed => format!(
                "{} (pop3 port {}, imap port {}, {transport})",
                cfg.host, cfg.pop3_port, cfg.imap_port
            ),
            _ => {
                let protocol = match self.primary_protocol() {
                    ProtocolArg::Pop3 => "pop3",
                    ProtocolArg::Imap => "imap",
                };
                format!("{}:{} ({protocol}, {transport})", cfg.host, cfg.port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        for bad in ["", "s", "10x", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_file_takes_plain_and_clear() {
        let text = "# comment\n\
                    alice:{PLAIN}secret:::/home/alice::\n\
                    bob:{CLEAR}pw:with:colon\n\
                    carol:{SHA512-CRYPT}$6$x$y:::\n\
                    \n\
                    dave:{PLAIN}\n";
        let (users, skipped) = parse_users(text);
        assert_eq!(
            users,
            vec![
                ("alice".to_owned(), "secret".to_owned()),
                ("bob".to_owned(), "pw".to_owned()),
                ("dave".to_owned(), String::new()),
            ]
        );
        assert_eq!(skipped, 1);
    }
}
