//! The rule engine: a compiled [`RuleSet`] (loaded once, shared by `Arc` across threads)
//! and a [`Transaction`] per request.
//!
//! # API
//!
//! ```text
//! RuleSet::load(path) -> Result<RuleSet, Error>
//! RuleSet::load_with(path, before, after) -> Result<RuleSet, Error>
//! RuleSet::parse_str(text, base_dir, name) -> Result<RuleSet, Error>
//! ruleset.rule_count()
//! ruleset.transaction(RequestHead) -> Transaction<'_>
//!     tx.force_detection_only()                  // the per-site DetectionOnly switch
//!     tx.process_request_headers()  -> Option<Intervention>     // phase 1
//!     tx.append_request_body(&[u8])                              // any number of times
//!     tx.process_request_body()     -> Option<Intervention>     // phase 2 (always call it)
//!     tx.process_response_headers(status, &headers) -> Option<Intervention>   // phase 3
//!     tx.wants_response_body() -> bool
//!     tx.append_response_body(&[u8])
//!     tx.process_response_body()    -> Option<Intervention>     // phase 4
//!     tx.finish() -> Audit                                        // phase 5, what happened
//! ```
//!
//! An `Option<Intervention>` that is `Some` means: stop the request with that status (and
//! `Location` for a redirect). Once a transaction intervened, later phases return the same
//! intervention without running rules (`finish` still runs phase 5). In `DetectionOnly`
//! (`SecRuleEngine`, `ctl:ruleEngine`, or [`Transaction::force_detection_only`]) the rules
//! run and the would-be intervention is recorded in [`Audit::intervention`] with
//! `intervened: false`; nothing is returned. `Off` runs nothing.
//!
//! # What `RuleSet::load` reads
//!
//! - A `.conf` file: that file and what it `Include`s.
//! - A CRS directory: its `crs-setup.conf`, else `crs-setup.conf.example`, then every
//!   `rules/*.conf` (or `*.conf` in the directory itself when there is no `rules/`), sorted
//!   by file name; `REQUEST-900-…`/`RESPONSE-999-…` exclusion files are included when
//!   present as `.conf` (not `.conf.example`).
//! - Debian's CRS 3.3.4 (`apt-get install modsecurity-crs`): `RuleSet::load(
//!   "/usr/share/modsecurity-crs")` reads `/etc/modsecurity/crs/crs-setup.conf`, then
//!   `/usr/share/modsecurity-crs/rules/*.conf` with Debian's
//!   `/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf` and
//!   `RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf` sorted in among them, the same files
//!   Debian's `owasp-crs.load` includes. Debian's `modsecurity.conf-recommended` directives
//!   parse too (load it with `load_with`'s `before` or include it from a `.conf`).
//!
//! `before` is parsed ahead of the rules (e.g. CRS's test settings, `SecRuleEngine
//! DetectionOnly`), `after` behind them (rule exclusions); their errors name `(before)` /
//! `(after)` in the rule set's directory. A directive, variable, operator, transformation
//! or action we cannot run is an [`Error::Load`] naming file, line and word. Operators that
//! need outside services (`@rbl`, `@geoLookup`, `@gsbLookup`, `@inspectFile`,
//! `@fuzzyHash`, `@validateDTD`, `@validateSchema`, `@validateHash`) load as never-matching
//! and are listed in [`RuleSet::inert_operators`].
//!
//! Body processors are chosen by `Content-Type` (urlencoded, multipart, and JSON / XML as
//! ModSecurity's recommended rules 200000/200001 choose them) or by
//! `ctl:requestBodyProcessor`.
//!
//! # Semantics
//!
//! As ModSecurity v3 where CRS's regression suite depends on it: a link's non-disruptive
//! actions (`setvar`, `ctl`, captures into `TX.0`..`TX.9`) run for each value it matches,
//! as it matches; a chain matches when every link matches; `msg`/`logdata` expand after the
//! full match; `block` is the phase's `SecDefaultAction` disruptive action (with its
//! `status`); `MATCHED_VARS` holds the current rule's matches; `skipAfter` jumps past the
//! next `SecMarker` of that name; `SecRuleRemoveBy*`/`SecRuleUpdate*` apply wherever they
//! are written.
//!
//! # Cost
//!
//! Everything is compiled at load: targets, operators (regexes, phrase sets),
//! transformation chains (interned as a trie), macro templates, `skipAfter` jumps. Per
//! transaction, each (value, transformation-chain prefix) is computed once, and each
//! transformed value is scanned once by an Aho-Corasick automaton over every operator's
//! required literals, so an `@rx` whose literals are absent never runs. A link is skipped
//! whole when the union of its targets' scans lacks them, and once a union is known, later
//! rules it rules out are passed over from a dense per-phase table without reading them.
//! The start of phase 1 that is the same for every request (rules reading and writing only
//! `TX`: CRS's setup) runs once at load; transactions start from the state it leaves.
//! Rules that read only `TX` values no later rule writes (CRS's paranoia-level gates and
//! exclusion switches) are settled at load too (`engine/fixed.rs`): a request jumps over
//! them unless a `ctl` of its own removed rules or targets. Rules that read only named `TX`
//! keys and change only `TX` (CRS's score sums and checks) run once at load while the keys
//! they read are recorded, and a request that changed none of those keys gets the recorded
//! effect; rules that read request data and write `TX` (CRS's header-name and file
//! extension captures) are remembered per thread by the values their targets hold, under
//! the same condition (`engine/fixed.rs`). Per thread, values seen on more
//! than one request keep their literal scan and the answers of the costlier operators
//! compiled at load (`engine/memo.rs`), checked byte for byte on each use, and a verdict per
//! link (`engine/verdict.rs`): a link whose values are all known not to match it is passed
//! over without transforming or scanning them, and a rule whose first link is so ruled out
//! for whole collections is passed over without being read.

