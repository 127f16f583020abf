//! The hunt's connection to the log engine: file readers, Sigma rules, built-in analytics.

use anyhow::{bail, Result};
use mamori_logs::reader::{ReadError, Sink};
use mamori_logs::{Detection, Event};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Reads a file with the reader its name and first lines say (EVTX, Windows XML/JSON,
/// syslog and the programs in it, web access logs, Squid, JSON lines; `.gz` too).
pub fn read_file(path: &Path, sink: &mut Sink<'_>) -> Result<u64, ReadError> {
    mamori_logs::reader::read_file(path, None, sink)
}

/// Sigma rules of a hunt (`mamori_logs::sigma`): plain rules are matched as events are
/// read (on every thread); rules that feed correlations are matched again in the
/// time-ordered pass.
pub struct Sigma {
    rs: Option<mamori_logs::sigma::RuleSet>,
}

/// What `rules check` prints.
#[derive(Serialize)]
pub struct Coverage {
    #[serde(flatten)]
    pub coverage: mamori_logs::sigma::Coverage,
    pub errors: Vec<String>,
}

impl Coverage {
    pub fn text(&self) -> String {
        let c = &self.coverage;
        let mut out = format!(
            "{} files: {} rules loaded, {} failed; {} correlations ({} failed)\n",
            c.files, c.rules_loaded, c.rules_failed, c.correlations_loaded, c.correlations_failed
        );
        for (reason, n) in &c.failed_by_reason {
            out.push_str(&format!("  failed {n:>5}  {reason}\n"));
        }
        for (src, n) in &c.unmapped_logsource {
            out.push_str(&format!("  no channel mapping {n:>5}  {src}\n"));
        }
        out.push_str(&format!(
            "non-Windows rules {}, old aggregations {}, expand placeholders {}, without prefilter literal {}\n",
            c.non_windows, c.aggregations, c.expand_placeholders, c.without_prefilter
        ));
        for e in self.errors.iter().take(50) {
            out.push_str(&format!("  {e}\n"));
        }
        out
    }
}

fn load_rules(paths: &[PathBuf]) -> (mamori_logs::sigma::RuleSet, Vec<String>) {
    let (rs, errors) = mamori_logs::sigma::RuleSet::load(paths);
    let errors = errors
        .iter()
        .map(|e| format!("{} (document {}): {}", e.file.display(), e.doc, e.reason))
        .collect();
    (rs, errors)
}

impl Sigma {
    pub fn load(paths: &[PathBuf]) -> Result<Sigma> {
        if paths.is_empty() {
            return Ok(Sigma { rs: None });
        }
        let (rs, errors) = load_rules(paths);
        if rs.is_empty() {
            bail!(
                "no Sigma rule loaded from {paths:?} ({} errors)",
                errors.len()
            );
        }
        if !errors.is_empty() {
            tracing::warn!(
                loaded = rs.len(),
                failed = errors.len(),
                "some Sigma rules did not load (mamori logs rules check lists them)"
            );
        }
        eprintln!("{} Sigma rules loaded", rs.len());
        Ok(Sigma { rs: Some(rs) })
    }

    pub fn check(paths: &[PathBuf]) -> Result<Coverage> {
        let (rs, errors) = load_rules(paths);
        Ok(Coverage {
            coverage: rs.coverage().clone(),
            errors,
        })
    }

    /// Plain detections for one event (stateless; any thread).
    pub fn matches(&self, ev: &Event, out: &mut Vec<Detection>) {
        let Some(rs) = &self.rs else { return };
        let mut ms = Vec::new();
        rs.matches(ev, &mut ms);
        for m in &ms {
            if rs.emits(m) {
                out.push(rs.detection(m, ev));
            }
        }
    }

    /// Whether the time-ordered pass must see this event (it matches a rule a correlation uses).
    pub fn correlates(&self, ev: &Event) -> bool {
        let Some(rs) = &self.rs else { return false };
        if rs.correlation_count() == 0 {
            return false;
        }
        let mut ms = Vec::new();
        rs.matches(ev, &mut ms);
        !ms.is_empty()
    }

    pub fn correlator(&self) -> Correlator<'_> {
        Correlator {
            inner: self
                .rs
                .as_ref()
                .map(|rs| (rs, mamori_logs::sigma::Correlator::new(rs))),
        }
    }
}

/// Correlation rules over the time-ordered events.
pub struct Correlator<'r> {
    inner: Option<(
        &'r mamori_logs::sigma::RuleSet,
        mamori_logs::sigma::Correlator<'r>,
    )>,
}

impl Correlator<'_> {
    pub fn feed(&mut self, ev: &Event, out: &mut Vec<Detection>) {
        let Some((rs, c)) = &mut self.inner else {
            return;
        };
        if rs.correlation_count() == 0 {
            return;
        }
        let mut ms = Vec::new();
        rs.matches(ev, &mut ms);
        for m in &ms {
            c.feed(m, ev, out);
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        if let Some((_, c)) = &mut self.inner {
            c.finish(out);
        }
    }
}

/// The built-in analytics (`mamori_logs::analytics`) with their default settings.
pub struct Analytics(mamori_logs::analytics::Analytics);

impl Analytics {
    pub fn new() -> Analytics {
        Analytics(mamori_logs::analytics::Analytics::new(
            &mamori_logs::analytics::AnalyticsConfig::default(),
        ))
    }
    pub fn wants(&self, ev: &Event) -> bool {
        self.0.wants(ev)
    }
    pub fn process(&mut self, ev: &Event, out: &mut Vec<Detection>) {
        self.0.process(ev, out)
    }
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        self.0.finish(out)
    }
}
