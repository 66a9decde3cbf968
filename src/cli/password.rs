//! Getting a new password from the administrator: typed twice on the terminal with echo off,
//! or one line from standard input for scripts (`--password-stdin`).
//!
//! The terminal is `/dev/tty`, not standard input, as `passwd(1)` and `ssh` do it: the
//! password then never passes through a pipe or a shell history, and a command whose standard
//! input is redirected still asks the person in front of it.

use anyhow::{Context, bail};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};

/// Where the password comes from.
pub fn read_new_password(from_stdin: bool, user: &str) -> anyhow::Result<String> {
    let password = if from_stdin {
        read_stdin_line().context("reading the password from standard input")?
    } else {
        read_twice_from_terminal(user)?
    };
    if password.is_empty() {
        bail!("empty password refused");
    }
    Ok(password)
}

/// One line; its `\n` (and a `\r` before it) is not part of the password.
fn read_stdin_line() -> io::Result<String> {
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(line.to_owned())
}

fn read_twice_from_terminal(user: &str) -> anyhow::Result<String> {
    let mut tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no terminal to ask for the password on; pipe it in with --password-stdin")?;
    let first = read_hidden(&mut tty, &format!("New password for {user}: "))?;
    if first.is_empty() {
        bail!("empty password refused");
    }
    let second = read_hidden(&mut tty, "Retype the new password: ")?;
    if first != second {
        bail!("the passwords do not match; nothing was changed");
    }
    Ok(first)
}

/// Puts the terminal's echo back however the read ends (error, panic).
struct EchoRestore<'a> {
    tty: &'a File,
    saved: Termios,
}

impl Drop for EchoRestore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.saved);
    }
}

/// Restores the terminal and exits when SIGINT, SIGTERM or SIGHUP arrives during a prompt.
struct EchoOnSignal {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl EchoOnSignal {
    fn start(tty: &File, saved: &Termios) -> anyhow::Result<EchoOnSignal> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .context("installing signal handlers")?;
        let handle = signals.handle();
        let tty = tty.try_clone().context("duplicating the terminal")?;
        let saved = saved.clone();
        let thread = std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = termios::tcsetattr(&tty, SetArg::TCSANOW, &saved);
                let _ = (&tty).write_all(b"\n");
                eprintln!("interrupted; nothing was changed");
                std::process::exit(128 + signal);
            }
        });
        Ok(EchoOnSignal { handle, thread })
    }

    fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}

fn read_hidden(tty: &mut File, prompt: &str) -> anyhow::Result<String> {
    let saved = termios::tcgetattr(&*tty).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    // No echo of what is typed, but the Enter still moves to a new line (ECHONL).
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    // Echo goes off before the prompt appears, so nothing typed after seeing it can be shown.
    // TCSAFLUSH throws away anything typed ahead of the prompt, which would otherwise be
    // taken as (part of) the password.
    termios::tcsetattr(&*tty, SetArg::TCSAFLUSH, &quiet).context("turning off echo")?;
    let restore = EchoRestore { tty, saved };
    // Ctrl-C (or a SIGTERM, or the terminal going away) at the prompt kills the process
    // without running `EchoRestore`'s drop and would leave the shell without echo; a watcher
    // thread puts the settings back first. Registered only now, so a signal before the echo
    // was turned off keeps its default effect.
    let watcher = EchoOnSignal::start(restore.tty, &restore.saved)?;
    let mut writer: &File = restore.tty;
    writer.write_all(prompt.as_bytes())?;
    writer.flush()?;
    let mut reader: &File = restore.tty;
    // Byte by byte, so nothing after the newline is consumed and lost for the second prompt.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte) {
            Ok(0) => bail!("end of input at the password prompt"),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the password"),
        }
    }
    watcher.stop();
    drop(restore);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).context("the password is not valid UTF-8")
}
