//! Opening TCP connections, optionally from a chosen local address.
//!
//! One client address can have only about 28 000 connections open to one server port (the
//! ephemeral port range). Binding each socket to one of several loopback addresses
//! (127.0.0.1, 127.0.0.2, ...) before connecting multiplies that, which is what a test with
//! tens of thousands of concurrent sessions on one machine needs. `SO_REUSEADDR` lets a
//! port still in `TIME_WAIT` from an earlier session be bound again.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

/// Socket receive buffer used under a shaped link. The kernel's default (up to several MB
/// with autotuning) would let the server write a whole large message into our socket at
/// loopback speed, hiding the slow link from it; a small buffer makes the server wait for
/// the emulated link as it would for a real one.
pub const SHAPED_RCVBUF: usize = 64 * 1024;

/// Connects to `addr`, from `source` (port chosen by the kernel) when given.
/// The caller applies its own timeout.
pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    shaped: bool,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if shaped {
        socket.set_recv_buffer_size(SHAPED_RCVBUF)?;
    }
    if let Some(ip) = source {
        if ip.is_ipv4() != addr.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("source address {ip} and server address {addr} are of different families"),
            ));
        }
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    let std_stream: std::net::TcpStream = socket.into();
    let stream = TcpSocket::from_std_stream(std_stream).connect(addr).await?;
    // Commands are small and each waits for its answer: Nagle's algorithm would only add
    // delayed-ACK stalls that no real client has.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `127.0.0.1 .. 127.0.0.K`: the source addresses for spreading `k` ways over loopback.
pub fn loopback_sources(k: u8) -> Vec<IpAddr> {
    (0..k.max(1))
        .map(|i| IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1 + i)))
        .collect()
}
