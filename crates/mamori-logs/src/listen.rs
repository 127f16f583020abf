//! Syslog listeners on UDP and TCP, for devices and servers that send their logs (firewalls,
//! NAS boxes, rsyslog forwarders).
//!
//! - UDP: one message per datagram (several when a sender packs newline-separated lines);
//! - TCP: RFC 6587 framing, octet counting (`LEN SP MSG`) or newline-terminated, told apart
//!   per message by its first byte (a digit starts a length; syslog messages start with `<`).
//!
//! Each message is parsed by the syslog reader with its program-specific parsing into an
//! [`Event`] with `origin.file = None`, the sender's address as `peer_ip` (and as `host` when
//! the message names none), and the receive time when it carries none. Messages are bounded
//! ([`ListenOptions::max_message`]): longer ones are reported as errors and skipped, not
//! buffered. Events go to a bounded channel, which slows TCP senders down when the consumer
//! is behind (UDP datagrams then queue in, and overflow, the kernel's buffer).
//!
//! No TLS (RFC 5425) and no sender authentication: bind to an internal address.

use crate::event::{Event, Origin};
use crate::reader::{timestamp, Format, LineParser, ReadError, ReadOptions};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Longest message accepted (RFC 5424 asks receivers for at least 2048 bytes).
    pub max_message: usize,
    /// TCP connections served at once; further ones wait in the accept queue.
    pub max_connections: usize,
    /// A TCP connection silent this long is closed.
    pub idle_timeout: Duration,
    pub read: ReadOptions,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            max_message: 64 * 1024,
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
            read: ReadOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("binding syslog {proto} listener on {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("syslog {proto} listener: {source}")]
    Io {
        proto: &'static str,
        source: io::Error,
    },
}

/// Syslog over UDP and/or TCP; bind first (ports may be 0), then [`SyslogListener::run`].
pub struct SyslogListener {
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    parser: Arc<LineParser>,
    opts: ListenOptions,
}

