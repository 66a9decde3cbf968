//! `postern-load`: a load generator for POP3 and IMAP servers.
//!
//! The library holds everything the binary does, so tests can drive each piece directly:
//! recording and reporting latencies ([`metrics`], [`report`], [`progress`], [`plot`]),
//! watching processes ([`procstat`]), checking OS limits ([`limits`]), the machine's own
//! ceiling ([`ceiling`]), test-data generation ([`genmaildir`]) and the command line
//! ([`cli`]). The client half — protocol clients ([`proto`]), connections and slow links
//! ([`net`]), the scenarios that drive them ([`scenario`]) and answer checking ([`verify`]) —
//! records into [`metrics::Recorder`].

pub mod ceiling;
pub mod cli;
pub mod genmaildir;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod plot;
pub mod procstat;
pub mod progress;
pub mod proto;
pub mod report;
pub mod scenario;
pub mod verify;
