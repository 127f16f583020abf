//! The IDS pipeline: rules loaded once, packets from a capture file (or a live source)
//! through [`Worker`]s, findings from the behavioural detectors, and everything written as
//! EVE JSON lines.
//!
//! Reading a file uses one reader thread and `workers` inspection threads: the reader
//! sends batches of frames to the worker that owns their address pair (a symmetric hash,
//! so both directions of a flow and every fragment of a datagram meet in one worker), and
//! a collector thread writes the workers' EVE output and runs the detectors, which need to
//! see every flow of a source. Live capture and inline mode use a single worker, which
//! must answer each packet's verdict before the next.

mod buffers;
mod classtype;
mod worker;

pub use worker::{Counters, Output, Worker};

use crate::app::AppConfig;
use crate::capture::{CaptureError, CaptureReader};
use crate::decode::DefragConfig;
use crate::detect::{DetectConfig, Detectors, Finding};
use crate::eve::{AlertObject, Record, Timestamp};
use crate::flow::FlowConfig;
use crate::stream::StreamConfig;
use mamori_ids_rules::{Coverage, Engine, Parsed, Skipped, Vars};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

/// What an inline packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// Which EVE record types are written (alerts always are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EveTypes {
    pub flow: bool,
    pub http: bool,
    pub dns: bool,
    pub tls: bool,
    pub smtp: bool,
    pub ssh: bool,
    pub anomaly: bool,
}

impl Default for EveTypes {
    fn default() -> Self {
        EveTypes {
            flow: true,
            http: true,
            dns: true,
            tls: true,
            smtp: true,
            ssh: true,
            anomaly: true,
        }
    }
}

