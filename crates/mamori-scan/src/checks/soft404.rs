//! Soft-404 detection: many sites answer every unknown path with a 200 page. Before probing
//! for files we fetch two random paths and remember what "not found" looks like; a probe
//! answer that looks the same produces no finding.

use crate::http::Response;
use sha2::{Digest, Sha256};

/// What the site answers for paths that do not exist.
#[derive(Debug, Clone, Default)]
pub struct NotFoundProfile {
    samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    status: u16,
    len: usize,
    hash: [u8; 32],
}

/// A random path that no site has: `/mamori-404-<hex>`.
pub fn random_path() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("/mamori-404-{:016x}", RandomState::new().hash_one(0u8))
}

/// The body with the requested path (which error pages often echo) removed.
fn normalise(body: &[u8], path: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let name = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    text.replace(path, "").replace(name, "").into_bytes()
}

fn hash(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl NotFoundProfile {
    pub fn add(&mut self, resp: &Response, path: &str) {
        let body = normalise(&resp.body, path);
        self.samples.push(Sample {
            status: resp.status,
            len: body.len(),
            hash: hash(&body),
        });
    }

    /// Whether the site answers unknown paths with a success page.
    pub fn is_catch_all(&self) -> bool {
        self.samples.iter().any(|s| (200..300).contains(&s.status))
    }

    /// Whether `resp` (for `path`) looks like the site's "not found" answer: same status
    /// and the same body, or a body of nearly the same length.
    pub fn matches(&self, resp: &Response, path: &str) -> bool {
        let body = normalise(&resp.body, path);
        let h = hash(&body);
        self.samples.iter().any(|s| {
            if s.status != resp.status {
                return false;
            }
            if s.hash == h {
                return true;
            }
            let diff = s.len.abs_diff(body.len());
            diff <= 32.max(s.len / 20)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            url: String::new(),
            request_line: String::new(),
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn echoed_paths_still_match_and_real_files_do_not() {
        let mut p = NotFoundProfile::default();
        let page = |path: &str| {
            format!(
                "<html><body>Welcome! {} {}</body></html>",
                "x".repeat(2000),
                path
            )
        };
        p.add(&resp(200, &page("/mamori-404-aa")), "/mamori-404-aa");
        assert!(p.is_catch_all());
        assert!(p.matches(&resp(200, &page("/.env")), "/.env"));
        assert!(!p.matches(&resp(200, "DB_PASSWORD=x\nAPP_KEY=y\n"), "/.env"));
        assert!(!p.matches(&resp(404, &page("/.env")), "/.env"));
    }
}
