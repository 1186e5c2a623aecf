//! Where a HAProxy socket is: a unix socket path or a TCP address, and a one-shot exchange
//! (write one line, half-close, read to EOF) as the master CLI and debugging tools use.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// A stream to a HAProxy socket.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed stream of either kind.
pub type BoxedIo = Box<dyn Io>;

/// A socket address: `ip:port` is TCP, anything else a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix socket.
    Unix(PathBuf),
    /// A TCP socket.
    Tcp(SocketAddr),
}

impl Endpoint {
    /// Connects.
    pub async fn connect(&self) -> std::io::Result<BoxedIo> {
        Ok(match self {
            Endpoint::Unix(p) => Box::new(UnixStream::connect(p).await?),
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
        })
    }

    /// Sends `line` (which must not hold an LF), half-closes and reads to EOF, at most
    /// `max` bytes, within `timeout`. Returns the bytes exactly as HAProxy sent them.
    pub async fn oneshot(
        &self,
        line: &str,
        timeout: Duration,
        max: usize,
    ) -> std::io::Result<Vec<u8>> {
        if line.contains('\n') || line.contains('\r') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a command line cannot hold a line break",
            ));
        }
        let exchange = async {
            let mut io = self.connect().await?;
            io.write_all(line.as_bytes()).await?;
            io.write_all(b"\n").await?;
            io.flush().await?;
            io.shutdown().await?;
            let mut out = Vec::new();
            let mut limited = (&mut io).take(max as u64 + 1);
            limited.read_to_end(&mut out).await?;
            if out.len() > max {
                return Err(std::io::Error::other(format!(
                    "reply longer than {max} bytes"
                )));
            }
            Ok(out)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{self}: no reply within {timeout:?}"),
            )),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<SocketAddr>() {
            Ok(a) => Endpoint::Tcp(a),
            Err(_) => Endpoint::Unix(PathBuf::from(s.strip_prefix("unix:").unwrap_or(s))),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            "127.0.0.1:9999".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("127.0.0.1:9999".parse().unwrap())
        );
        assert_eq!(
            "/run/haproxy/admin.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            "unix:/x.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("/x.sock".into())
        );
    }
}