/// Settings of one pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub flow: FlowConfig,
    pub stream: StreamConfig,
    pub defrag: DefragConfig,
    pub app: AppConfig,
    pub detect: DetectConfig,
    pub eve: EveTypes,
    /// Inline (IPS) mode: `drop` and `reject` rules drop the packet and the rest of its flow.
    pub inline: bool,
    /// Payload bytes kept in an alert's evidence.
    pub payload_max: usize,
    /// Inspection threads for capture files (at least 1).
    pub workers: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            flow: FlowConfig::default(),
            stream: StreamConfig::default(),
            defrag: DefragConfig::default(),
            app: AppConfig::default(),
            detect: DetectConfig::default(),
            eve: EveTypes::default(),
            inline: false,
            payload_max: 1024,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading rules from {path}: {source}")]
    Rules {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rule variable: {0}")]
    Vars(#[from] mamori_ids_rules::Error),
    #[error("{0}")]
    Capture(#[from] CaptureError),
    #[error("writing EVE output: {0}")]
    Output(std::io::Error),
    #[error("blocklist: {0}")]
    Blocklist(#[from] crate::detect::BlocklistError),
}

/// Rules loaded from files, with what could not be loaded.
pub struct Ruleset {
    pub engine: Arc<Engine>,
    pub coverage: Coverage,
    pub skipped: Vec<Skipped>,
}

/// Parses rule files (a rule that cannot be loaded is skipped and reported, never fatal).
pub fn parse_rule_files(paths: &[PathBuf], vars: &Vars) -> Result<Parsed, Error> {
    let mut parsed = Parsed::default();
    for path in paths {
        let text = std::fs::read(path).map_err(|source| Error::Rules {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&text);
        parsed.extend(mamori_ids_rules::parse_rules(
            &text,
            &path.display().to_string(),
            vars,
        ));
    }
    Ok(parsed)
}

/// Loads rule files and builds the engine.
pub fn load_rules(paths: &[PathBuf], vars: &Vars) -> Result<Ruleset, Error> {
    let parsed = parse_rule_files(paths, vars)?;
    let coverage = Coverage::of(&parsed);
    Ok(Ruleset {
        engine: Arc::new(Engine::build(parsed.rules)),
        coverage,
        skipped: parsed.skipped,
    })
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub alerts: u64,
    pub findings: u64,
    pub eve_records: u64,
    pub flows: u64,
    pub flow_memcap_drops: u64,
    pub counters: Counters,
    /// The capture error that ended a file early (everything before it was processed).
    pub errors: Vec<String>,
    /// Alert lines (EVE) and findings, for the Mamori store.
    pub alert_lines: Vec<String>,
    pub findings_list: Vec<Finding>,
}

impl Summary {
    pub fn packets_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.packets as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A frame copied out of the capture for a worker.
struct Frame {
    cnt: u64,
    ts_us: u64,
    linktype: u32,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<Frame>,
}

const BATCH_FRAMES: usize = 256;

/// Which worker owns a frame: a symmetric hash of its IP addresses (both directions and
/// all fragments of a datagram land together).
fn dispatch(linktype: u32, data: &[u8], workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let p = crate::decode::decode(linktype, data);
    let Some(ip) = p.ip else { return 0 };
    let h = |a: std::net::IpAddr| -> u64 {
        match a {
            std::net::IpAddr::V4(v) => u64::from(u32::from(v)),
            std::net::IpAddr::V6(v) => {
                let n = u128::from(v);
                (n as u64) ^ ((n >> 64) as u64)
            }
        }
    };
    let x = h(ip.src()) ^ h(ip.dst());
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 32) % workers as u64) as usize
}

/// Reads capture files through the pipeline, writing EVE lines to `eve`.
pub fn read_files(
    files: &[PathBuf],
    engine: Arc<Engine>,
    config: PipelineConfig,
    eve: Box<dyn Write + Send>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let workers = config.workers.max(1);
    let config = Arc::new(config);
    let mut detectors = Detectors::new(&config.detect)?;
    let (out_tx, out_rx) = mpsc::sync_channel::<(Output, Option<WorkerEnd>)>(workers * 4);

    // Collector: writes EVE and runs the detectors.
    let collector = std::thread::spawn(move || collect(out_rx, eve, &mut detectors));

    let thresholds = mamori_ids_rules::Thresholds::default();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (tx, rx) = mpsc::sync_channel::<Batch>(8);
        let (engine, config, out_tx) = (engine.clone(), config.clone(), out_tx.clone());
        let thresholds = thresholds.sharing();
        senders.push(tx);
        handles.push(std::thread::spawn(move || {
            let mut worker = Worker::new(engine, config, thresholds);
            for batch in rx {
                for f in &batch.frames {
                    worker.packet(f.cnt, f.ts_us, f.linktype, &batch.data[f.start..f.end]);
                }
                let out = worker.take_output();
                if (!out.eve.is_empty() || !out.flows.is_empty())
                    && out_tx.send((out, None)).is_err()
                {
                    return;
                }
            }
            worker.finish();
            let end = WorkerEnd {
                counters: worker.counters().clone(),
                flows: worker.flow_counters(),
            };
            let _ = out_tx.send((worker.take_output(), Some(end)));
        }));
    }
    drop(out_tx);

    let mut errors = Vec::new();
    let mut batches: Vec<Batch> = (0..workers).map(|_| Batch::default()).collect();
    let mut cnt = 0u64;
    'files: for path in files {
        let mut reader = match CaptureReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => {
                    cnt += 1;
                    let w = dispatch(p.linktype, p.data, workers);
                    let b = &mut batches[w];
                    let start = b.data.len();
                    b.data.extend_from_slice(p.data);
                    b.frames.push(Frame {
                        cnt,
                        ts_us: p.ts_us,
                        linktype: p.linktype,
                        start,
                        end: b.data.len(),
                    });
                    if b.frames.len() >= BATCH_FRAMES {
                        let full = std::mem::take(b);
                        if senders[w].send(full).is_err() {
                            break 'files;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    errors.push(format!("{}: {e}", path.display()));
                    break;
                }
            }
        }
    }
    for (w, b) in batches.into_iter().enumerate() {
        if !b.frames.is_empty() {
            let _ = senders[w].send(b);
        }
    }
    drop(senders);
    for h in handles {
        let _ = h.join();
    }
    let collected = collector
        .join()
        .map_err(|_| Error::Output(std::io::Error::other("collector thread panicked")))??;
    let mut summary = collected;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.errors = errors;
    Ok(summary)
}

struct WorkerEnd {
    counters: Counters,
    flows: crate::flow::FlowCounters,
}

fn collect(
    rx: mpsc::Receiver<(Output, Option<WorkerEnd>)>,
    eve: Box<dyn Write + Send>,
    detectors: &mut Detectors,
) -> Result<Summary, Error> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, eve);
    let mut summary = Summary::default();
    let mut findings = Vec::new();
    let mut last_ts = 0u64;
    for (output, end) in rx {
        out.write_all(&output.eve).map_err(Error::Output)?;
        summary.eve_records += memchr::memchr_iter(b'\n', &output.eve).count() as u64;
        observe(detectors, &output, &mut findings);
        summary.alert_lines.extend(output.alert_lines);
        let latest = output.dns.iter().map(|d| d.0);
        let latest = latest.chain(output.flows.iter().map(|f| f.end_us)).max();
        last_ts = last_ts.max(latest.unwrap_or(0));
        summary.flows += output.flows.len() as u64;
        write_findings(&mut out, &mut findings, &mut summary)?;
        if let Some(end) = end {
            summary.counters.add(&end.counters);
            summary.flow_memcap_drops += end.flows.memcap_drops;
        }
    }
    detectors.tick(last_ts, &mut findings);
    write_findings(&mut out, &mut findings, &mut summary)?;
    summary.packets = summary.counters.packets;
    summary.bytes = summary.counters.bytes;
    summary.alerts = summary.counters.alerts;
    let stats = stats_value(&summary, detectors);
    let mut r = Record::new("stats", Timestamp(last_ts));
    r.stats = Some(&stats);
    serde_json::to_writer(&mut out, &r).map_err(|e| Error::Output(e.into()))?;
    out.write_all(b"\n").map_err(Error::Output)?;
    summary.eve_records += 1;
    out.flush().map_err(Error::Output)?;
    Ok(summary)
}

