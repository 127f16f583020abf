//! Sigma engine: loads SigmaHQ-format rules (detection rules, the old `| count()` aggregation,
//! and correlation rules) and tests normalized [`Event`]s against them.
//!
//! ## API
//!
//! ```ignore
//! let (rules, errors) = sigma::RuleSet::load(&[PathBuf::from("rules/")]); // files or dirs
//! for e in &errors { eprintln!("{e}") }                  // file, document, reason; rule skipped
//! println!("{}", serde_json::to_string(rules.coverage())?); // `mamori logs rules check`
//! let mut corr = sigma::Correlator::new(&rules);
//! let (mut hits, mut dets) = (Vec::new(), Vec::new());
//! for ev in events_in_time_order {
//!     hits.clear();
//!     rules.matches(&ev, &mut hits);            // stateless, &self, usable from many threads
//!     for m in &hits {
//!         if rules.emits(m) { dets.push(rules.detection(m, &ev)); }
//!         corr.feed(m, &ev, &mut dets);         // correlations and aggregations
//!     }
//! }
//! corr.finish(&mut dets);
//! ```
//!
//! - [`RuleSet::load`]`(paths) -> (RuleSet, Vec<LoadError>)`; [`RuleSet::from_sources`] for
//!   rule text already in memory.
//! - [`RuleSet::matches`]`(&self, &Event, &mut Vec<RuleMatch>)`: stateless; `RuleSet` is
//!   `Send + Sync`.
//! - [`RuleSet::emits`]: whether a match is reported on its own (a rule referenced only by
//!   correlations without `generate: true`, or a rule with an aggregation, is not).
//! - [`RuleSet::detection`]`(&RuleMatch, &Event) -> Detection`: `rule_id` is the Sigma `id`,
//!   `details` lists the fields the rule tests as `Field: value ¦ ...` (like Hayabusa).
//! - [`Correlator`]: `new(&RuleSet)`, `feed(&RuleMatch, &Event, &mut Vec<Detection>)` in
//!   timestamp order, `finish(&mut Vec<Detection>)`. Its detections list the records they
//!   cover (first [`correlation::MAX_RECORDS`]).
//! - [`RuleSet::coverage`]: rules loaded/failed by reason, by logsource, correlations.
//!
//! ## How an event is matched
//!
//! Each rule's `logsource` names the Windows channels and event ids it applies to
//! (`logsource.rs`), refined by the `EventID` values its detection requires; rules are indexed
//! by (channel, event id), so an event is only tried against rules that can match it. Each
//! rule also has a set of literals one of which must appear in any event it matches (derived
//! from its condition); one Aho-Corasick pass over the event's lowercased values finds which
//! rules are still possible. Values are lowercased once per event; field names are interned
//! at load time and looked up once per event (case-insensitively, ignoring spaces: Defender
//! logs `Threat Name`, rules say `ThreatName`). Per-thread scratch buffers make matching
//! allocation-free in the steady state.
//!
//! Field names follow `event.rs`. Security 4688 events also answer to the Sysmon names
//! process-creation rules use (`Image` ← `NewProcessName`, `ParentImage` ←
//! `ParentProcessName`); text-log events answer to Sigma's web/proxy taxonomy (`cs-uri-query`,
//! `c-useragent`, `sc-status`... ← `uri`, `user_agent`, `status`). Windows rules apply to
//! Windows events only, and non-Windows rules only to the readers producing that kind of log
//! (webserver → access logs, proxy → Squid, linux → syslog/auth, cloud → JSON lines).
//!
//! Case: strings compare case-insensitively (Unicode lowercase on both sides) unless `cased`;
//! `re` is case-sensitive unless `re|i`, as the Sigma specification says.
//!
//! Not supported (the rule fails to load, with the reason): regexes using PCRE-only syntax,
//! `N of` with N > 1, `near` aggregations, rule collections (`action:`), meta filters,
//! correlations of correlations, YAML anchors/aliases. `expand` placeholders have no values and
//! never match (counted in the coverage report).

pub mod correlation;

mod condition;
mod index;
mod logsource;
mod matching;
mod rule;
mod value;

pub use correlation::Correlator;

use crate::detection::{Detection, Level, RecordRef};
use crate::event::{Event, SourceKind};
use aho_corasick::AhoCorasick;
use index::Bucket;
use matching::{Scratch, SCRATCH};
use rule::{CorrKind, CorrelationDef, CountCond, Doc, FnvBuild, Interner, Rule};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest rule file read (SigmaHQ's biggest are ~50 KiB).
const MAX_RULE_FILE: u64 = 4 << 20;
/// Field values shown in a detection's details.
const DETAIL_FIELDS: usize = 8;
const DETAIL_VALUE_CHARS: usize = 120;

/// A rule document that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: document {doc}: {reason}", file.display())]
pub struct LoadError {
    pub file: PathBuf,
    /// 1-based YAML document number in the file.
    pub doc: usize,
    pub reason: String,
}

/// A rule that matched an event (see [`RuleSet::detection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleMatch {
    /// Index of the rule in its [`RuleSet`].
    pub rule: usize,
}

