//! Listening sockets: one `SO_REUSEPORT` socket per configured address per worker thread.
//!
//! With one socket per worker the kernel spreads new connections across threads itself, so
//! no thread hands connections to another and a session lives and dies where it was
//! accepted. A configured port of 0 means "any free port": the first socket picks it and
//! the others bind the same one, which is how tests run servers side by side.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel may queue per socket before the server accepts them.
const BACKLOG: i32 = 4096;

/// Opens `count` sockets listening on `addr`; returns them and the address actually bound.
pub fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
) -> io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let mut sockets = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if bound.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&bound.into())?;
        socket.listen(BACKLOG)?;
        if bound.port() == 0 {
            bound = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("listener has no IP address"))?;
        }
        sockets.push(socket.into());
    }
    Ok((sockets, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_shared_by_all_sockets() {
        let (socks, addr) = bind_reuseport("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_ne!(addr.port(), 0);
        assert_eq!(socks.len(), 3);
        for s in &socks {
            assert_eq!(s.local_addr().unwrap(), addr);
        }
    }
}
