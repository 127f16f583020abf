//! All traffic to the target goes through [`Gate`]: it keeps the scan on the target host,
//! spaces requests at the configured rate and counts them against the budget. [`Http`] is
//! the HTTP client on top: no automatic redirects (followed here with a cap and loop
//! detection), bounded bodies, and the evidence line of each request.

use crate::error::{chain, Error};
use crate::limiter::RateLimiter;
use crate::ScanConfig;
use reqwest::Url;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Scope, rate and budget for everything sent to the target.
#[derive(Debug)]
pub struct Gate {
    host: String,
    limiter: RateLimiter,
    sent: AtomicUsize,
    max: usize,
}

impl Gate {
    pub fn new(host: &str, config: &ScanConfig) -> Gate {
        Gate {
            host: host.to_ascii_lowercase(),
            limiter: RateLimiter::new(config.rate_per_second),
            sent: AtomicUsize::new(0),
            max: config.max_requests,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Waits for a slot to contact `host` (`what` names the request for errors).
    pub async fn permit(&self, host: &str, what: &str) -> Result<(), Error> {
        if !host.eq_ignore_ascii_case(&self.host) {
            return Err(Error::OutOfScope {
                url: what.to_string(),
                host: self.host.clone(),
            });
        }
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        if n >= self.max {
            self.sent.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Budget {
                url: what.to_string(),
                max: self.max,
            });
        }
        self.limiter.acquire().await;
        Ok(())
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    pub fn exhausted(&self) -> bool {
        self.sent() >= self.max
    }
}

/// A response read up to the body bound.
#[derive(Debug, Clone)]
pub struct Response {
    pub url: String,
    /// `GET /path HTTP/1.1` as sent, for evidence.
    pub request_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than the bound and was cut.
    pub truncated: bool,
}

impl Response {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.header("location").is_some()
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("html"))
            || self.body.trim_ascii_start().starts_with(b"<")
    }

    /// The request line, the status line and an excerpt of the body around `needle`
    /// (or its start), for a finding's evidence.
    pub fn evidence(&self, needle: Option<&str>) -> String {
        let text = self.text();
        let excerpt = match needle.and_then(|n| text.find(n)) {
            Some(at) => excerpt(&text, at, 300),
            None => excerpt(&text, 0, 300),
        };
        format!(
            "{}\n→ HTTP {}\n{}",
            self.request_line,
            self.status,
            excerpt.trim()
        )
    }

    /// Request line, status line and the named headers as received (absent ones noted).
    pub fn header_evidence(&self, names: &[&str]) -> String {
        let mut out = format!("{}\n→ HTTP {}", self.request_line, self.status);
        for n in names {
            match self.header(n) {
                Some(v) => out.push_str(&format!("\n{n}: {v}")),
                None => out.push_str(&format!("\n({n}: absent)")),
            }
        }
        out
    }
}

/// Up to `len` bytes of `text` from the start of the line holding byte `at` (or 40 bytes
/// before it on long lines), on character boundaries, control characters shown as spaces.
pub fn excerpt(text: &str, at: usize, len: usize) -> String {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let at = floor(at);
    let lo = floor(at.saturating_sub(160));
    let start = match text[lo..at].rfind('\n') {
        Some(nl) => lo + nl + 1,
        None => floor(at.saturating_sub(40)),
    };
    let end = floor(start + len);
    text[start..end]
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// The scanner's HTTP client.
pub struct Http {
    client: reqwest::Client,
    pub gate: Gate,
    max_body: usize,
    max_redirects: usize,
}

impl Http {
    pub fn new(host: &str, config: &ScanConfig) -> Result<Http, Error> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            // The certificate is judged by the TLS check; the other checks still run on a
            // site with a bad certificate.
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| Error::Config(chain(&e)))?;
        Ok(Http {
            client,
            gate: Gate::new(host, config),
            max_body: config.max_body_bytes,
            max_redirects: config.max_redirects,
        })
    }

    /// One request, no redirects followed.
    pub async fn request(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Result<Response, Error> {
        let host = url.host_str().unwrap_or_default();
        self.gate.permit(host, url.as_str()).await?;
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| Error::Http {
            url: url.to_string(),
            reason: format!("invalid method {method:?}"),
        })?;
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let request_line = format!("{method} {path} HTTP/1.1 (Host: {})", host_port(url));
        let mut req = self.client.request(m, url.clone());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        tracing::debug!(url = %url, method, "scan request");
        let http_err = |e: reqwest::Error| Error::Http {
            url: url.to_string(),
            reason: chain(&e),
        };
        let mut resp = req.send().await.map_err(http_err)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        if method != "HEAD" {
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = self.max_body - body.len();
                        if chunk.len() > room {
                            body.extend_from_slice(&chunk[..room]);
                            truncated = true;
                            break;
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    // A body cut by the server still tells us something; keep what came.
                    Err(e) => {
                        tracing::debug!(url = %url, error = %e, "body read failed");
                        break;
                    }
                }
            }
        }
        Ok(Response {
            url: url.to_string(),
            request_line,
            status,
            headers,
            body,
            truncated,
        })
    }

    pub async fn get(&self, url: &Url) -> Result<Response, Error> {
        self.request("GET", url, &[], None).await
    }

    /// GET following redirects on the target host, at most `max_redirects`, refusing
    /// loops. Returns the final response and the chain of responses before it.
    pub async fn get_following(&self, url: &Url) -> Result<(Response, Vec<Response>), Error> {
        let mut seen = vec![url.to_string()];
        let mut hops = Vec::new();
        let mut current = url.clone();
        loop {
            let resp = self.get(&current).await?;
            if !resp.is_redirect() {
                return Ok((resp, hops));
            }
            let location = resp.header("location").unwrap_or_default();
            let next = current.join(location).map_err(|e| Error::Http {
                url: current.to_string(),
                reason: format!("bad Location {location:?}: {e}"),
            })?;
            if next.host_str() != current.host_str() {
                // Leaving the host: stop here and treat the redirect as the final answer.
                return Ok((resp, hops));
            }
            if seen.contains(&next.to_string()) {
                return Err(Error::RedirectLoop {
                    url: url.to_string(),
                    again: next.to_string(),
                });
            }
            if hops.len() >= self.max_redirects {
                return Err(Error::TooManyRedirects {
                    url: url.to_string(),
                    max: self.max_redirects,
                });
            }
            seen.push(next.to_string());
            hops.push(resp);
            current = next;
        }
    }
}

/// `host:port` as used in evidence and service URLs.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// A connection timeout helper for raw TCP probes.
pub async fn timed<T>(
    d: Duration,
    addr: &str,
    what: &'static str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(d, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(Error::Io {
            addr: addr.to_string(),
            what,
            source,
        }),
        Err(_) => Err(Error::Timeout {
            addr: addr.to_string(),
            what,
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn excerpts_respect_character_boundaries() {
        let text = "あいうえお\n".repeat(100);
        for at in 0..text.len() + 3 {
            let _ = super::excerpt(&text, at, 7);
        }
        assert_eq!(super::excerpt("a\nStable tag: 1\n", 5, 13), "Stable tag: 1");
    }
}
