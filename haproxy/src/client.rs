//! The runtime API client: one persistent `prompt`-mode session on the stats socket, commands
//! pipelined in batches, a timeout per batch, and reconnect with backoff.
//!
//! A batch is written in one go while its replies are read concurrently (so a large batch
//! cannot deadlock on full socket buffers), and the replies are matched to commands in order.
//! Any failure drops the session; the next call opens a new one. A failed batch is never
//! replayed here: the caller observes HAProxy again and re-plans.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Mutex;
use tokio_util::codec::FramedRead;

use crate::endpoint::{BoxedIo, Endpoint};
use crate::names::{BackendName, FilePath};
use crate::proto::parse::{MapEntry, MapInfo, ServerConn, ServerState};
use crate::proto::{
    CodecError, Command, DEFAULT_BUFSIZE, EncodeError, MapTarget, PromptCodec, Reply, ReplyError,
    parse_frame,
};
use crate::version::Version;

/// Replies of up to this many bytes in a batch leave the session's read buffer as it is.
const KEEP_READ_BUFFER_UP_TO: usize = 64 << 10;

/// Settings of a [`RuntimeClient`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Time allowed for one batch: writing it and reading every reply.
    pub timeout: Duration,
    /// Time allowed to connect and enter prompt mode.
    pub connect_timeout: Duration,
    /// HAProxy's `tune.bufsize`: no command line may exceed it.
    pub bufsize: usize,
    /// Largest reply accepted.
    pub max_reply: usize,
    /// A session idle for longer is reopened before use, so an idle timeout never closes it
    /// under a batch. (HAProxy 2.6.12 keeps an idle `prompt`-mode session past `stats
    /// timeout`, measured; other versions and proxies in between may not.)
    pub idle_reconnect: Duration,
    /// Connection attempts per call before giving up.
    pub connect_attempts: u32,
    /// First backoff between attempts; doubles each time.
    pub backoff: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            bufsize: DEFAULT_BUFSIZE,
            max_reply: 256 << 20,
            idle_reconnect: Duration::from_secs(5),
            connect_attempts: 3,
            backoff: Duration::from_millis(50),
        }
    }
}

/// Errors of the transport, as opposed to HAProxy's answers.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connecting or talking to the socket failed.
    #[error("runtime socket {endpoint}: {source}")]
    Io {
        /// Which socket.
        endpoint: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The batch took longer than allowed.
    #[error("runtime socket {endpoint}: no complete reply within {timeout:?}")]
    Timeout {
        /// Which socket.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
    /// HAProxy closed the session before every reply arrived.
    #[error("runtime socket {endpoint}: closed by haproxy after {got} of {want} replies")]
    Closed {
        /// Which socket.
        endpoint: String,
        /// Replies received.
        got: usize,
        /// Replies expected.
        want: usize,
    },
    /// The stream did not follow the prompt protocol.
    #[error("runtime socket {endpoint}: protocol error: {detail}")]
    Protocol {
        /// Which socket.
        endpoint: String,
        /// What went wrong.
        detail: String,
    },
    /// A command could not be encoded; nothing was sent.
    #[error("command {index} (`{command}`) not sent: {source}")]
    Encode {
        /// Position in the batch.
        index: usize,
        /// The command's name.
        command: &'static str,
        /// Why.
        #[source]
        source: EncodeError,
    },
}

impl ClientError {
    /// True when the batch timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }

    /// True when the connection is gone (closed or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self, ClientError::Closed { .. } | ClientError::Io { .. })
    }
}

/// Either the transport failed or HAProxy did not give the expected answer.
#[derive(Debug, Error)]
pub enum Error {
    /// Transport error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// HAProxy refused, or replied in an unexpected shape.
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

struct Session {
    reader: FramedRead<ReadHalf<BoxedIo>, PromptCodec>,
    writer: WriteHalf<BoxedIo>,
    last_used: Instant,
}

impl Session {
    /// Checks, without waiting, that HAProxy has not closed the idle session (its `stats
    /// timeout`, a restart): nothing is pending to read on a healthy idle session. Reopening
    /// here is safe because nothing of the next batch was sent yet.
    fn still_open(&mut self) -> bool {
        self.reader.next().now_or_never().is_none()
    }
}

/// A cheap, clonable handle on the runtime API. Batches from clones are serialized.
#[derive(Clone)]
pub struct RuntimeClient {
    endpoint: Endpoint,
    config: RuntimeConfig,
    session: Arc<Mutex<Option<Session>>>,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RuntimeClient {
    /// A client for `endpoint`; it connects on first use.
    pub fn new(endpoint: Endpoint, config: RuntimeConfig) -> Self {
        Self {
            endpoint,
            config,
            session: Arc::new(Mutex::new(None)),
        }
    }

    /// The socket this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    fn io_err(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            endpoint: self.endpoint.to_string(),
            source,
        }
    }

