//! Syslog listeners on loopback: UDP datagrams, TCP with octet counting and with newline
//! framing, over-long messages refused without losing the connection's next message.

use mamori_logs::listen::{ListenOptions, SyslogListener};
use mamori_logs::reader::{ReadError, ReadOptions};
use mamori_logs::{Event, SourceKind};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

type Rx = mpsc::Receiver<Result<Event, ReadError>>;

async fn start(max_message: usize) -> (SyslogListener, Rx, mpsc::Sender<Result<Event, ReadError>>) {
    let opts = ListenOptions {
        max_message,
        read: ReadOptions {
            utc_offset: time::UtcOffset::UTC,
            now_ms: Some(1_717_200_000_000),
            ..ReadOptions::default()
        },
        ..ListenOptions::default()
    };
    let local = "127.0.0.1:0".parse().unwrap();
    let l = SyslogListener::bind(Some(local), Some(local), opts)
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(64);
    (l, rx, tx)
}

async fn next(rx: &mut Rx) -> Result<Event, ReadError> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("listener delivered nothing")
        .expect("channel closed")
}

#[tokio::test]
async fn udp_messages_become_events_with_the_sender_as_peer() {
    let (l, mut rx, tx) = start(2048).await;
    let addr = l.udp_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(l.run(tx, async move {
        let _ = stopped.await;
    }));
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(
        b"<38>May  3 10:00:00 bastion sshd[5]: Failed password for root from 203.0.113.9 port 4000 ssh2",
        addr,
    )
    .await
    .unwrap();
    let ev = next(&mut rx).await.unwrap();
    assert_eq!(ev.source, SourceKind::Auth);
    assert_eq!(ev.host.as_deref(), Some("bastion"));
    assert_eq!(ev.get("src_ip"), Some("203.0.113.9"));
    assert_eq!(ev.get("peer_ip"), Some("127.0.0.1"));
    assert_eq!(ev.origin.file, None);

    // No hostname in the message: the sender's address stands in.
    sock.send_to(b"<134>May  3 10:00:01 myapp: hello", addr)
        .await
        .unwrap();
    let ev = next(&mut rx).await.unwrap();
    assert_eq!(ev.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(ev.get("program"), Some("myapp"));

    sock.send_to(b"not syslog", addr).await.unwrap();
    let err = next(&mut rx).await.unwrap_err();
    assert!(err.reason.contains("127.0.0.1"), "{}", err.reason);
    assert_eq!(err.file, None);

    sock.send_to(&vec![b'x'; 4000], addr).await.unwrap();
    assert!(next(&mut rx).await.unwrap_err().reason.contains("limit"));

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tcp_octet_counted_and_newline_framed_messages_are_split_correctly() {
    let (l, mut rx, tx) = start(1024).await;
    let addr = l.tcp_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(l.run(tx, async move {
        let _ = stopped.await;
    }));

    // RFC 6587 octet counting, two frames in one write, a newline inside a message.
    let m1 = "<13>1 2024-05-03T04:00:00Z gw app - - - first\nstill first";
    let m2 = "<13>1 2024-05-03T04:00:01Z gw app - - - second";
    let mut s = TcpStream::connect(addr).await.unwrap();
    let data = format!("{} {m1}{} {m2}", m1.len(), m2.len());
    s.write_all(data.as_bytes()).await.unwrap();
    let e1 = next(&mut rx).await.unwrap();
    assert_eq!(e1.get("message"), Some("first\nstill first"));
    let e2 = next(&mut rx).await.unwrap();
    assert_eq!(e2.get("message"), Some("second"));
    assert_eq!(e2.timestamp, Some(1_714_708_801_000));

    // Newline framing on another connection, written in pieces.
    let mut s2 = TcpStream::connect(addr).await.unwrap();
    s2.write_all(b"<86>May  3 10:00:00 h sudo:  bob : TTY=pts/0 ; PWD=/ ; USER=root ; CO")
        .await
        .unwrap();
    s2.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s2.write_all(b"MMAND=/bin/id\n<86>May  3 10:00:01 h app: next\n")
        .await
        .unwrap();
    let e3 = next(&mut rx).await.unwrap();
    assert_eq!(e3.get("command"), Some("/bin/id"));
    assert_eq!(next(&mut rx).await.unwrap().get("message"), Some("next"));

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tcp_messages_over_the_limit_are_reported_and_the_next_one_still_read() {
    let (l, mut rx, tx) = start(100).await;
    let addr = l.tcp_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(l.run(tx, async move {
        let _ = stopped.await;
    }));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let big = format!("<13>May  3 10:00:00 h app: {}", "y".repeat(500));
    let ok = "<13>May  3 10:00:01 h app: small";
    // Octet-counted oversize frame, then newline-framed oversize line, then a good message.
    let data = format!("{} {big}{big}\n{ok}\n", big.len());
    s.write_all(data.as_bytes()).await.unwrap();
    assert!(next(&mut rx).await.unwrap_err().reason.contains("limit"));
    assert!(next(&mut rx).await.unwrap_err().reason.contains("limit"));
    assert_eq!(next(&mut rx).await.unwrap().get("message"), Some("small"));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