impl SyslogListener {
    pub async fn bind(
        udp: Option<SocketAddr>,
        tcp: Option<SocketAddr>,
        opts: ListenOptions,
    ) -> Result<SyslogListener, ListenError> {
        let udp = match udp {
            Some(addr) => {
                Some(
                    UdpSocket::bind(addr)
                        .await
                        .map_err(|source| ListenError::Bind {
                            proto: "UDP",
                            addr,
                            source,
                        })?,
                )
            }
            None => None,
        };
        let tcp = match tcp {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ListenError::Bind {
                            proto: "TCP",
                            addr,
                            source,
                        })?,
                )
            }
            None => None,
        };
        Ok(SyslogListener {
            udp,
            tcp,
            parser: Arc::new(LineParser::new(Format::Syslog, opts.read.clone())),
            opts,
        })
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Receives until `shutdown` completes or the channel's receiver is dropped.
    pub async fn run<S>(
        self,
        tx: mpsc::Sender<Result<Event, ReadError>>,
        shutdown: S,
    ) -> Result<(), ListenError>
    where
        S: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        let SyslogListener {
            udp,
            tcp,
            parser,
            opts,
        } = self;
        let limit = Arc::new(Semaphore::new(opts.max_connections.max(1)));
        let mut conns = JoinSet::new();
        // One byte more than the limit tells an over-long datagram from one that fits.
        let mut buf = vec![0u8; opts.max_message + 1];
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tx.closed() => return Ok(()),
                r = recv(udp.as_ref(), &mut buf) => {
                    let (data, peer) = r.map_err(|source| ListenError::Io { proto: "UDP", source })?;
                    if data.len() > opts.max_message {
                        let err = too_long(peer, data.len(), opts.max_message);
                        if tx.send(Err(err)).await.is_err() { return Ok(()); }
                        continue;
                    }
                    for msg in data.split(|&b| b == b'\n') {
                        if !deliver(&parser, msg, peer, &tx).await { return Ok(()); }
                    }
                }
                r = accept(tcp.as_ref(), &limit) => {
                    let (stream, peer, permit) = match r {
                        Ok(x) => x,
                        // A failed accept (peer reset, out of descriptors) ends only that
                        // connection; the listener carries on.
                        Err(e) => {
                            tracing::warn!(error = %e, "syslog TCP accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let (parser, tx, opts) = (parser.clone(), tx.clone(), opts.clone());
                    conns.spawn(async move {
                        let _permit = permit;
                        if let Err(e) = serve_tcp(stream, peer, &parser, &tx, &opts).await {
                            tracing::debug!(peer = %peer, error = %e, "syslog TCP connection ended");
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }
}

async fn recv(udp: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(Vec<u8>, SocketAddr)> {
    match udp {
        Some(s) => {
            let (n, peer) = s.recv_from(buf).await?;
            Ok((buf.get(..n).unwrap_or_default().to_vec(), peer))
        }
        None => std::future::pending().await,
    }
}

async fn accept(
    tcp: Option<&TcpListener>,
    limit: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit)> {
    let Some(l) = tcp else {
        return std::future::pending().await;
    };
    let permit = limit
        .clone()
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (s, peer) = l.accept().await?;
    Ok((s, peer, permit))
}

fn too_long(peer: SocketAddr, len: usize, max: usize) -> ReadError {
    ReadError {
        file: None,
        offset: 0,
        reason: format!("syslog message from {peer}: {len}+ bytes, longer than the {max} limit"),
    }
}

/// Parses one message and sends it; `false` when the receiver is gone.
async fn deliver(
    parser: &LineParser,
    msg: &[u8],
    peer: SocketAddr,
    tx: &mpsc::Sender<Result<Event, ReadError>>,
) -> bool {
    let text = String::from_utf8_lossy(msg);
    let item = match parser.parse(&text, Origin::default(), None) {
        None => return true,
        Some(Ok(mut ev)) => {
            let ip = peer.ip().to_string();
            if ev.host.is_none() {
                ev.host = Some(ip.clone());
            }
            if ev.timestamp.is_none() {
                ev.timestamp = Some(timestamp::now_ms());
            }
            ev.fields.push("peer_ip", ip);
            Ok(ev)
        }
        Some(Err(mut e)) => {
            e.reason = format!("syslog message from {peer}: {}", e.reason);
            Err(e)
        }
    };
    tx.send(item).await.is_ok()
}

/// Reads framed messages from one TCP connection until it closes or idles out.
async fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    parser: &LineParser,
    tx: &mpsc::Sender<Result<Event, ReadError>>,
    opts: &ListenOptions,
) -> io::Result<()> {
    let mut r = BufReader::with_capacity(16 * 1024, stream);
    let max = opts.max_message;
    let mut msg = Vec::with_capacity(1024);
    loop {
        let first = match tokio::time::timeout(opts.idle_timeout, r.fill_buf()).await {
            Err(_) => return Ok(()), // idle
            Ok(Err(e)) => return Err(e),
            Ok(Ok([])) => return Ok(()),
            Ok(Ok(buf)) => buf.first().copied(),
        };
        msg.clear();
        let mut over = None;
        if first.is_some_and(|b| b.is_ascii_digit()) {
            // Octet counting: `LEN SP MSG`.
            let mut len: usize = 0;
            let mut digits = 0;
            loop {
                let b = r.read_u8().await?;
                match b {
                    b'0'..=b'9' if digits < 10 => {
                        len = len * 10 + usize::from(b - b'0');
                        digits += 1;
                    }
                    b' ' => break,
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "bad octet-counted frame length",
                        ))
                    }
                }
            }
            if len > max {
                over = Some(len);
                // Skip the message without keeping it; framing stays in step.
                let skipped =
                    tokio::io::copy(&mut (&mut r).take(len as u64), &mut tokio::io::sink()).await?;
                if skipped < len as u64 {
                    return Ok(());
                }
            } else {
                msg.resize(len, 0);
                r.read_exact(&mut msg).await?;
            }
        } else {
            // Newline framing; a line past the limit is counted and discarded.
            let mut len = 0usize;
            loop {
                let buf = tokio::time::timeout(opts.idle_timeout, r.fill_buf())
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle"))??;
                if buf.is_empty() {
                    break; // a last message without newline
                }
                let (chunk, used, done) = match memchr::memchr(b'\n', buf) {
                    Some(p) => (buf.get(..p).unwrap_or_default(), p + 1, true),
                    None => (buf, buf.len(), false),
                };
                len += chunk.len();
                if len <= max {
                    msg.extend_from_slice(chunk);
                }
                r.consume(used);
                if done {
                    break;
                }
            }
            if len > max {
                over = Some(len);
            }
        }
        match over {
            Some(len) => {
                if tx.send(Err(too_long(peer, len, max))).await.is_err() {
                    return Ok(());
                }
            }
            None => {
                if !deliver(parser, &msg, peer, tx).await {
                    return Ok(());
                }
            }
        }
    }
}