    async fn open(&self) -> Result<Session, ClientError> {
        let mut delay = self.config.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match tokio::time::timeout(self.config.connect_timeout, self.open_once()).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) if attempt >= self.config.connect_attempts => return Err(e),
                Err(_) if attempt >= self.config.connect_attempts => {
                    return Err(ClientError::Timeout {
                        endpoint: self.endpoint.to_string(),
                        timeout: self.config.connect_timeout,
                    });
                }
                Ok(Err(e)) => tracing::debug!(error = %e, attempt, "runtime socket connect failed"),
                Err(_) => tracing::debug!(attempt, "runtime socket connect timed out"),
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }

    async fn open_once(&self) -> Result<Session, ClientError> {
        let io = self.endpoint.connect().await.map_err(|e| self.io_err(e))?;
        let (r, mut writer) = tokio::io::split(io);
        let mut reader = FramedRead::new(r, PromptCodec::new(self.config.max_reply));
        writer
            .write_all(b"prompt\n")
            .await
            .map_err(|e| self.io_err(e))?;
        match reader.next().await {
            Some(Ok(f)) if f.is_empty() => Ok(Session {
                reader,
                writer,
                last_used: Instant::now(),
            }),
            Some(Ok(f)) => Err(ClientError::Protocol {
                endpoint: self.endpoint.to_string(),
                detail: format!(
                    "expected an empty prompt, got {:?}",
                    String::from_utf8_lossy(&f)
                ),
            }),
            Some(Err(e)) => Err(self.codec_err(e)),
            None => Err(ClientError::Closed {
                endpoint: self.endpoint.to_string(),
                got: 0,
                want: 1,
            }),
        }
    }

    fn codec_err(&self, e: CodecError) -> ClientError {
        match e {
            CodecError::Io(e) => self.io_err(e),
            e @ CodecError::FrameTooLong { .. } => ClientError::Protocol {
                endpoint: self.endpoint.to_string(),
                detail: e.to_string(),
            },
        }
    }

    /// Sends `commands` pipelined and returns one result per command, in order. The outer
    /// error means the transport failed (some commands may have run: observe again); the
    /// inner ones are HAProxy's answers.
    pub async fn batch(
        &self,
        commands: &[Command],
    ) -> Result<Vec<Result<Reply, ReplyError>>, ClientError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut buf = BytesMut::with_capacity(commands.len() * 48);
        for (index, c) in commands.iter().enumerate() {
            c.encode(self.config.bufsize, &mut buf)
                .map_err(|source| ClientError::Encode {
                    index,
                    command: c.name(),
                    source,
                })?;
        }
        let mut guard = self.session.lock().await;
        let stale = guard
            .as_mut()
            .is_some_and(|s| s.last_used.elapsed() > self.config.idle_reconnect || !s.still_open());
        if guard.is_none() || stale {
            *guard = None;
            *guard = Some(self.open().await?);
        }
        let session = guard.as_mut().expect("session was just opened");
        let result = tokio::time::timeout(
            self.config.timeout,
            self.exchange(session, &buf, commands.len()),
        )
        .await;
        let frames = match result {
            Ok(Ok(frames)) => frames,
            Ok(Err(e)) => {
                *guard = None;
                return Err(e);
            }
            Err(_) => {
                *guard = None;
                return Err(ClientError::Timeout {
                    endpoint: self.endpoint.to_string(),
                    timeout: self.config.timeout,
                });
            }
        };
        session.last_used = Instant::now();
        drop(guard);
        Ok(commands
            .iter()
            .zip(frames)
            .map(|(c, f)| parse_frame(c, f.freeze()))
            .collect())
    }

    async fn exchange(
        &self,
        session: &mut Session,
        bytes: &[u8],
        want: usize,
    ) -> Result<Vec<BytesMut>, ClientError> {
        let Session { reader, writer, .. } = session;
        let write = async {
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        let read = async {
            let mut frames = Vec::with_capacity(want);
            while frames.len() < want {
                match reader.next().await {
                    Some(Ok(f)) => frames.push(f),
                    Some(Err(e)) => return Err(self.codec_err(e)),
                    None => {
                        return Err(ClientError::Closed {
                            endpoint: self.endpoint.to_string(),
                            got: frames.len(),
                            want,
                        });
                    }
                }
            }
            // A large reply grew the read buffer, and the frames split from it share its
            // allocation: give the session a fresh buffer so that allocation goes when they
            // do, rather than staying for the session's life (~1 MB per 10,000 servers).
            if reader.read_buffer().is_empty()
                && frames.iter().map(BytesMut::len).sum::<usize>() > KEEP_READ_BUFFER_UP_TO
            {
                *reader.read_buffer_mut() = BytesMut::new();
            }
            Ok(frames)
        };
        let (written, frames) = tokio::join!(write, read);
        written.map_err(|e| self.io_err(e))?;
        frames
    }

    /// Sends one command and returns its typed reply.
    pub async fn send(&self, command: Command) -> Result<Reply, Error> {
        let mut replies = self.batch(std::slice::from_ref(&command)).await?;
        Ok(replies.pop().expect("one reply per command")?)
    }

    /// Drops the session; the next call reconnects.
    pub async fn disconnect(&self) {
        *self.session.lock().await = None;
    }

    /// `show version`
    pub async fn version(&self) -> Result<Version, Error> {
        match self.send(Command::ShowVersion).await? {
            Reply::Version(v) => Ok(v),
            other => Err(mismatch("show version", other)),
        }
    }

    /// `show servers state [<backend>]`
    pub async fn servers_state(
        &self,
        backend: Option<BackendName>,
    ) -> Result<Vec<ServerState>, Error> {
        match self.send(Command::ShowServersState(backend)).await? {
            Reply::ServersState(v) => Ok(v.iter().collect()),
            other => Err(mismatch("show servers state", other)),
        }
    }

    /// `show servers conn [<backend>]`
    pub async fn servers_conn(
        &self,
        backend: Option<BackendName>,
    ) -> Result<Vec<ServerConn>, Error> {
        match self.send(Command::ShowServersConn(backend)).await? {
            Reply::ServersConn(v) => Ok(v),
            other => Err(mismatch("show servers conn", other)),
        }
    }

    /// `show map`
    pub async fn maps(&self) -> Result<Vec<MapInfo>, Error> {
        match self.send(Command::ShowMaps).await? {
            Reply::Maps(v) => Ok(v),
            other => Err(mismatch("show map", other)),
        }
    }

    /// `show map <file>`
    pub async fn map_entries(&self, file: FilePath) -> Result<Vec<MapEntry>, Error> {
        match self.send(Command::ShowMap(MapTarget::live(file))).await? {
            Reply::MapEntries(v) => Ok(v),
            other => Err(mismatch("show map", other)),
        }
    }
}