/// What `mamori logs rules check DIR` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    pub files: usize,
    pub rules_loaded: usize,
    pub rules_failed: usize,
    /// Failure reasons, grouped.
    pub failed_by_reason: BTreeMap<String, usize>,
    /// Loaded rules by `status` (`stable`, `test`, `experimental`...).
    pub by_status: BTreeMap<String, usize>,
    /// Loaded rules by `product/category/service`.
    pub by_logsource: BTreeMap<String, usize>,
    /// Loaded Windows rules whose log source has no channel mapping (they never match EVTX).
    pub unmapped_logsource: BTreeMap<String, usize>,
    /// Rules for non-Windows log sources (tried on the matching text readers' events).
    pub non_windows: usize,
    /// Rules using the old `| count()` aggregation.
    pub aggregations: usize,
    pub correlations_loaded: usize,
    pub correlations_by_type: BTreeMap<String, usize>,
    pub correlations_failed: usize,
    /// Rules that rely on `expand` placeholders (which never match here).
    pub expand_placeholders: usize,
    /// Rules with no literal for the Aho-Corasick prefilter (tried on every event they could
    /// apply to), and the number of distinct prefilter literals.
    pub without_prefilter: usize,
    pub prefilter_literals: usize,
}

/// A correlation with its references resolved to rule indexes.
#[derive(Debug, Clone)]
pub(crate) struct Correlation {
    pub meta: rule::Meta,
    pub kind: CorrKind,
    pub rules: Vec<usize>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub cond: Option<CountCond>,
    pub field: Option<String>,
    /// alias → field name per referenced rule index.
    pub aliases: Vec<(String, Vec<(usize, String)>)>,
}

/// A compiled, indexed set of Sigma rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    emit: Vec<bool>,
    /// Rules with no prefilter literal (always tried).
    always: Vec<bool>,
    /// Estimated cost of trying each rule (see [`rule_cost`]).
    cost: Vec<u32>,
    fields: Interner,
    channels: HashMap<String, Bucket, FnvBuild>,
    any_windows: Bucket,
    /// Non-Windows rules by the reader whose events they apply to.
    non_windows: HashMap<SourceKind, Vec<u32>>,
    ac: Option<AhoCorasick>,
    atom_rules: Vec<Vec<u32>>,
    /// (field id of the Sigma name, Security 4688 field name).
    aliases_4688: Vec<(usize, String)>,
    /// (field id of a Sigma taxonomy name, our text-log names), for events without a channel.
    aliases_text: Vec<(usize, &'static [&'static str])>,
    pub(crate) correlations: Vec<Correlation>,
    coverage: Coverage,
}

/// Groups failure reasons into a few readable classes for the coverage report.
fn reason_class(reason: &str) -> String {
    let r = reason.to_ascii_lowercase();
    let class = if r.contains("regex") {
        "regex not supported by the regex crate"
    } else if r.contains("unknown modifier") {
        "unknown modifier"
    } else if r.contains("aggregation") {
        "unsupported aggregation"
    } else if r.contains("correlation") {
        "unsupported or unresolved correlation"
    } else if r.contains("yaml") {
        "YAML syntax"
    } else if r.contains("not supported") {
        "unsupported feature"
    } else {
        "invalid rule"
    };
    class.to_string()
}

