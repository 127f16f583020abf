//! Exposed services on the target host: connect to each configured port, read a banner or
//! send the smallest probe that makes the service name itself, and report what answers.
//! Banners are hostile input: reads are bounded, timed, and only printable text is kept.

use crate::config::Service;
use crate::finding::Finding;
use crate::http::Gate;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_BANNER: usize = 512;

/// Printable ASCII of a banner, at most 200 characters.
pub fn printable(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// What to send after connecting (nothing for services that speak first).
fn probe_bytes(service: Service) -> &'static [u8] {
    match service {
        Service::Redis => b"PING\r\n",
        // SSLRequest: length 8, code 80877103. The server answers 'S' or 'N'.
        Service::Postgres => &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
        _ => b"",
    }
}

/// A description of what answered, from the banner.
pub fn describe(service: Service, banner: &[u8]) -> String {
    match service {
        Service::Ssh if banner.starts_with(b"SSH-") => {
            let line = banner.split(|&b| b == b'\n').next().unwrap_or_default();
            format!("banner: {}", printable(line))
        }
        Service::Redis if banner.starts_with(b"+PONG") => {
            "PING answered +PONG: no password required".into()
        }
        Service::Redis if banner.starts_with(b"-NOAUTH") || banner.starts_with(b"-ERR") => {
            format!(
                "PING answered {}",
                printable(&banner[..banner.len().min(60)])
            )
        }
        Service::Postgres if banner.first().is_some_and(|b| *b == b'S' || *b == b'N') => {
            "answered the PostgreSQL SSLRequest".into()
        }
        // MySQL greeting: 3-byte length, sequence, protocol 10, NUL-terminated version.
        Service::Mysql if banner.len() > 5 && banner[4] == 10 => {
            let v: Vec<u8> = banner[5..]
                .iter()
                .take_while(|&&b| b != 0)
                .take(60)
                .copied()
                .collect();
            format!("MySQL greeting, server version {}", printable(&v))
        }
        _ if banner.is_empty() => "port open (no banner)".into(),
        _ => format!("banner: {}", printable(banner)),
    }
}

/// Connects to one port; `Ok(None)` when closed or filtered.
pub async fn probe(addr: &str, service: Service, timeout: Duration) -> Option<Vec<u8>> {
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        _ => return None,
    };
    let send = probe_bytes(service);
    if !send.is_empty() && stream.write_all(send).await.is_err() {
        return Some(Vec::new());
    }
    let mut buf = vec![0u8; MAX_BANNER];
    let wait = timeout.min(Duration::from_secs(3));
    let n = match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    buf.truncate(n);
    Some(buf)
}

/// Probes every configured port (concurrently; each connection still waits for the gate).
pub async fn run(
    gate: &Gate,
    host: &str,
    ports: &[(u16, Service)],
    timeout: Duration,
    errors: &mut Vec<String>,
) -> Vec<Finding> {
    let probes = ports.iter().map(|&(port, service)| async move {
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if let Err(e) = gate.permit(host, &format!("tcp://{addr}")).await {
            return Err(e.to_string());
        }
        Ok(probe(&addr, service, timeout)
            .await
            .map(|banner| (addr, port, service, banner)))
    });
    let mut out = Vec::new();
    for result in join_all(probes).await {
        match result {
            Err(e) => errors.push(e),
            Ok(None) => {}
            Ok(Some((addr, port, service, banner))) => {
                let what = describe(service, &banner);
                let id = match service {
                    Service::Ssh => "service_ssh",
                    Service::Telnet => "service_telnet",
                    Service::Smb => "service_smb",
                    Service::Rdp => "service_rdp",
                    Service::Mysql => "service_mysql",
                    Service::Postgres => "service_postgres",
                    Service::Redis => "service_redis",
                    Service::Mongodb => "service_mongodb",
                    Service::Vpn => "service_vpn",
                };
                let evidence = format!("TCP connect {addr} ({}): open\n→ {what}", service.name());
                out.push(
                    Finding::builtin(id, format!("tcp://{addr}"), evidence)
                        .detail(&format!("port {port}")),
                );
            }
        }
    }
    out
}

/// Runs futures concurrently and returns their outputs in order (a small local join_all,
/// to avoid a futures dependency for one call).
async fn join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => results[i] = Some(v),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_are_described_without_trusting_them() {
        assert_eq!(
            describe(Service::Ssh, b"SSH-2.0-OpenSSH_7.4\r\nrest"),
            "banner: SSH-2.0-OpenSSH_7.4"
        );
        assert!(
            describe(Service::Redis, b"-NOAUTH Authentication required.\r\n").contains("NOAUTH")
        );
        let greeting = b"\x4a\x00\x00\x00\x0a5.7.33-log\x00rest";
        assert!(describe(Service::Mysql, greeting).contains("5.7.33-log"));
        assert!(describe(Service::Mysql, b"\x01").contains("banner"));
        assert_eq!(printable(&[0xff, b'a', 0x00, b'b']), "a b");
    }
}