fn mismatch(command: &'static str, reply: Reply) -> Error {
    Error::Reply(ReplyError::Unexpected {
        command,
        raw: format!("{reply:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection attempts on tokio's paused clock: a socket that is not there is tried
    /// `connect_attempts` times, `backoff` doubling between attempts, then reported closed.
    #[tokio::test(start_paused = true)]
    async fn connect_retries_wait_doubling_delays_then_give_up() {
        let dir = tempfile::tempdir().unwrap();
        let config = RuntimeConfig {
            connect_attempts: 4,
            backoff: Duration::from_millis(100),
            ..RuntimeConfig::default()
        };
        let client = RuntimeClient::new(Endpoint::Unix(dir.path().join("absent.sock")), config);
        let start = tokio::time::Instant::now();
        let err = client.batch(&[Command::ShowVersion]).await.unwrap_err();
        assert!(err.is_closed(), "{err}");
        // 100 + 200 + 400 ms between the four attempts, nothing after the last.
        assert_eq!(start.elapsed(), Duration::from_millis(700));
    }

    /// A fake socket in prompt mode that answers each command line with `reply`.
    async fn answering(reply: Vec<u8>) -> (tempfile::TempDir, RuntimeClient) {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = tokio::io::split(stream);
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = if line == "prompt" {
                    &[][..]
                } else {
                    &reply[..]
                };
                w.write_all(answer).await.unwrap();
                w.write_all(b"\n> ").await.unwrap();
            }
        });
        let client = RuntimeClient::new(Endpoint::Unix(path), RuntimeConfig::default());
        (dir, client)
    }

    /// The capacity of the session's read buffer after the last batch.
    async fn read_buffer_capacity(client: &RuntimeClient) -> usize {
        let session = client.session.lock().await;
        session
            .as_ref()
            .expect("a session")
            .reader
            .read_buffer()
            .capacity()
    }

    /// A reply of a megabyte (a `show servers state` of 10,000 servers) does not leave a
    /// buffer of that size with the session; small replies keep the buffer they use.
    #[tokio::test]
    async fn a_large_reply_leaves_no_large_read_buffer() {
        let (_dir, client) = answering(vec![b'x'; 1 << 20]).await;
        let replies = client.batch(&[Command::ShowVersion]).await.unwrap();
        assert!(replies[0].is_err(), "the fake's reply is not a version");
        let kept = read_buffer_capacity(&client).await;
        assert!(
            kept < 64 << 10,
            "the session kept {kept} bytes of read buffer"
        );

        let (_dir, client) = answering(b"HAProxy version 2.6.12".to_vec()).await;
        client.batch(&[Command::ShowVersion]).await.unwrap();
        assert!(
            read_buffer_capacity(&client).await > 0,
            "a small reply's buffer stays"
        );
    }
}
