//! The proxy's side of the rule engine: one [`Inspection`] per request, fed from hyper's
//! request and response parts.

use crate::audit::RuleHit;
use crate::proxy::config::Mode;
use crate::rules::{EngineMode, RuleSet, Transaction};
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
    tx: Option<Transaction<'r>>,
}

fn pairs(headers: &hyper::HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn stop(i: Option<crate::rules::Intervention>) -> Option<Stop> {
    i.map(|i| Stop {
        status: i.status,
        rule_id: Some(i.rule_id),
        redirect: i.redirect,
    })
}

impl<'r> Inspection<'r> {
    pub fn start(rules: Option<&'r Rules>, mode: Mode, head: &Head<'_>) -> Inspection<'r> {
        let tx = rules.map(|r| {
            let mut tx = r.0.transaction(
                head.method,
                head.target,
                head.protocol,
                pairs(head.headers),
                head.client,
                head.server,
            );
            match mode {
                Mode::DetectionOnly => tx.mode = EngineMode::DetectionOnly,
                Mode::Off => tx.mode = EngineMode::Off,
                Mode::On => {}
            }
            tx
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
                .process_response_headers(status, pairs(headers)),
        )
    }

    /// Whether the rules read response bodies of this content type.
    pub fn wants_response_body(&self, content_type: &str) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|t| t.wants_response_body(content_type))
    }

    pub fn response_body(&mut self, prefix: &[u8]) -> Option<Stop> {
        stop(self.tx.as_mut()?.process_response_body(prefix))
    }

    pub fn finish(self) -> Findings {
        let Some(tx) = self.tx else {
            return Findings::default();
        };
        let (hits, intervention, vars) = tx.finish();
        let score = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| vars.get(*n))
                .map(|v| crate::rules::operator::to_int(v))
                .unwrap_or(0)
        };
        Findings {
            hits: hits
                .into_iter()
                .map(|h| RuleHit {
                    id: h.id,
                    msg: h.msg,
                    data: h.data,
                    severity: h.severity,
                    tags: h.tags,
                    matched_var: h.matched_var,
                    matched_value: h.matched_value,
                })
                .collect(),
            inbound_score: score(&[
                "blocking_inbound_anomaly_score",
                "inbound_anomaly_score",
                "anomaly_score",
            ]),
            outbound_score: score(&["blocking_outbound_anomaly_score", "outbound_anomaly_score"]),
            would_block: intervention.is_some(),
        }
    }
}
