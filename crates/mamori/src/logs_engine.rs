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

/// Sigma rules of a hunt.
pub struct Sigma {}

#[derive(Serialize)]
pub struct Coverage {
    pub loaded: usize,
    pub failed: Vec<String>,
}

impl Coverage {
    pub fn text(&self) -> String {
        format!("{} rules loaded, {} failed", self.loaded, self.failed.len())
    }
}

impl Sigma {
    pub fn load(paths: &[PathBuf]) -> Result<Sigma> {
        if !paths.is_empty() {
            bail!("Sigma rules are not supported by this build yet");
        }
        Ok(Sigma {})
    }

    pub fn check(_paths: &[PathBuf]) -> Result<Coverage> {
        bail!("Sigma rules are not supported by this build yet")
    }

    pub fn matches(&self, _ev: &Event, _out: &mut Vec<Detection>) {}

    pub fn correlates(&self, _ev: &Event) -> bool {
        false
    }

    pub fn correlator(&self) -> Correlator {
        Correlator {}
    }
}

pub struct Correlator {}

impl Correlator {
    pub fn feed(&mut self, _ev: &Event, _out: &mut Vec<Detection>) {}
    pub fn finish(&mut self, _out: &mut Vec<Detection>) {}
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
