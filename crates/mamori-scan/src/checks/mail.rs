//! The mail domain's SPF and DMARC records: present, single, and not permissive. TXT
//! records are asked of the configured DNS server or the first `nameserver` of
//! /etc/resolv.conf, over UDP with a TCP retry for truncated answers.

use crate::error::Error;
use crate::finding::Finding;
use crate::wire::dns::{parse_txt_response, txt_query, TxtAnswer};
use mamori_core::Severity;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The resolver from /etc/resolv.conf.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some("nameserver"))
            .then(|| it.next())
            .flatten()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

fn query_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(1u8) as u16
}

/// The TXT records of `name` (empty when the name has none or does not exist).
pub async fn lookup_txt(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let err = |reason: String| Error::Dns {
        name: name.to_string(),
        reason,
    };
    let id = query_id();
    let query = txt_query(id, name).map_err(&err)?;
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| err(e.to_string()))?;
    sock.connect(server).await.map_err(|e| err(e.to_string()))?;
    let mut buf = vec![0u8; 4096];
    let mut answer = None;
    for _attempt in 0..2 {
        sock.send(&query).await.map_err(|e| err(e.to_string()))?;
        match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                // A stray or spoofed datagram with another id is ignored, not trusted.
                match parse_txt_response(id, &buf[..n]) {
                    Ok(a) => {
                        answer = Some(a);
                        break;
                    }
                    Err(e) => tracing::debug!(name, error = %e, "ignored DNS answer"),
                }
            }
            Ok(Err(e)) => return Err(err(e.to_string())),
            Err(_) => continue,
        }
    }
    match answer {
        Some(TxtAnswer::Records(r)) => Ok(r),
        Some(TxtAnswer::NoSuchName) => Ok(Vec::new()),
        Some(TxtAnswer::Truncated) => lookup_txt_tcp(server, name, id, &query, timeout).await,
        None => Err(err(format!("no answer from {server}"))),
    }
}

async fn lookup_txt_tcp(
    server: SocketAddr,
    name: &str,
    id: u16,
    query: &[u8],
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let err = |reason: String| Error::Dns {
        name: name.to_string(),
        reason,
    };
    let work = async {
        let mut s = tokio::net::TcpStream::connect(server).await?;
        let mut msg = (query.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(query);
        s.write_all(&msg).await?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await?;
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| err("TCP query timed out".into()))?
        .map_err(|e| err(e.to_string()))?;
    match parse_txt_response(id, &body).map_err(err)? {
        TxtAnswer::Records(r) => Ok(r),
        _ => Ok(Vec::new()),
    }
}

/// Findings on the SPF records of `domain` (the TXT records of the domain itself).
pub fn spf_findings(domain: &str, txts: &[String]) -> Vec<Finding> {
    let url = format!("dns:{domain}?type=TXT");
    let spf: Vec<&String> = txts
        .iter()
        .filter(|t| t.trim().to_ascii_lowercase().starts_with("v=spf1"))
        .collect();
    let ev = |extra: &str| format!("TXT {domain}\n→ {extra}");
    match spf.as_slice() {
        [] => vec![Finding::builtin(
            "spf_missing",
            &url,
            ev("no v=spf1 record"),
        )],
        [one] => {
            let terms: Vec<String> = one
                .split_whitespace()
                .skip(1)
                .map(|t| t.to_ascii_lowercase())
                .collect();
            let all = terms
                .iter()
                .find(|t| t.trim_start_matches(['+', '-', '~', '?']) == "all");
            let redirect = terms.iter().any(|t| t.starts_with("redirect="));
            match all.map(String::as_str) {
                Some("+all") | Some("all") => {
                    vec![Finding::builtin("spf_permissive", &url, ev(one))]
                }
                Some("?all") => {
                    vec![Finding::builtin("spf_permissive", &url, ev(one))
                        .severity(Severity::Medium)]
                }
                None if !redirect => vec![Finding::builtin(
                    "spf_permissive",
                    &url,
                    ev(&format!(
                        "{one} (no `all` term: mail from any server is \"neutral\")"
                    )),
                )
                .severity(Severity::Medium)],
                _ => Vec::new(),
            }
        }
        many => {
            let list: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            vec![Finding::builtin(
                "spf_invalid",
                &url,
                ev(&list.join("\n→ ")),
            )]
        }
    }
}

/// Findings on the DMARC records at `_dmarc.<domain>`.
pub fn dmarc_findings(domain: &str, txts: &[String]) -> Vec<Finding> {
    let name = format!("_dmarc.{domain}");
    let url = format!("dns:{name}?type=TXT");
    let dmarc: Vec<&String> = txts
        .iter()
        .filter(|t| t.trim().to_ascii_lowercase().starts_with("v=dmarc1"))
        .collect();
    let Some(rec) = dmarc.first() else {
        return vec![Finding::builtin(
            "dmarc_missing",
            &url,
            format!("TXT {name}\n→ no v=DMARC1 record"),
        )];
    };
    let policy = rec.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("p")).then(|| v.trim().to_ascii_lowercase())
    });
    match policy.as_deref() {
        Some("quarantine") | Some("reject") => Vec::new(),
        _ => vec![Finding::builtin(
            "dmarc_permissive",
            &url,
            format!("TXT {name}\n→ {rec}"),
        )],
    }
}

/// Looks up and judges both records.
pub async fn run(
    server: SocketAddr,
    domain: &str,
    timeout: Duration,
    errors: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match lookup_txt(server, domain, timeout).await {
        Ok(txts) => out.extend(spf_findings(domain, &txts)),
        Err(e) => errors.push(e.to_string()),
    }
    match lookup_txt(server, &format!("_dmarc.{domain}"), timeout).await {
        Ok(txts) => out.extend(dmarc_findings(domain, &txts)),
        Err(e) => errors.push(e.to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(f: Vec<Finding>) -> Vec<String> {
        f.into_iter().map(|f| f.id).collect()
    }

    #[test]
    fn spf_judgements() {
        let t = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(spf_findings("a.jp", &t(&["v=spf1 +all"]))),
            ["spf_permissive"]
        );
        assert_eq!(
            ids(spf_findings("a.jp", &t(&["v=spf1 mx"]))),
            ["spf_permissive"]
        );
        assert!(spf_findings("a.jp", &t(&["v=spf1 include:_spf.google.com ~all"])).is_empty());
        assert!(spf_findings("a.jp", &t(&["v=spf1 redirect=_spf.a.jp"])).is_empty());
        assert_eq!(
            ids(spf_findings("a.jp", &t(&["google-site-verification=x"]))),
            ["spf_missing"]
        );
        assert_eq!(
            ids(spf_findings("a.jp", &t(&["v=spf1 -all", "v=spf1 mx -all"]))),
            ["spf_invalid"]
        );
    }

    #[test]
    fn dmarc_judgements() {
        let t = |s: &str| vec![s.to_string()];
        assert_eq!(ids(dmarc_findings("a.jp", &[])), ["dmarc_missing"]);
        assert_eq!(
            ids(dmarc_findings(
                "a.jp",
                &t("v=DMARC1; p=none; rua=mailto:x@a.jp")
            )),
            ["dmarc_permissive"]
        );
        assert!(dmarc_findings("a.jp", &t("v=DMARC1; p=reject")).is_empty());
    }
}
