//! The TCP driver: accepts connections, frames each stream ([`super::framing`]), answers
//! keep-alive pings, and keeps a table of open connections so responses and in-dialog requests
//! go back over the connection the peer opened (RFC 3261 §18.2.2, RFC 5626 flow reuse).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, warn};

use super::framing::{Frame, FramingError, FramingLimits, StreamFramer, PONG};
use super::{Inbound, Protocol};
use crate::shutdown::ShutdownListener;
use crate::sip::message::{self, ParseError};

/// Most simultaneous TCP connections; beyond it new ones are refused (closed at once).
const MAX_CONNECTIONS: usize = 10_000;
/// A connection with no traffic for this long is closed. Phones send keep-alives every
/// couple of minutes (RFC 5626 §4.4.1 suggests 95–120 s), so this is generous.
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// How long we try to open a connection to a peer before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Writes queued per connection before the sender sees back-pressure.
const WRITE_QUEUE: usize = 256;

/// The open connections, by peer address. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Connections {
    writers: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    limit: Arc<Semaphore>,
    limits: FramingLimits,
    inbound: mpsc::Sender<Inbound>,
    shutdown: ShutdownListener,
}

/// Why bytes could not be sent over TCP.
#[derive(Debug, thiserror::Error)]
pub enum TcpSendError {
    /// Connecting to the peer failed.
    #[error("connect to {peer} failed: {source}")]
    Connect {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting took too long.
    #[error("connect to {peer} timed out")]
    ConnectTimeout {
        /// The peer.
        peer: SocketAddr,
    },
    /// The connection closed before the bytes were queued.
    #[error("connection to {peer} closed")]
    Closed {
        /// The peer.
        peer: SocketAddr,
    },
    /// Too many connections are open.
    #[error("too many TCP connections")]
    TooMany,
}

impl Connections {
    /// An empty table whose connections deliver to `inbound`.
    pub fn new(
        limits: FramingLimits,
        inbound: mpsc::Sender<Inbound>,
        shutdown: ShutdownListener,
    ) -> Self {
        Self {
            writers: Arc::default(),
            limit: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            limits,
            inbound,
            shutdown,
        }
    }

    /// Accepts connections on `listener` until shutdown.
    pub async fn run_listener(self, listener: TcpListener) {
        let mut shutdown = self.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown.recv() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = self.adopt(stream, peer) {
                        debug!(%peer, error = %e, "refusing TCP connection");
                    }
                }
                Err(e) => {
                    // EMFILE and friends: wait a little rather than spin.
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Sends `bytes` to `peer`, over the open connection or a new one.
    pub async fn send(&self, peer: SocketAddr, bytes: Bytes) -> Result<(), TcpSendError> {
        let existing = self.lock().get(&peer).cloned();
        let writer = match existing {
            Some(w) if !w.is_closed() => w,
            _ => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer))
                    .await
                    .map_err(|_| TcpSendError::ConnectTimeout { peer })?
                    .map_err(|source| TcpSendError::Connect { peer, source })?;
                self.adopt(stream, peer)?
            }
        };
        writer
            .send(bytes)
            .await
            .map_err(|_| TcpSendError::Closed { peer })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Bytes>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connected stream and spawns its reader and writer.
    fn adopt(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<mpsc::Sender<Bytes>, TcpSendError> {
        let permit = self
            .limit
            .clone()
            .try_acquire_owned()
            .map_err(|_| TcpSendError::TooMany)?;
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map_err(|source| TcpSendError::Connect { peer, source })?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        self.lock().insert(peer, tx.clone());
        let (mut reader, mut writer) = stream.into_split();
        let this = self.clone();
        let pong = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let write_task = tokio::spawn(async move {
                while let Some(bytes) = rx.recv().await {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                let _ = writer.shutdown().await;
            });
            this.read_loop(&mut reader, peer, local, pong).await;
            {
                let mut writers = this.lock();
                if writers.get(&peer).is_some_and(|w| w.same_channel(&tx)) {
                    writers.remove(&peer);
                }
            }
            drop(tx);
            write_task.abort();
            debug!(%peer, "TCP connection closed");
        });
        Ok(self.lock().get(&peer).cloned().unwrap_or_else(|| {
            // Only this function inserts; the entry can vanish if the peer closed at once.
            mpsc::channel(1).0
        }))
    }

    async fn read_loop(
        &self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
        peer: SocketAddr,
        local: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    ) {
        let mut framer = StreamFramer::new(self.limits);
        let mut buffer = vec![0u8; 8192];
        // No shutdown check here: during the drain, running calls still need their in-dialog
        // requests; `serve` ends these tasks with the runtime once the drain is over.
        loop {
            let read = tokio::time::timeout(IDLE_TIMEOUT, reader.read(&mut buffer)).await;
            let n = match read {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Err(_) => {
                    debug!(%peer, "closing idle TCP connection");
                    return;
                }
                Ok(Ok(n)) => n,
            };
            framer.push(&buffer[..n]);
            loop {
                match framer.next_frame() {
                    Ok(None) => break,
                    Ok(Some(Frame::Ping)) => {
                        let _ = writer.try_send(Bytes::from_static(PONG));
                    }
                    Ok(Some(Frame::Message(bytes))) => {
                        let message = Inbound {
                            protocol: Protocol::Tcp,
                            from: peer,
                            local,
                            bytes,
                        };
                        if self.inbound.send(message).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        self.reject_stream(peer, local, &error, &writer).await;
                        return;
                    }
                }
            }
        }
    }

    /// The stream cannot be framed any more: answer what can be answered from the header
    /// section (513 for a body over the limit, 400 for a bad Content-Length, §18.3 / §21.5.7),
    /// then close: there is no way to find the next message boundary.
    async fn reject_stream(
        &self,
        peer: SocketAddr,
        _local: SocketAddr,
        error: &FramingError,
        writer: &mpsc::Sender<Bytes>,
    ) {
        debug!(%peer, %error, "closing TCP connection: unframeable stream");
        let (headers, parse_error) = match error {
            FramingError::BodyTooLarge {
                headers, declared, ..
            } => (
                headers,
                ParseError::MessageTooLarge {
                    length: headers.len() + declared,
                },
            ),
            FramingError::BadContentLength { headers } => {
                (headers, ParseError::MalformedContentLength)
            }
            FramingError::HeadersTooLarge { .. } => return,
        };
        if let Some(basics) = message::recover_request_basics(headers) {
            let answer = message::bad_request_response_allowing(
                &basics,
                &parse_error,
                message::ALLOWED_METHODS,
            );
            let _ = writer.send(Bytes::from(answer)).await;
            // Give the writer task a moment to flush before the connection is torn down.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