/// Hands what a worker saw (DNS queries, server names, ended flows) to the detectors.
pub fn observe(detectors: &mut Detectors, output: &Output, findings: &mut Vec<Finding>) {
    for (ts, client, name) in &output.dns {
        detectors.on_dns(*ts, *client, name, findings);
    }
    for (ts, client, server, name) in &output.names {
        detectors.on_name(*ts, *client, *server, name, findings);
    }
    for f in &output.flows {
        detectors.on_flow(f, findings);
    }
}

/// Writes findings as EVE alert records (gid 9000, Mamori's own) and keeps them.
fn write_findings(
    out: &mut impl Write,
    findings: &mut Vec<Finding>,
    summary: &mut Summary,
) -> Result<(), Error> {
    for f in findings.drain(..) {
        let line = finding_line(&f);
        out.write_all(line.as_bytes()).map_err(Error::Output)?;
        out.write_all(b"\n").map_err(Error::Output)?;
        summary.eve_records += 1;
        summary.findings += 1;
        summary.findings_list.push(f);
    }
    Ok(())
}

/// A behavioural finding as an EVE `alert` record: `gid` 9000 and a stable signature id
/// per finding code, the code and the Japanese summary under `mamori`.
pub fn finding_line(f: &Finding) -> String {
    let alert = AlertObject {
        action: "allowed",
        gid: 9000,
        signature_id: finding_sid(f.code),
        rev: 1,
        signature: f.summary_en.clone(),
        category: f.category().to_string(),
        severity: match f.severity {
            mamori_core::Severity::Critical | mamori_core::Severity::High => 1,
            mamori_core::Severity::Medium => 2,
            _ => 3,
        },
        metadata: None,
    };
    let extra = serde_json::json!({
        "code": f.code,
        "summary_ja": f.summary_ja,
        "evidence": f.evidence,
    });
    let mut r = Record::new("alert", Timestamp(f.time_us));
    r.src_ip = Some(f.src);
    r.src_port = f.src_port;
    r.dest_ip = f.dst;
    r.dest_port = f.dst_port;
    r.alert = Some(&alert);
    r.mamori = Some(&extra);
    serde_json::to_string(&r).unwrap_or_default()
}

/// Signature ids of Mamori's behavioural findings (gid 9000).
pub fn finding_sid(code: &str) -> u32 {
    match code {
        "ids.beacon" => 1,
        "ids.port_scan" => 2,
        "ids.host_scan" => 3,
        "ids.scan_sequential" => 4,
        "ids.brute_force" => 5,
        "ids.exfiltration" => 6,
        "ids.blocklist_ip" => 7,
        "ids.blocklist_domain" => 8,
        _ => 99,
    }
}

fn stats_value(s: &Summary, detectors: &Detectors) -> serde_json::Value {
    let c = &s.counters;
    serde_json::json!({
        "decoder": {
            "pkts": c.packets, "bytes": c.bytes, "ipv4": c.ipv4, "ipv6": c.ipv6,
            "tcp": c.tcp, "udp": c.udp, "icmpv4": c.icmp,
            "event": c.anomalies,
        },
        "flow": { "total": s.flows, "memcap": s.flow_memcap_drops },
        "app_layer": { "flow": c.app_flows, "error": c.app_errors },
        "detect": { "alert": c.alerts, "findings": s.findings },
        "ips": { "dropped": c.dropped },
        "mamori_detect": serde_json::to_value(detectors.stats()).unwrap_or_default(),
    })
}

/// Reads one file with the rules in `rule_files`; a convenience for tests.
pub fn read_file(
    file: &Path,
    engine: Arc<Engine>,
    config: PipelineConfig,
    eve: Box<dyn Write + Send>,
) -> Result<Summary, Error> {
    read_files(&[file.to_path_buf()], engine, config, eve)
}
