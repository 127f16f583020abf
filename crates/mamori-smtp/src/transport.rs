//! The byte stream under an SMTP session, for the server and the client alike.
//!
//! [`Transport`] owns the socket (plain TCP, or TLS after STARTTLS on the same connection),
//! one fixed-size read buffer and one write buffer. It offers what SMTP needs:
//!
//! - [`Transport::read_line`] reads one line into a caller's buffer up to a limit; the rest
//!   of an over-long line is read and thrown away, so a peer that never sends LF costs no
//!   memory;
//! - [`Transport::buffered`]/[`Transport::consume`] expose the read buffer directly, which
//!   the DATA decoder uses to work through the message without lines;
//! - replies and commands are queued with [`Transport::queue`] and written out by
//!   [`Transport::flush`], which [`Transport::fill`] calls before every socket read. That
//!   one rule gives PIPELINING (RFC 2920): replies go out together when the client has
//!   nothing more in flight, in order, and never before the client could need them;
//! - STARTTLS upgrades in place and throws away anything buffered before the handshake, so
//!   plaintext sent after the STARTTLS command cannot be injected into the encrypted session
//!   (CVE-2011-0411 and its many relatives).
//!
//! Not here: timeouts (callers wrap calls in `tokio::time::timeout`), and any meaning of the
//! bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The read buffer size. A command line longer than this is fine: lines are gathered into
/// the caller's buffer, not this one.
const READ_BUFFER: usize = 16 * 1024;

/// A TCP connection, possibly upgraded to TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while the TCP stream is inside a TLS handshake; a failed handshake leaves it.
    Detached,
}

fn detached() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost in TLS handshake",
    )
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
}

/// How [`Transport::read_line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A whole line is in the caller's buffer, without its CRLF or LF.
    Line,
    /// The line was longer than the limit; it has been read and dropped.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// A buffered SMTP connection; see the module documentation.
pub(crate) struct Transport {
    stream: Stream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
}

impl Transport {
    pub fn new(tcp: TcpStream) -> Self {
        // Replies and commands are small and already batched by the write buffer.
        let _ = tcp.set_nodelay(true);
        Transport {
            stream: Stream::Plain(tcp),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::new(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::ServerTls(_) | Stream::ClientTls(_))
    }

    /// The TLS protocol version and cipher suite, for logs and `SessionInfo`.
    pub fn tls_description(&self) -> Option<String> {
        let (version, suite) = match &self.stream {
            Stream::ServerTls(s) => {
                let (_, c) = s.get_ref();
                (c.protocol_version(), c.negotiated_cipher_suite())
            }
            Stream::ClientTls(s) => {
                let (_, c) = s.get_ref();
                (c.protocol_version(), c.negotiated_cipher_suite())
            }
            _ => return None,
        };
        Some(format!(
            "{} {}",
            version.map(|v| format!("{v:?}")).unwrap_or_default(),
            suite
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default()
        ))
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Queues bytes to send at the next flush.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues a reply.
    pub fn queue_reply(&mut self, reply: &crate::Reply) {
        reply.write_to(&mut self.out);
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
            // Do not keep a large buffer alive after one big write (a long message).
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
        }
        self.stream.flush().await
    }

    /// Flushes, then reads more bytes from the socket into the buffer. Returns how many
    /// arrived; 0 means the peer closed the connection.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.flush().await?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads one line into `line` (cleared first), without its line ending. Lines longer
    /// than `max` octets (not counting the line ending) are read to their end and dropped.
    pub async fn read_line(&mut self, line: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
        line.clear();
        let mut too_long = false;
        loop {
            let available = self.buffered();
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            if !too_long {
                let content = newline.map_or(take, |i| i);
                if line.len() + content > max.saturating_add(1) {
                    too_long = true;
                    line.clear();
                } else {
                    line.extend_from_slice(&available[..content]);
                }
            }
            self.consume(take);
            if newline.is_some() {
                if too_long {
                    return Ok(LineRead::TooLong);
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > max {
                    line.clear();
                    return Ok(LineRead::TooLong);
                }
                return Ok(LineRead::Line);
            }
            if self.fill().await? == 0 {
                return Ok(LineRead::Eof);
            }
        }
    }

    /// Drops everything received but not consumed.
    pub fn discard_buffered(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Upgrades to TLS as the server, after `220 Ready to start TLS` has been flushed.
    pub async fn accept_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<()> {
        self.discard_buffered();
        self.flush().await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Detached) else {
            return Err(io::Error::other("TLS is already active"));
        };
        let tls = acceptor.accept(tcp).await?;
        self.stream = Stream::ServerTls(Box::new(tls));
        Ok(())
    }

    /// Upgrades to TLS as the client, after the server's `220` to STARTTLS.
    pub async fn connect_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<()> {
        // Anything the server sent after its 220 came before encryption: drop it.
        self.discard_buffered();
        self.flush().await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Detached) else {
            return Err(io::Error::other("TLS is already active"));
        };
        let tls = connector.connect(server_name, tcp).await?;
        self.stream = Stream::ClientTls(Box::new(tls));
        Ok(())
    }

    /// Flushes and closes the sending side (TLS close_notify included).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.stream.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (Transport, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (Transport::new(server), client)
    }

    #[tokio::test]
    async fn reads_lines_and_drops_over_long_ones_without_keeping_them() {
        let (mut transport, mut peer) = pair().await;
        let long = vec![b'x'; 100_000];
        let mut input = b"NOOP\r\nbare lf\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\r\nexactly10!\r\nelevenchars\nQUIT\r\n");
        tokio::spawn(async move {
            peer.write_all(&input).await.expect("write");
            peer.shutdown().await.expect("shutdown");
        });
        let mut line = Vec::new();
        let mut got = Vec::new();
        loop {
            let read = transport.read_line(&mut line, 10).await.expect("read");
            assert!(
                line.capacity() <= 1024,
                "line buffer grew to {}",
                line.capacity()
            );
            got.push((read, String::from_utf8_lossy(&line).into_owned()));
            if read == LineRead::Eof {
                break;
            }
        }
        assert_eq!(
            got,
            vec![
                (LineRead::Line, "NOOP".to_string()),
                (LineRead::Line, "bare lf".to_string()),
                (LineRead::TooLong, String::new()),
                (LineRead::Line, "exactly10!".to_string()),
                (LineRead::TooLong, String::new()),
                (LineRead::Line, "QUIT".to_string()),
                (LineRead::Eof, String::new()),
            ]
        );
    }
}