mod compile;
mod fixed;
mod macros;
mod memo;
mod prefilter;
mod tx;
mod vars;
mod verdict;

pub use compile::{Config, Disruptive, SEVERITIES};
pub use tx::{Audit, Intervention, MatchedRule, Transaction, MAX_MATCHED_VALUE};
pub use vars::Var;

use crate::error::Error;
use crate::seclang;
use compile::{Builder, Entry, PhaseDefault};
use prefilter::{Chains, Literals};
use std::path::Path;

/// `SecRuleEngine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    On,
    DetectionOnly,
    Off,
}

/// A compiled rule set, shared by every transaction (`Send + Sync`).
#[derive(Debug)]
pub struct RuleSet {
    phases: [Vec<Entry>; 5],
    /// Per phase, by entry: how to pass over a rule that cannot match (see [`Quick`]).
    quick: [prefilter::QuickTable; 5],
    config: Config,
    defaults: [PhaseDefault; 5],
    chains: Chains,
    literals: Option<Literals>,
    /// What the constant start of phase 1 leaves; every transaction starts from it.
    prelude: Option<tx::Prelude>,
    /// Per phase entry, whether its outcome is settled at load (see [`fixed`]).
    fixed: fixed::FixedRules,
    /// Unique per load: tells this rule set's operators from an earlier one's in the memo.
    id: u64,
    rule_count: usize,
    /// The size of a value's verdict table (see [`verdict`]).
    verdict_words: usize,
    /// Operators that never match here (`@rbl`, `@geoLookup`...), for the load report.
    pub inert_operators: Vec<String>,
}

impl RuleSet {
    /// Loads a CRS directory or a `.conf` file (see the module docs for what is read).
    pub fn load(path: &Path) -> Result<RuleSet, Error> {
        RuleSet::load_with(path, "", "")
    }

    /// As [`RuleSet::load`], with `before` parsed ahead of the rules and `after` behind.
    pub fn load_with(path: &Path, before: &str, after: &str) -> Result<RuleSet, Error> {
        let base = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let mut b = Builder::new();
        if !before.trim().is_empty() {
            b.add(seclang::parse_str(before, &base, "(before)")?)?;
        }
        if path.is_dir() {
            let files = compile::crs_files(path)?;
            b.add(compile::parse_files(&files)?)?;
        } else {
            b.add(seclang::parse_file(path)?)?;
        }
        if !after.trim().is_empty() {
            b.add(seclang::parse_str(after, &base, "(after)")?)?;
        }
        b.finish()
    }

    /// Compiles rules from text; `Include`s and `@pmFromFile` resolve in `base_dir`, errors
    /// name `name`.
    pub fn parse_str(text: &str, base_dir: &Path, name: &str) -> Result<RuleSet, Error> {
        let mut b = Builder::new();
        b.add(seclang::parse_str(text, base_dir, name)?)?;
        b.finish()
    }

    /// Number of rules (a chain counts once).
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// Rules whose outcome is the same on every request, settled at load (they read only
    /// `TX` values that no rule writes after the constant start of phase 1).
    pub fn settled_count(&self) -> usize {
        self.fixed
            .phases
            .iter()
            .flatten()
            .filter(|f| matches!(f, fixed::Fixed::Always(_) | fixed::Fixed::Never))
            .count()
    }

    /// Rules recorded at load and replayed while a request leaves the `TX` keys they read
    /// alone (see `engine/fixed.rs`).
    pub fn replayed_count(&self) -> usize {
        self.fixed.replays.len()
    }

    /// The same rules with every replay and memo turned back into a rule that runs.
    #[cfg(test)]
    fn without_replays(mut self) -> RuleSet {
        for f in self.fixed.phases.iter_mut().flatten() {
            if matches!(f, fixed::Fixed::Replay(_) | fixed::Fixed::Memo) {
                *f = fixed::Fixed::No;
            }
        }
        self
    }

    /// The configuration directives' settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `SecRequestBodyLimit`: request body bytes inspected.
    pub fn request_body_limit(&self) -> usize {
        self.config.request_body_limit
    }

    /// The ids of every rule, in evaluation order per phase.
    pub fn rule_ids(&self) -> Vec<u32> {
        self.phases
            .iter()
            .flatten()
            .filter_map(|e| match e {
                Entry::Rule(r) => Some(r.id),
                Entry::Marker(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
