//! Sigma speed check: loads every SigmaHQ rule under `../shared/testdata/logs/rules*`, reads
//! every EVTX of `../shared/testdata/logs/evtx-attack-samples` (or the paths given on the
//! command line), matches and correlates, and prints rules loaded, events, events/s and
//! detections. Run with `cargo run --release -p mamori-logs --example sigma_speed [-- PATH...]`.
//!
//! Files are spread over worker threads (`MAMORI_THREADS`, default: available cores), each
//! reading and matching its own files; correlations then run over the time-sorted matches on
//! one thread, as the CLI does. Reading alone is timed first to split the cost.

use mamori_logs::sigma::{Correlator, RuleMatch, RuleSet};
use mamori_logs::Event;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        {
            out.push(p);
        }
    }
}

/// CPU seconds used by this process so far (all threads), from `/proc/self/stat`; the machine
/// is shared, so CPU time says more about our cost than wall time. `None` off Linux.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (clock ticks, 100 Hz).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds this thread has run, from `/proc/thread-self/schedstat` (nanoseconds).
fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn main() {
    let base = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/logs"
    ));
    let mut rule_dirs: Vec<PathBuf> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
        })
        .collect();
    rule_dirs.sort();
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let mut files = Vec::new();
    if args.is_empty() {
        walk(&base.join("evtx-attack-samples"), &mut files);
    } else {
        for a in &args {
            if a.is_dir() {
                walk(a, &mut files);
            } else {
                files.push(a.clone());
            }
        }
    }
    if files.is_empty() || rule_dirs.is_empty() {
        eprintln!(
            "note: no EVTX or rules under {}; nothing to measure",
            base.display()
        );
        return;
    }
    files.sort();
    let threads: usize = std::env::var("MAMORI_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

    let t = Instant::now();
    let (rules, errors) = RuleSet::load(&rule_dirs);
    println!(
        "rules loaded: {} ({} failed, {} correlations/aggregations) in {:.2}s",
        rules.len(),
        errors.len(),
        rules.correlation_count(),
        t.elapsed().as_secs_f64()
    );

    // Reading alone, then matching alone, single thread (best of 3 passes each: the machine
    // is shared and the sample set small).
    let mut read_s = f64::MAX;
    let mut read_cpu = f64::MAX;
    let mut all: Vec<Event> = Vec::new();
    for _ in 0..3 {
        all.clear();
        let t = Instant::now();
        let c0 = thread_cpu_secs();
        for f in &files {
            let _ = mamori_logs::reader::evtx::read(f, &mut |r| {
                if let Ok(ev) = r {
                    all.push(ev);
                }
            });
        }
        read_s = read_s.min(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, thread_cpu_secs()) {
            read_cpu = read_cpu.min(b - a);
        }
    }
    println!(
        "read only (1 thread): {} events in {read_s:.3}s = {:.0} events/s wall, {:.0} per CPU-second",
        all.len(),
        all.len() as f64 / read_s,
        all.len() as f64 / read_cpu
    );
    let mut match_s = f64::MAX;
    let mut match_cpu = f64::MAX;
    let mut n_hits = 0;
    // MAMORI_MATCH_PASSES: more passes for profiling the matcher alone.
    let passes: usize = std::env::var("MAMORI_MATCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for _ in 0..passes {
        let t = Instant::now();
        let c0 = thread_cpu_secs();
        let mut m = Vec::new();
        n_hits = 0;
        for ev in &all {
            m.clear();
            rules.matches(ev, &mut m);
            n_hits += m.len();
        }
        match_s = match_s.min(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, thread_cpu_secs()) {
            match_cpu = match_cpu.min(b - a);
        }
    }
    println!(
        "match only (1 thread): {} events in {match_s:.3}s = {:.0} events/s wall, {:.0} per \
         CPU-second ({n_hits} matches)",
        all.len(),
        all.len() as f64 / match_s,
        all.len() as f64 / match_cpu
    );
    println!(
        "read + match (1 thread, CPU): {:.0} events per CPU-second",
        all.len() as f64 / (read_cpu + match_cpu)
    );
    drop(all);

    for threads in [1, threads] {
        let t = Instant::now();
        let cpu0 = cpu_secs();
        let next = AtomicUsize::new(0);
        let hits: Mutex<Vec<(Event, Vec<RuleMatch>)>> = Mutex::new(Vec::new());
        let events = AtomicUsize::new(0);
        let read_errors = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut local = Vec::new();
                    let mut m = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        let _ = mamori_logs::reader::evtx::read(f, &mut |r| match r {
                            Ok(ev) => {
                                events.fetch_add(1, Ordering::Relaxed);
                                m.clear();
                                rules.matches(&ev, &mut m);
                                if !m.is_empty() {
                                    local.push((ev, m.clone()));
                                }
                            }
                            Err(_) => {
                                read_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    if let Ok(mut h) = hits.lock() {
                        h.append(&mut local);
                    }
                });
            }
        });
        let match_s = t.elapsed().as_secs_f64();
        let mut hits = hits.into_inner().unwrap_or_default();
        hits.sort_by_key(|(e, _)| e.timestamp);
        let mut corr = Correlator::new(&rules);
        let mut dets = Vec::new();
        for (ev, ms) in &hits {
            for m in ms {
                if rules.emits(m) {
                    dets.push(rules.detection(m, ev));
                }
                corr.feed(m, ev, &mut dets);
            }
        }
        corr.finish(&mut dets);
        let total_s = t.elapsed().as_secs_f64();
        let cpu = match (cpu0, cpu_secs()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => total_s,
        };
        let n = events.load(Ordering::Relaxed);
        println!(
            "{threads} thread(s): {n} events ({} read errors), {} files, {:.2}s = {:.0} events/s \
             wall, {:.2} CPU-s = {:.0} events per CPU-second (read+match phase {:.2}s); \
             detections: {}",
            read_errors.load(Ordering::Relaxed),
            files.len(),
            total_s,
            n as f64 / total_s,
            cpu,
            n as f64 / cpu,
            match_s,
            dets.len()
        );
        if threads > 1 || std::env::var("MAMORI_VERBOSE").is_ok() {
            let mut by_level: BTreeMap<&str, usize> = BTreeMap::new();
            let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
            for d in &dets {
                *by_level.entry(d.level.as_str()).or_default() += 1;
                *by_rule.entry(d.rule_title.as_str()).or_default() += 1;
            }
            println!("by level: {by_level:?}");
            // MAMORI_SHOW=<title fragment>: print those detections' details.
            if let Ok(show) = std::env::var("MAMORI_SHOW") {
                for d in dets
                    .iter()
                    .filter(|d| d.rule_title.contains(&show))
                    .take(20)
                {
                    println!(
                        "  {} | {:?} {:?} {:?} | {}",
                        d.rule_title, d.channel, d.event_id, d.file, d.details
                    );
                }
            }
            let mut top: Vec<_> = by_rule.into_iter().collect();
            top.sort_by_key(|t| std::cmp::Reverse(t.1));
            let shown: usize = std::env::var("MAMORI_TOP")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5);
            for (r, n) in top.iter().take(shown) {
                println!("  {n:6}  {r}");
            }
        }
    }
}