/// Whether YAML text uses aliases. The YAML loader copies the anchored node for each alias, so
/// nested aliases ("billion laughs") could exhaust memory; Sigma rules never need them. An
/// alias needs an anchor (`&name`), so text without `&` is skipped cheaply.
fn uses_yaml_aliases(text: &str) -> bool {
    if !text.contains('&') {
        return false;
    }
    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((yaml_rust2::parser::Event::Alias(_), _)) => return true,
            Ok((yaml_rust2::parser::Event::StreamEnd, _)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

fn walk(path: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    if path.is_dir() {
        let Ok(rd) = std::fs::read_dir(path) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            walk(&p, out, depth + 1);
        }
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
    {
        out.push(path.to_path_buf());
    }
}

impl RuleSet {
    /// Loads every `.yml`/`.yaml` file under `paths` (files or directories, recursively).
    pub fn load(paths: &[PathBuf]) -> (RuleSet, Vec<LoadError>) {
        let mut files = Vec::new();
        for p in paths {
            if p.is_file() {
                files.push(p.clone());
            } else {
                walk(p, &mut files, 0);
            }
        }
        let mut errors = Vec::new();
        let mut sources = Vec::with_capacity(files.len());
        for f in files {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if size > MAX_RULE_FILE {
                errors.push(LoadError {
                    file: f,
                    doc: 0,
                    reason: format!("file too large ({size} bytes)"),
                });
                continue;
            }
            match std::fs::read_to_string(&f) {
                Ok(t) => sources.push((f, t)),
                Err(e) => errors.push(LoadError {
                    file: f,
                    doc: 0,
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
        let (set, mut more) = RuleSet::from_sources(&sources);
        errors.append(&mut more);
        (set, errors)
    }

    /// Compiles rule files already read: `(path, YAML text)`.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> (RuleSet, Vec<LoadError>) {
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        let mut defs: Vec<(PathBuf, usize, CorrelationDef)> = Vec::new();
        set.coverage.files = sources.len();
        for (file, text) in sources {
            if uses_yaml_aliases(text) {
                errors.push(LoadError {
                    file: file.clone(),
                    doc: 0,
                    reason:
                        "YAML anchors/aliases are not supported (they can expand without bound)"
                            .into(),
                });
                continue;
            }
            let docs = match yaml_rust2::YamlLoader::load_from_str(text) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(LoadError {
                        file: file.clone(),
                        doc: 0,
                        reason: format!("YAML: {e}"),
                    });
                    continue;
                }
            };
            for (i, doc) in docs.iter().enumerate() {
                match rule::parse_doc(doc, &mut set.fields) {
                    Ok(Some(Doc::Rule(r))) => set.rules.push(*r),
                    Ok(Some(Doc::Correlation(c))) => defs.push((file.clone(), i + 1, *c)),
                    Ok(None) => {}
                    Err(reason) => errors.push(LoadError {
                        file: file.clone(),
                        doc: i + 1,
                        reason,
                    }),
                }
            }
        }
        for e in &errors {
            *set.coverage
                .failed_by_reason
                .entry(reason_class(&e.reason))
                .or_default() += 1;
        }
        set.coverage.rules_failed = errors.len();
        set.resolve_correlations(defs, &mut errors);
        set.build_index();
        (set, errors)
    }

    fn resolve_correlations(
        &mut self,
        defs: Vec<(PathBuf, usize, CorrelationDef)>,
        errors: &mut Vec<LoadError>,
    ) {
        let find = |rules: &[Rule], r: &str| {
            rules
                .iter()
                .position(|x| x.meta.id == r || x.meta.name.as_deref() == Some(r))
        };
        self.emit = vec![true; self.rules.len()];
        let mut generated = vec![false; self.rules.len()];
        for (file, doc, d) in defs {
            let mut rules = Vec::new();
            let mut missing = None;
            for r in &d.rules {
                match find(&self.rules, r) {
                    Some(i) => rules.push(i),
                    None => missing = Some(r.clone()),
                }
            }
            if let Some(m) = missing {
                self.coverage.correlations_failed += 1;
                *self
                    .coverage
                    .failed_by_reason
                    .entry("unsupported or unresolved correlation".into())
                    .or_default() += 1;
                errors.push(LoadError {
                    file,
                    doc,
                    reason: format!("correlation references unknown rule `{m}`"),
                });
                continue;
            }
            for i in &rules {
                if let Some(e) = self.emit.get_mut(*i) {
                    *e = false;
                }
                if d.generate {
                    if let Some(g) = generated.get_mut(*i) {
                        *g = true;
                    }
                }
            }
            let aliases = d
                .aliases
                .iter()
                .map(|(alias, map)| {
                    let m = map
                        .iter()
                        .filter_map(|(r, f)| find(&self.rules, r).map(|i| (i, f.clone())))
                        .collect();
                    (alias.clone(), m)
                })
                .collect();
            let kind = match d.kind {
                CorrKind::EventCount => "event_count",
                CorrKind::ValueCount => "value_count",
                CorrKind::Temporal => "temporal",
                CorrKind::TemporalOrdered => "temporal_ordered",
            };
            *self
                .coverage
                .correlations_by_type
                .entry(kind.into())
                .or_default() += 1;
            self.coverage.correlations_loaded += 1;
            self.correlations.push(Correlation {
                meta: d.meta,
                kind: d.kind,
                rules,
                group_by: d.group_by,
                timespan_ms: d.timespan_ms,
                cond: d.cond,
                field: d.field,
                aliases,
            });
        }
        for (i, g) in generated.iter().enumerate() {
            if *g {
                if let Some(e) = self.emit.get_mut(i) {
                    *e = true;
                }
            }
        }
        // The old aggregation: a correlation over the rule itself; the rule alone says nothing.
        for (i, r) in self.rules.iter().enumerate() {
            let Some(a) = &r.aggregation else { continue };
            self.coverage.aggregations += 1;
            if let Some(e) = self.emit.get_mut(i) {
                *e = false;
            }
            self.correlations.push(Correlation {
                meta: r.meta.clone(),
                kind: if a.field.is_some() {
                    CorrKind::ValueCount
                } else {
                    CorrKind::EventCount
                },
                rules: vec![i],
                group_by: a.group_by.iter().cloned().collect(),
                // No timeframe: the whole input is one window.
                timespan_ms: r.timeframe_ms.unwrap_or(i64::MAX / 4),
                cond: Some(a.cmp),
                field: a.field.clone(),
                aliases: vec![],
            });
        }
    }

    /// Number of detection rules loaded (correlations not counted).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of correlations (including old-style aggregations).
    pub fn correlation_count(&self) -> usize {
        self.correlations.len()
    }

    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The index of the rule with this Sigma `id` (or `name`).
    pub fn find(&self, id: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.meta.id == id || r.meta.name.as_deref() == Some(id))
    }

    /// The Sigma `id` of a matched rule.
    pub fn rule_id(&self, m: &RuleMatch) -> &str {
        self.rules.get(m.rule).map_or("", |r| r.meta.id.as_str())
    }

    /// Whether a match of this rule is reported on its own (see the module doc).
    pub fn emits(&self, m: &RuleMatch) -> bool {
        self.emit.get(m.rule).copied().unwrap_or(false)
    }

    /// Appends to `out` every rule `ev` matches. Stateless: safe to call from many threads.
    pub fn matches(&self, ev: &Event, out: &mut Vec<RuleMatch>) {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.matches_with(ev, &mut s, out),
            // Re-entered on this thread (cannot happen through this API): use fresh scratch.
            Err(_) => self.matches_with(ev, &mut Scratch::default(), out),
        });
    }

    /// The detection for a match of a rule on `ev`.
    pub fn detection(&self, m: &RuleMatch, ev: &Event) -> Detection {
        let Some(r) = self.rules.get(m.rule) else {
            return Detection {
                timestamp: ev.timestamp,
                rule_id: String::new(),
                rule_title: String::new(),
                level: Level::Info,
                computer: ev.host.clone(),
                channel: ev.channel.clone(),
                event_id: ev.event_id,
                record_id: ev.record_id,
                file: None,
                details: String::new(),
                tags: vec![],
                records: vec![RecordRef::of(ev)],
                evidence: vec![ev.raw.clone()],
            };
        };
        let rr = RecordRef::of(ev);
        Detection {
            timestamp: ev.timestamp,
            rule_id: r.meta.id.clone(),
            rule_title: r.meta.title.clone(),
            level: r.meta.level,
            computer: ev.host.clone(),
            channel: ev.channel.clone(),
            event_id: ev.event_id,
            record_id: ev.record_id,
            file: rr.file.clone(),
            details: details(&r.fields, ev),
            tags: r.meta.tags.clone(),
            records: vec![rr],
            evidence: vec![ev.raw.clone()],
        }
    }

    pub(crate) fn rule_meta(&self, i: usize) -> Option<&rule::Meta> {
        self.rules.get(i).map(|r| &r.meta)
    }
}

