//! The client side of the network: TCP connections from chosen source addresses, TLS, and
//! the slow-link emulation that sits between the two.
//!
//! The layering is TCP socket → [`slowlink::SlowLink`] → (optional) TLS, so a shaped link
//! carries the TLS records and handshake like a real one would. Protocol clients see one
//! boxed stream ([`BoxIo`]) whatever is underneath, which is what lets STARTTLS swap the
//! plain stream for a TLS one in place, and lets tests run clients over in-memory pipes.

pub mod connect;
pub mod slowlink;
pub mod tls;

use tokio::io::{AsyncRead, AsyncWrite};

/// Anything a protocol client can talk over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An owned, type-erased connection.
pub type BoxIo = Box<dyn Io>;
