//! A TCP echo backend that names itself: every chunk it reads comes back as
//! `<name>|<chunk>`, so a test sees which server took the connection and what reached it
//! (a PROXY protocol header included).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running TCP echo server; dropping it stops accepting.
#[derive(Debug)]
pub struct TcpEcho {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TcpEcho {
    /// Starts `name` on `addr` (port 0: any free port).
    pub fn start_on(name: &str, addr: SocketAddr) -> anyhow::Result<TcpEcho> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| anyhow::anyhow!("tcp echo {name:?} cannot listen on {addr}: {e}"))?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let name: std::sync::Arc<str> = std::sync::Arc::from(name);
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(echo(conn, name.clone()));
            }
        });
        Ok(TcpEcho { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(mut conn: TcpStream, name: std::sync::Arc<str>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut reply = format!("{name}|").into_bytes();
        reply.extend_from_slice(&buf[..n]);
        if conn.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Connects to `addr`, sends `request` and reads until the reply holds `until` or the
/// connection ends (with a deadline): the reply as text.
pub async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    until: &str,
    within: std::time::Duration,
) -> anyhow::Result<String> {
    tokio::time::timeout(within, async {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(request).await?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(until) {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&got).into_owned())
    })
    .await
    .map_err(|_| anyhow::anyhow!("no reply from {addr} within {within:?}"))?
}