/// `Field: value ¦ Field: value` for the fields the rule tests (or the event's first fields).
pub(crate) fn details(fields: &[String], ev: &Event) -> String {
    let clip = |v: &str| -> String {
        if v.chars().count() > DETAIL_VALUE_CHARS {
            let mut s: String = v.chars().take(DETAIL_VALUE_CHARS).collect();
            s.push('…');
            s
        } else {
            v.to_string()
        }
    };
    let mut parts: Vec<String> = fields
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("EventID") && !f.eq_ignore_ascii_case("Channel"))
        .filter_map(|f| {
            ev.fields
                .get_ignore_case(f)
                .map(|v| format!("{f}: {}", clip(v)))
        })
        .take(DETAIL_FIELDS)
        .collect();
    if parts.is_empty() {
        const SYSTEM: &[&str] = &[
            "EventID",
            "Channel",
            "Computer",
            "Provider_Name",
            "EventRecordID",
            "Level",
            "Task",
            "Keywords",
            "TimeCreated",
            "ProcessID",
            "ThreadID",
            "UserID",
            "Opcode",
            "Version",
            "Provider_Guid",
            "Qualifiers",
            "ActivityID",
            "RelatedActivityID",
        ];
        parts = ev
            .fields
            .iter()
            .filter(|(k, v)| !SYSTEM.contains(k) && !v.is_empty())
            .take(DETAIL_FIELDS)
            .map(|(k, v)| format!("{k}: {}", clip(v)))
            .collect();
    }
    parts.join(" ¦ ")
}

#[cfg(test)]
mod tests;
