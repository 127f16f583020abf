//! Upstreams: the web servers behind a site, picked round-robin among the healthy ones, with a
//! background health check per upstream.
//!
//! An upstream is marked down when a health check or a proxied request cannot connect, and up
//! again when a health check gets any answer below 500. When every upstream is down, requests
//! still try the first one (a check can be wrong) and get a 502 page if it fails too.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One web server: scheme, authority and an optional path prefix.
#[derive(Debug)]
pub struct Upstream {
    pub authority: hyper::http::uri::Authority,
    /// Path prefix prepended to every request path (`http://host/app` → `/app`).
    pub prefix: String,
    healthy: AtomicBool,
}

impl Upstream {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn set_healthy(&self, up: bool) {
        if self.healthy.swap(up, Ordering::Relaxed) != up {
            tracing::info!(upstream = %self.authority, up, "upstream health changed");
        }
    }

    /// `path_and_query` under the upstream's path prefix.
    fn prefixed<'a>(&self, path_and_query: &'a str) -> std::borrow::Cow<'a, str> {
        if self.prefix.is_empty() {
            path_and_query.into()
        } else {
            format!("{}{}", self.prefix, path_and_query).into()
        }
    }

    /// `path_and_query` as the target of a request to this upstream (origin form, with
    /// the upstream's path prefix).
    pub fn origin_form(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .path_and_query(self.prefixed(path_and_query).as_ref())
            .build()
    }

    /// The URI of `path_and_query` on this upstream.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(self.prefixed(path_and_query).as_ref())
            .build()
    }
}

/// Parses `http://HOST:PORT[/prefix]` (https upstreams are not supported: the proxy sits in
/// front of a server on the company's own network).
pub fn parse_upstream(s: &str) -> Result<Upstream, String> {
    let uri: Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "{s:?}: scheme {other} not supported (use http://HOST:PORT)"
            ))
        }
        None => return Err(format!("{s:?}: expected http://HOST:PORT")),
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{s:?}: no host"))?;
    let prefix = uri.path().trim_end_matches('/').to_string();
    Ok(Upstream {
        authority,
        prefix,
        healthy: AtomicBool::new(true),
    })
}

/// The upstreams of one site.
#[derive(Debug)]
pub struct Pool {
    pub upstreams: Vec<Arc<Upstream>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(urls: &[String]) -> Result<Pool, String> {
        let upstreams = urls
            .iter()
            .map(|u| parse_upstream(u).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if upstreams.is_empty() {
            return Err("no upstream".into());
        }
        Ok(Pool {
            upstreams,
            next: AtomicUsize::new(0),
        })
    }

    /// The next healthy upstream, round-robin; the first one when none is healthy.
    pub fn pick(&self) -> Arc<Upstream> {
        let n = self.upstreams.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let u = &self.upstreams[(start + i) % n];
            if u.is_healthy() {
                return u.clone();
            }
        }
        self.upstreams[start % n].clone()
    }

    /// Checks every upstream every `interval` until the returned task is aborted.
    pub fn spawn_health_checks(
        self: &Arc<Self>,
        path: String,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let pool = self.clone();
        tokio::spawn(async move {
            let client: Client<HttpConnector, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build(HttpConnector::new());
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                for u in &pool.upstreams {
                    let up = match u.uri(&path) {
                        Ok(uri) => {
                            let req = hyper::Request::get(uri)
                                .header("user-agent", "mamori-waf-health")
                                .body(Empty::new());
                            match req {
                                Ok(req) => matches!(
                                    tokio::time::timeout(interval.max(Duration::from_secs(1)), client.request(req)).await,
                                    Ok(Ok(resp)) if resp.status().as_u16() < 500
                                ),
                                Err(_) => false,
                            }
                        }
                        Err(_) => false,
                    };
                    u.set_healthy(up);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_url_keeps_its_path_prefix() {
        let u = parse_upstream("http://127.0.0.1:9000/app/").unwrap();
        assert_eq!(
            u.uri("/x?y=1").unwrap().to_string(),
            "http://127.0.0.1:9000/app/x?y=1"
        );
        assert!(parse_upstream("https://a.example").is_err());
        assert!(parse_upstream("nonsense url").is_err());
    }

    #[test]
    fn round_robin_skips_unhealthy_upstreams() {
        let pool = Pool::new(&["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()]).unwrap();
        pool.upstreams[0].set_healthy(false);
        for _ in 0..4 {
            assert_eq!(pool.pick().authority.port_u16(), Some(2));
        }
        pool.upstreams[1].set_healthy(false);
        // None healthy: still try one rather than refuse outright.
        let _ = pool.pick();
    }
}
