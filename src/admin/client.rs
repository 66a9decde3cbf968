//! The client side of the administration socket, for `postern who`, `kick` and `reload`.
//!
//! It sends one request line and reads the answer to the end; the server's last line says
//! whether the request succeeded (see `server::admin` for the protocol).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the server could not be asked, or what it refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot reach the server's admin socket {}: {source} (is postern running, with [admin] socket set?)",
        path.display()
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("admin socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("the server's answer ended early")]
    Truncated,
}

/// Sends `request` and returns the answer's text (without the final `OK`).
pub fn request(socket: &Path, request: &str, timeout: Duration) -> Result<String, AdminError> {
    let io = |source| AdminError::Io {
        path: socket.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|source| AdminError::Connect {
        path: socket.to_owned(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    // A server that answers before reading (an older one, or one refusing us) may have
    // closed already; its answer is still there to be read.
    if let Err(e) = stream.write_all(format!("{request}\n").as_bytes())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(io(e));
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(io)?;
    let body = answer.strip_suffix('\n').unwrap_or(&answer);
    let (text, last) = match body.rsplit_once('\n') {
        Some((text, last)) => (format!("{text}\n"), last),
        None => (String::new(), body),
    };
    if last == "OK" {
        Ok(text)
    } else if last == "ERR" {
        Err(AdminError::Refused(text.trim_end().to_owned()))
    } else {
        Err(AdminError::Truncated)
    }
}
