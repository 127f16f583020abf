//! The proxy's side of the rule engine: one [`Inspection`] per request, fed from hyper's
//! request and response parts.

use crate::audit::RuleHit;
use crate::engine::{RuleSet, Transaction};
use crate::proxy::config::Mode;
use crate::request::RequestHead;
use std::net::SocketAddr;

/// The rules asked to stop the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub status: u16,
    pub rule_id: Option<u32>,
    pub redirect: Option<String>,
}

/// What the rules concluded about a finished request.
#[derive(Debug, Default)]
pub struct Findings {
    pub hits: Vec<RuleHit>,
    pub inbound_score: i64,
    pub outbound_score: i64,
    /// The rules would have stopped the request (also in DetectionOnly).
    pub would_block: bool,
}

/// The rule set the proxy runs (shared by all sites).
pub struct Rules(RuleSet);

impl Rules {
    /// Loads the rule set, with `before` (rule exclusions) ahead of the rules.
    pub fn load(path: &std::path::Path, before: &str) -> Result<Rules, String> {
        let rs = RuleSet::load_with(path, before, "").map_err(|e| e.to_string())?;
        if !rs.inert_operators.is_empty() {
            tracing::info!(operators = ?rs.inert_operators, "operators that need outside services never match here");
        }
        Ok(Rules(rs))
    }

    pub fn from_ruleset(rs: RuleSet) -> Rules {
        Rules(rs)
    }

    pub fn rule_count(&self) -> usize {
        self.0.rule_count()
    }

    /// Rules whose outcome is settled at load (see `RuleSet::settled_count`).
    pub fn settled_count(&self) -> usize {
        self.0.settled_count()
    }

    /// Rules replayed while a request leaves what they read alone (see
    /// `RuleSet::replayed_count`).
    pub fn replayed_count(&self) -> usize {
        self.0.replayed_count()
    }
}

/// The request line and headers the rules see.
pub struct Head<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub protocol: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub client: SocketAddr,
    pub server: SocketAddr,
}

pub struct Inspection<'r> {
    /// Boxed: a transaction is about 1.5 KB, and the request's future, which holds the
    /// inspection, is moved as a whole.
    tx: Option<Box<Transaction<'r>>>,
}

fn pairs(headers: &hyper::HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn stop(i: Option<crate::engine::Intervention>) -> Option<Stop> {
    i.map(|i| Stop {
        status: i.status,
        rule_id: i.rule_id,
        redirect: i.redirect,
    })
}

impl<'r> Inspection<'r> {
    pub fn start(rules: Option<&'r Rules>, mode: Mode, head: &Head<'_>) -> Inspection<'r> {
        if mode == Mode::Off {
            return Inspection { tx: None };
        }
        let tx = rules.map(|r| {
            let mut tx = r.0.transaction(RequestHead {
                method: head.method.to_string(),
                target: head.target.to_string(),
                protocol: head.protocol.to_string(),
                headers: pairs(head.headers),
                remote: head.client,
                server: head.server,
            });
            if mode == Mode::DetectionOnly {
                tx.force_detection_only();
            }
            Box::new(tx)
        });
        Inspection { tx }
    }

    pub fn request_headers(&mut self) -> Option<Stop> {
        stop(self.tx.as_mut()?.process_request_headers())
    }

    pub fn request_body(&mut self, prefix: &[u8]) -> Option<Stop> {
        let tx = self.tx.as_mut()?;
        tx.append_request_body(prefix);
        stop(tx.process_request_body())
    }

    pub fn response_headers(&mut self, status: u16, headers: &hyper::HeaderMap) -> Option<Stop> {
        stop(
            self.tx
                .as_mut()?
                .process_response_headers(status, &pairs(headers)),
        )
    }

    /// Whether the rules read response bodies of this content type.
    pub fn wants_response_body(&self, _content_type: &str) -> bool {
        self.tx.as_ref().is_some_and(|t| t.wants_response_body())
    }

    pub fn response_body(&mut self, prefix: &[u8]) -> Option<Stop> {
        let tx = self.tx.as_mut()?;
        tx.append_response_body(prefix);
        stop(tx.process_response_body())
    }

    pub fn finish(self) -> Findings {
        let Some(tx) = self.tx else {
            return Findings::default();
        };
        let audit = tx.finish();
        Findings {
            hits: audit
                .matched
                .iter()
                .map(|m| RuleHit {
                    id: m.id,
                    msg: m.msg.clone(),
                    data: m.logdata.clone(),
                    severity: m.severity_name().to_string(),
                    tags: m.tags.clone(),
                    matched_var: m.matched_var.clone(),
                    matched_value: m.matched_value.clone(),
                })
                .collect(),
            inbound_score: audit.inbound_score,
            outbound_score: audit.outbound_score,
            would_block: audit.intervention.is_some(),
        }
    }
}
