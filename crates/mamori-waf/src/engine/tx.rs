//! One request through the rules.

use super::compile::{
    in_ranges, tag_bit, Action, Ctl, Disruptive, Entry, Link, Op, Rule, SetOp, SEVERITIES,
};
use super::fixed::{Fixed, FixedMatch, FixedRules, KeySet, Replay, TxWrites};
use super::macros::{Part, Template};
use super::memo::{self, Memo, Owner};
use super::prefilter::{Cache, ChainId, FxMap, Quick};
use super::vars::{Sel, Target, Var};
use super::verdict::Verdicts;
use super::{EngineMode, RuleSet};
use crate::body::{self, Limits, Xml};
use crate::operator::{OpMatch, Operator};
use crate::request::{parse_cookies, parse_query, Pair, RequestHead, UriParts};
use std::borrow::Cow;
use std::io::Write as _;
use std::time::Instant;

/// The rules asked to stop the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    pub status: u16,
    pub rule_id: Option<u32>,
    pub msg: String,
    /// For `redirect`: the location (status 302 unless the rule says 301/303/307).
    pub redirect: Option<String>,
}

/// A rule that matched (and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRule {
    pub id: u32,
    pub phase: u8,
    pub file: String,
    pub line: usize,
    pub msg: String,
    /// `logdata`, macro-expanded.
    pub logdata: String,
    /// 0 (EMERGENCY) .. 7 (DEBUG).
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    pub ver: Option<String>,
    /// `ARGS:q`, `REQUEST_HEADERS:User-Agent`...
    pub matched_var: String,
    /// The value the operator matched (transformed), at most [`MAX_MATCHED_VALUE`] bytes.
    pub matched_value: String,
    /// The rule is disruptive (deny/drop/redirect, or block resolving to one).
    pub disruptive: bool,
}

impl MatchedRule {
    pub fn severity_name(&self) -> &'static str {
        self.severity.map_or("", |s| SEVERITIES[s as usize & 7])
    }

    /// A ModSecurity-style error-log line (what go-ftw's `log` checks read); control
    /// characters escaped as `\xNN`, quotes and backslashes with a backslash.
    pub fn log_line(&self, uri: &str, unique_id: &str) -> String {
        let mut s = format!(
            "ModSecurity: Warning. Matched \"{}\" at {}. [file \"{}\"] [line \"{}\"] [id \"{}\"]",
            log_escape(&self.matched_value),
            log_escape(&self.matched_var),
            self.file,
            self.line,
            self.id
        );
        if !self.msg.is_empty() {
            s.push_str(&format!(" [msg \"{}\"]", log_escape(&self.msg)));
        }
        if !self.logdata.is_empty() {
            s.push_str(&format!(" [data \"{}\"]", log_escape(&self.logdata)));
        }
        if let Some(sev) = self.severity {
            s.push_str(&format!(" [severity \"{}\"]", SEVERITIES[sev as usize & 7]));
        }
        if let Some(v) = &self.ver {
            s.push_str(&format!(" [ver \"{v}\"]"));
        }
        for t in &self.tags {
            s.push_str(&format!(" [tag \"{t}\"]"));
        }
        s.push_str(&format!(
            " [uri \"{}\"] [unique_id \"{unique_id}\"]",
            log_escape(uri)
        ));
        s
    }
}

/// Escapes a log field as ModSecurity does: control bytes as `\xNN`, `"` and `\` with a
/// backslash.
pub fn log_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// What a finished transaction reports.
#[derive(Debug, Clone)]
pub struct Audit {
    pub unique_id: String,
    /// The engine mode in force at the end (after `ctl:ruleEngine` and the per-site switch).
    pub mode: EngineMode,
    pub matched: Vec<MatchedRule>,
    /// CRS's inbound anomaly score (`tx.blocking_inbound_anomaly_score`, else
    /// `tx.inbound_anomaly_score`, else `tx.anomaly_score`).
    pub inbound_score: i64,
    /// CRS's outbound anomaly score.
    pub outbound_score: i64,
    /// The first intervention the rules asked for (also in DetectionOnly).
    pub intervention: Option<Intervention>,
    /// Whether that intervention was applied (engine On).
    pub intervened: bool,
    /// The request body was longer than the inspection limit.
    pub request_body_truncated: bool,
    /// The request target (for log lines).
    pub uri: String,
}

impl Audit {
    /// One ModSecurity-style line per matched rule.
    pub fn log_text(&self) -> String {
        let mut out = String::new();
        for m in &self.matched {
            out.push_str(&m.log_line(&self.uri, &self.unique_id));
            out.push('\n');
        }
        if let Some(i) = &self.intervention {
            out.push_str(&format!(
                "ModSecurity: Access denied with code {} (phase ?). {} [id \"{}\"] [unique_id \"{}\"]\n",
                i.status,
                i.msg,
                i.rule_id.unwrap_or(0),
                self.unique_id
            ));
        }
        out
    }

    /// Ids of the matched rules, in order.
    pub fn ids(&self) -> Vec<u32> {
        self.matched.iter().map(|m| m.id).collect()
    }
}

/// Longest matched value kept in a [`MatchedRule`].
pub const MAX_MATCHED_VALUE: usize = 256;
/// Most values kept in `MATCHED_VARS`.
const MAX_MATCHED_VARS: usize = 256;
/// Most keys in one `TX`-like collection.
const MAX_STORE_KEYS: usize = 10_000;

/// A value matched by a link.
#[derive(Debug)]
struct Found {
    var: Var,
    key: Vec<u8>,
    count: bool,
    value: Vec<u8>,
    captures: Vec<Vec<u8>>,
}

impl Default for Found {
    fn default() -> Found {
        Found {
            var: Var::Tx,
            key: Vec::new(),
            count: false,
            value: Vec::new(),
            captures: Vec::new(),
        }
    }
}

/// `n` in decimal, written into `buf` (no allocation: counts like `&TX:x` are on every
/// request's path).
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Makes `v` a copy of `bytes`, in its own buffer when that is large enough.
fn refill(v: &mut Vec<u8>, bytes: &[u8]) {
    v.clear();
    v.extend_from_slice(bytes);
}

/// A list whose entries keep their buffers when it is cleared, so refilling it allocates
/// nothing once it has held as many entries: the values a link matches, `MATCHED_VARS`.
#[derive(Debug, Default)]
struct Reuse<T> {
    items: Vec<T>,
    len: usize,
}

impl<T: Default> Reuse<T> {
    fn clear(&mut self) {
        self.len = 0;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// A new last entry, holding what an earlier one left: the caller overwrites it.
    fn push(&mut self) -> &mut T {
        if self.len == self.items.len() {
            self.items.push(T::default());
        }
        self.len += 1;
        &mut self.items[self.len - 1]
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items[..self.len].get_mut(i)
    }

    fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

/// `TX.0`..`TX.9`, the keys captures are stored under.
const CAPTURE_KEYS: [&[u8]; 10] = [b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"];

/// Sets `key` to `value` in a TX-like collection, reusing the entry's buffer when the key
/// is there; a new key is refused once the collection holds [`MAX_STORE_KEYS`]. Whether the
/// collection changed.
fn store_set(map: &mut FxMap<Vec<u8>, Vec<u8>>, key: &[u8], value: &[u8]) -> bool {
    let full = map.len() >= MAX_STORE_KEYS;
    match map.get_mut(key) {
        Some(v) if v.as_slice() == value => false,
        Some(v) => {
            refill(v, value);
            true
        }
        None if !full => {
            map.insert(key.to_vec(), value.to_vec());
            true
        }
        None => false,
    }
}

enum RemovedBy {
    Ids(Vec<(u32, u32)>),
    /// A tag and its [`tag_bit`].
    Tag(String, u64),
}

impl RemovedBy {
    fn applies(&self, rule: &Rule) -> bool {
        match self {
            RemovedBy::Ids(ids) => in_ranges(rule.id, ids),
            RemovedBy::Tag(tag, bit) => {
                rule.tag_mask & bit != 0 && rule.tags.iter().any(|x| x == tag)
            }
        }
    }
}

/// The request's and response's variables.
struct Data {
    head: RequestHead,
    uri: UriParts,
    request_line: Vec<u8>,
    headers: Vec<Pair>,
    cookies: Vec<Pair>,
    args_get: Vec<Pair>,
    args_post: Vec<Pair>,
    files: Vec<(Vec<u8>, Vec<u8>, usize)>,
    part_headers: Vec<Pair>,
    multipart_flags: u32,
    xml: Xml,
    body: Vec<u8>,
    body_len: usize,
    body_truncated: bool,
    body_processor: Option<String>,
    body_access: bool,
    force_body_variable: bool,
    reqbody_error: Option<String>,
    urlencoded_error: bool,
    inbound_data_error: bool,
    tx: FxMap<Vec<u8>, Vec<u8>>,
    /// The `TX` keys changed (set or deleted) since phase 1 began.
    tx_written: WriteLog,
    /// At load, while a rule runs to be replayed: what it reads and writes (see
    /// [`Recorder`]).
    recording: bool,
    recorder: std::cell::RefCell<Recorder>,
    /// IP, GLOBAL, SESSION, USER, RESOURCE, ENV.
    stores: [FxMap<Vec<u8>, Vec<u8>>; 6],
    matched_var: Vec<u8>,
    matched_var_name: Vec<u8>,
    matched_vars: Reuse<Pair>,
    response_status: u16,
    response_protocol: String,
    response_headers: Vec<Pair>,
    response_body: Vec<u8>,
    response_body_len: usize,
    unique_id: String,
    started: Instant,
    highest_severity: u8,
    server_name: Vec<u8>,
}

/// What a rule run at load read and wrote (see [`super::fixed::Replay`]): the `TX` keys it
/// read before writing them, the patterns it chose `TX` members by, the keys it wrote, and
/// whether it read anything else (request data, `MATCHED_VAR` before matching itself) or had
/// an effect besides `TX` — then it cannot be replayed.
#[derive(Debug, Default)]
struct Recorder {
    reads: KeySet,
    /// `TX` members read by pattern.
    sels: Vec<Sel>,
    written: Vec<Vec<u8>>,
    impure: bool,
    /// The rule matched a value: `MATCHED_VAR` and friends are its own from here on.
    matched: bool,
    /// Recording for the memo of request-dependent rules: the request values the rule's
    /// targets hold are the memo's key, so reading them is allowed.
    request: bool,
}

impl Data {
    /// Notes a read of `TX:key` by the rule being recorded.
    #[inline]
    fn read_tx(&self, key: &[u8]) {
        if self.recording {
            let mut r = self.recorder.borrow_mut();
            if !r.written.iter().any(|k| k == key) {
                r.reads.insert(key);
            }
        }
    }

    /// Notes a read of a link target's values by the rule being recorded.
    fn read_target(&self, t: &Target) {
        if !self.recording {
            return;
        }
        match (t.var, &t.sel) {
            (Var::Tx, Sel::Name(n)) => self.read_tx(n),
            (Var::Tx, sel) => self.recorder.borrow_mut().sels.push(sel.clone()),
            (_, _) if self.recorder.borrow().request && union_code(t).is_some() => {}
            (var, _) => self.read_other(var),
        }
    }

    /// Notes a read of something other than a named `TX` key.
    fn read_other(&self, var: Var) {
        if self.recording {
            let mut r = self.recorder.borrow_mut();
            let own = matches!(
                var,
                Var::MatchedVar | Var::MatchedVarName | Var::MatchedVars | Var::MatchedVarsNames
            );
            if !(own && r.matched) {
                r.impure = true;
            }
        }
    }

    /// Notes a write of `TX:key`: in the write log when it `changed` the collection, and by
    /// the rule being recorded in any case.
    fn wrote_tx(&mut self, key: &[u8], changed: bool) {
        if changed {
            self.tx_written.note(key);
        }
        if self.recording {
            let r = self.recorder.get_mut();
            if !r.written.iter().any(|k| k == key) {
                r.written.push(key.to_vec());
            }
        }
    }

    /// Notes an effect other than on `TX` by the rule being recorded.
    fn impure(&mut self) {
        if self.recording {
            self.recorder.get_mut().impure = true;
        }
    }
}

pub(super) fn store_index(v: Var) -> Option<usize> {
    Some(match v {
        Var::Ip => 0,
        Var::Global => 1,
        Var::Session => 2,
        Var::User => 3,
        Var::Resource => 4,
        Var::Env => 5,
        _ => return None,
    })
}

/// Cache keys of request values: storage (high bits), index, name-or-value.
mod keys {
    pub const GET: u64 = 1;
    pub const POST: u64 = 2;
    pub const HEADERS: u64 = 3;
    pub const COOKIES: u64 = 4;
    pub const FILES: u64 = 5;
    pub const PART_HEADERS: u64 = 6;
    pub const XML_TEXT: u64 = 7;
    pub const XML_ATTR: u64 = 8;
    pub const RESPONSE_HEADERS: u64 = 9;
    pub const URI: u64 = 16;
    pub const URI_RAW: u64 = 17;
    pub const FILENAME: u64 = 18;
    pub const BASENAME: u64 = 19;
    pub const QUERY: u64 = 20;
    pub const LINE: u64 = 21;
    pub const METHOD: u64 = 22;
    pub const PROTOCOL: u64 = 23;
    pub const BODY: u64 = 24;
    pub const RESPONSE_BODY: u64 = 25;

    pub fn of(store: u64, index: usize, name: bool) -> u64 {
        (store << 32) | ((index as u64 & 0x7fff_ffff) << 1) | u64::from(name)
    }
}

/// The code of a collection whose values are all request data that stays put once parsed
/// (so a union of their literal scans can be cached); `None` for the others.
pub(super) fn union_code(t: &Target) -> Option<u64> {
    Some(match t.var {
        Var::Args => 1,
        Var::ArgsNames => 2,
        Var::ArgsGet => 3,
        Var::ArgsGetNames => 4,
        Var::ArgsPost => 5,
        Var::ArgsPostNames => 6,
        Var::RequestHeaders => 7,
        Var::RequestHeadersNames => 8,
        Var::RequestCookies => 9,
        Var::RequestCookiesNames => 10,
        Var::RequestUri => 11,
        Var::RequestUriRaw => 12,
        Var::RequestFilename => 13,
        Var::RequestBasename => 14,
        Var::QueryString => 15,
        Var::RequestLine => 16,
        Var::RequestMethod => 17,
        Var::RequestProtocol => 18,
        Var::Files => 19,
        Var::FilesNames => 20,
        Var::MultipartPartHeaders => 21,
        Var::RequestBody => 22,
        Var::Xml if matches!(t.sel, Sel::XmlAttrs) => 24,
        Var::Xml => 23,
        _ => return None,
    })
}

/// The whole collection a target selects from (its union code's values).
fn collection_target(t: &Target) -> Target {
    Target {
        var: t.var,
        sel: match (t.var, &t.sel) {
            (Var::Xml, Sel::XmlAttrs) => Sel::XmlAttrs,
            (Var::Xml, _) => Sel::XmlText,
            _ => Sel::All,
        },
        count: false,
    }
}

/// Which values of a collection a union scan covers.
#[derive(Clone, Copy, PartialEq)]
enum Values {
    All,
    /// Only those without verdicts (see [`Verdicts::seen_miss`]):
    /// the others are answered by their verdicts.
    New,
}

/// Union codes of [`Values::New`] unions are offset by this from the collection's.
const NEW_UNION: u64 = 64;

/// Whether some value of the target's collection (or of its new values) may satisfy `want`
/// (the union of its values' scans, computed once per collection and chain); `None` when
/// unknown.
fn collection_may_match(
    rs: &RuleSet,
    d: &Data,
    cache: &mut Cache,
    t: &Target,
    (chain, which): (ChainId, Values),
    want: &super::prefilter::Want,
) -> Option<bool> {
    let Some(code) = union_code(t) else {
        // Without a union, only a target with no value at all rules a match out.
        let mut any = false;
        each_value(d, t, &mut |_, _, _, _| any = true);
        return if any { None } else { Some(false) };
    };
    let lits = rs.literals.as_ref()?;
    let ucode = match which {
        Values::All => code,
        Values::New => code + NEW_UNION,
    };
    if let Some(u) = cache.union(ucode, chain) {
        return Some(u.satisfies(want));
    }
    let all = collection_target(t);
    let mut union = cache.scan();
    let mut complete = true;
    each_value(d, &all, &mut |_, _, value: &[u8], ckey| match ckey {
        Some(k) if which == Values::New && !cache.verdicts.is_new(k, value) => {}
        Some(k) => {
            let data = cache.transformed(&rs.chains, k, value, chain);
            union.merge(cache.scan_of(lits, k, chain, data, value));
        }
        None => complete = false,
    });
    if !complete {
        return None;
    }
    union.sort();
    let ok = union.satisfies(want);
    cache.set_union(ucode, chain, union);
    Some(ok)
}

/// Computes what the values of the target's collection (`code`) are known not to match,
/// unless done for this transaction.
#[inline]
fn collection_verdicts(d: &Data, cache: &mut Cache, target: &Target, code: u64) {
    if !cache.verdicts.ready(code) {
        let every = collection_target(target);
        cache.verdicts.collection(code, |f| {
            each_value(d, &every, &mut |_, _, value, ckey| f(ckey, value))
        });
    }
}

/// One request (and its response) through the rules.
pub struct Transaction<'r> {
    rs: &'r RuleSet,
    mode: EngineMode,
    forced_detection: bool,
    d: Data,
    cache: Cache,
    found: Reuse<Found>,
    path_buf: Vec<ChainId>,
    /// Scratch for `setvar`'s expanded key and value.
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    /// Scratch for a [`Fixed::Memo`] rule's inputs.
    memo_buf: Vec<u8>,
    removed_ids: Vec<(u32, u32)>,
    removed_tags: Vec<String>,
    removed_targets: Vec<(RemovedBy, Target)>,
    matched: Vec<MatchedRule>,
    intervention: Option<Intervention>,
    intervened: bool,
    allow: Option<Disruptive>,
    phases_done: [bool; 5],
    /// Links passed over because their values were known not to match them.
    #[cfg(test)]
    pub(super) passed_by_verdict: usize,
    /// Links passed over on the scans of their collections' new values alone, and values
    /// a link did not run on because their verdicts said they do not match it.
    #[cfg(test)]
    pub(super) passed_by_new_values: usize,
    #[cfg(test)]
    pub(super) values_known_to_miss: usize,
    /// Rules replayed (see [`Replay`]).
    #[cfg(test)]
    pub(super) replayed: usize,
}

/// The first header of that name (ASCII-case-insensitive), empty when there is none.
fn header<'a>(headers: &'a [Pair], name: &[u8]) -> &'a [u8] {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or(&[], |(_, v)| v.as_slice())
}

/// `SERVER_NAME`: the `Host` header without its port.
fn server_name(host: Option<&[u8]>) -> Option<Vec<u8>> {
    let h = host?.trim_ascii();
    Some(if h.starts_with(b"[") {
        h.iter()
            .position(|&c| c == b']')
            .map_or(h, |p| &h[..=p])
            .to_vec()
    } else {
        match h.iter().rposition(|&c| c == b':') {
            Some(p) if h[p + 1..].iter().all(u8::is_ascii_digit) => h[..p].to_vec(),
            _ => h.to_vec(),
        }
    })
}

impl RuleSet {
    /// A transaction for one request. Headers and the query string are parsed here; call
    /// [`Transaction::process_request_headers`] next.
    pub fn transaction(&self, head: RequestHead) -> Transaction<'_> {
        let cfg = &self.config;
        let uri = UriParts::parse(head.target.as_bytes());
        let mut args_get = Vec::new();
        let urlencoded_ok = parse_query(
            &uri.query,
            cfg.arg_separator,
            &mut args_get,
            cfg.arguments_limit,
        );
        let mut cookies = Vec::new();
        // The headers move into the request data (they are read from there, not `head`).
        let mut head = head;
        let mut headers = Vec::with_capacity(head.headers.len());
        let server_name = server_name(head.header("host"))
            .unwrap_or_else(|| head.server.ip().to_string().into_bytes());
        let body_processor = head
            .header("content-type")
            .and_then(body::processor_for)
            .map(str::to_string);
        for (k, v) in std::mem::take(&mut head.headers) {
            if k.eq_ignore_ascii_case("cookie") {
                parse_cookies(&v, &mut cookies, cfg.arguments_limit);
            }
            headers.push((k.into_bytes(), v));
        }
        let mut request_line =
            Vec::with_capacity(head.method.len() + head.target.len() + head.protocol.len() + 2);
        request_line.extend_from_slice(head.method.as_bytes());
        request_line.push(b' ');
        request_line.extend_from_slice(head.target.as_bytes());
        request_line.push(b' ');
        request_line.extend_from_slice(head.protocol.as_bytes());
        let d = Data {
            uri,
            request_line,
            headers,
            cookies,
            args_get,
            args_post: Vec::new(),
            files: Vec::new(),
            part_headers: Vec::new(),
            multipart_flags: 0,
            xml: Xml::default(),
            body: Vec::new(),
            body_len: 0,
            body_truncated: false,
            body_processor,
            body_access: cfg.request_body_access,
            force_body_variable: false,
            reqbody_error: None,
            urlencoded_error: !urlencoded_ok,
            inbound_data_error: false,
            tx: FxMap::default(),
            tx_written: WriteLog::default(),
            recording: false,
            recorder: Default::default(),
            stores: Default::default(),
            matched_var: Vec::new(),
            matched_var_name: Vec::new(),
            matched_vars: Reuse::default(),
            response_status: 0,
            response_protocol: head.protocol.clone(),
            response_headers: Vec::new(),
            response_body: Vec::new(),
            response_body_len: 0,
            unique_id: ulid::Ulid::new().to_string(),
            started: Instant::now(),
            highest_severity: 255,
            server_name,
            head,
        };
        let mut cache = Cache::pooled();
        cache.verdicts.begin(self.id, self.verdict_words);
        Transaction {
            rs: self,
            mode: cfg.engine,
            forced_detection: false,
            d,
            cache,
            found: Reuse::default(),
            path_buf: Vec::new(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            memo_buf: Vec::new(),
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            removed_targets: Vec::new(),
            matched: Vec::new(),
            intervention: None,
            intervened: false,
            allow: None,
            phases_done: [false; 5],
            #[cfg(test)]
            passed_by_verdict: 0,
            #[cfg(test)]
            passed_by_new_values: 0,
            #[cfg(test)]
            values_known_to_miss: 0,
            #[cfg(test)]
            replayed: 0,
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        std::mem::take(&mut self.cache).recycle();
        // The TX collection goes back holding what the constant start of phase 1 leaves, so
        // the next transaction of this rule set starts from it as it is. It is reset here,
        // while its entries are still in the CPU caches; after an idle gap, resetting it at
        // the start of the next request read every key and value from memory.
        let Some(prelude) = &self.rs.prelude else {
            return;
        };
        let mut tx = std::mem::take(&mut self.d.tx);
        // Empty: phase 1 did not run (the engine is off), and there is nothing to reuse.
        if !tx.is_empty() && tx.len() <= TX_POOL_KEYS {
            // Only the keys this transaction wrote can differ from the prelude's.
            match self.d.tx_written.keys() {
                Some(keys) => reset_keys(&mut tx, &prelude.tx, keys),
                None => reset_from(&mut tx, &prelude.tx),
            }
            debug_assert!(tx == prelude.tx, "TX not back to the prelude's state");
            TX_POOL.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < TX_POOL_SIZE {
                    p.push((self.rs.id, tx));
                }
            });
        }
    }
}

/// A collection's entries (`TX`, and the persistent ones), keys lowercase.
type Collection = FxMap<Vec<u8>, Vec<u8>>;

/// TX collections kept per thread for reuse (as many as caches: one per open transaction,
/// see `CACHE_POOL_SIZE`), and the most keys a kept one may hold.
const TX_POOL_SIZE: usize = 64;
const TX_POOL_KEYS: usize = 512;

thread_local! {
    /// (rule set id, TX as that rule set's prelude leaves it).
    static TX_POOL: std::cell::RefCell<Vec<(u64, Collection)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The most bytes of keys a [`WriteLog`] holds before it only says "many".
const WRITE_LOG_BYTES: usize = 4096;

/// The keys written to a collection since [`WriteLog::start`], each as a length byte and
/// the key; keys may repeat.
#[derive(Debug, Default)]
struct WriteLog {
    bytes: Vec<u8>,
    /// The keys' bits in a [`KeySet`]-style filter: together, and each key's in order.
    filter: [u64; 4],
    bits: Vec<(usize, u64)>,
    started: bool,
    overflowed: bool,
}

impl WriteLog {
    fn start(&mut self) {
        self.bytes.clear();
        self.filter = [0; 4];
        self.bits.clear();
        self.started = true;
        self.overflowed = false;
    }

    fn note(&mut self, key: &[u8]) {
        if self.overflowed {
            return;
        }
        let (w, b) = KeySet::bit(key);
        self.filter[w] |= b;
        match u8::try_from(key.len()) {
            Ok(n) if self.bytes.len() + key.len() < WRITE_LOG_BYTES => {
                self.bytes.push(n);
                self.bytes.extend_from_slice(key);
                self.bits.push((w, b));
            }
            _ => self.overflowed = true,
        }
    }

    /// Whether one of `keys` may have changed since the log started (also when it cannot
    /// tell: it never started, or overflowed).
    fn may_have_written(&self, keys: &KeySet) -> bool {
        if self
            .filter
            .iter()
            .zip(&keys.filter)
            .all(|(a, b)| a & b == 0)
        {
            return !self.started || self.overflowed;
        }
        self.keys().is_none_or(|written| {
            written
                .zip(&self.bits)
                .any(|(k, &bit)| keys.contains_at(k, bit))
        })
    }

    /// Whether the log knows every key changed since the prelude.
    fn usable(&self) -> bool {
        self.started && !self.overflowed
    }

    /// Whether the transaction may have changed what a recorded run read: its keys by the
    /// filter, its patterns (rarely any) by the log's keys.
    fn may_have_changed(&self, r: &Replay) -> bool {
        self.may_have_written(&r.reads)
            || (!r.sels.is_empty() && self.changed_before(usize::MAX, &KeySet::default(), &r.sels))
    }

    /// Whether one of `keys`, or a key one of `sels` selects, was noted among the first
    /// `upto` bytes of the log (also when it cannot tell).
    fn changed_before(&self, upto: usize, keys: &KeySet, sels: &[Sel]) -> bool {
        if !self.started || self.overflowed {
            return true;
        }
        let mut rest = &self.bytes[..upto.min(self.bytes.len())];
        while let Some((&n, tail)) = rest.split_first() {
            let Some((key, tail)) = tail.split_at_checked(usize::from(n)) else {
                return true;
            };
            if keys.contains(key) || sels.iter().any(|s| s.matches(key)) {
                return true;
            }
            rest = tail;
        }
        false
    }

    /// The keys noted; `None` when there were too many to keep, or when it never started.
    fn keys(&self) -> Option<impl Iterator<Item = &[u8]>> {
        if self.overflowed || !self.started {
            return None;
        }
        let mut rest = self.bytes.as_slice();
        Some(std::iter::from_fn(move || {
            let (&n, tail) = rest.split_first()?;
            let (key, tail) = tail.split_at_checked(usize::from(n))?;
            rest = tail;
            Some(key)
        }))
    }
}

/// Gives `keys` in `to` the entries they have in `from` (removing those `from` lacks): when
/// `to` held `from`'s entries before `keys` were written, it holds them again.
fn reset_keys<'k>(
    to: &mut FxMap<Vec<u8>, Vec<u8>>,
    from: &FxMap<Vec<u8>, Vec<u8>>,
    keys: impl Iterator<Item = &'k [u8]>,
) {
    for k in keys {
        match (from.get(k), to.get_mut(k)) {
            (Some(v), Some(x)) => refill(x, v),
            (Some(v), None) => {
                to.insert(k.to_vec(), v.clone());
            }
            (None, _) => {
                to.remove(k);
            }
        }
    }
}

/// Makes `to` hold exactly `from`'s entries, reusing the buffers of the keys both hold.
fn reset_from(to: &mut FxMap<Vec<u8>, Vec<u8>>, from: &FxMap<Vec<u8>, Vec<u8>>) {
    to.retain(|k, _| from.contains_key(k));
    for (k, v) in from {
        match to.get_mut(k) {
            Some(x) => refill(x, v),
            None => {
                to.insert(k.clone(), v.clone());
            }
        }
    }
}

impl<'r> Transaction<'r> {
    /// Forces DetectionOnly for this transaction (the per-site switch): the rules run and
    /// are recorded but never intervene, whatever `SecRuleEngine`/`ctl:ruleEngine` say
    /// (`ctl:ruleEngine=Off` still turns evaluation off).
    pub fn force_detection_only(&mut self) {
        self.forced_detection = true;
        if self.mode == EngineMode::On {
            self.mode = EngineMode::DetectionOnly;
        }
    }

    /// Turns the engine off for this transaction.
    pub fn disable(&mut self) {
        self.mode = EngineMode::Off;
    }

    /// The engine mode in force now.
    pub fn mode(&self) -> EngineMode {
        self.mode
    }

    pub fn unique_id(&self) -> &str {
        &self.d.unique_id
    }

    /// A `TX` variable (name case-insensitive).
    pub fn tx(&self, name: &str) -> Option<&[u8]> {
        self.d
            .tx
            .get(name.to_ascii_lowercase().as_bytes())
            .map(Vec::as_slice)
    }

    /// Phase 1.
    pub fn process_request_headers(&mut self) -> Option<Intervention> {
        self.run_phase(1)
    }

    /// Appends request body bytes. At most `SecRequestBodyLimit` bytes are kept for
    /// inspection; past it, with `SecRequestBodyLimitAction Reject`, phase 2 answers 413,
    /// with `ProcessPartial` only the kept prefix is inspected.
    pub fn append_request_body(&mut self, data: &[u8]) {
        self.d.body_len += data.len();
        let limit = self.rs.config.request_body_limit;
        let room = limit.saturating_sub(self.d.body.len());
        if data.len() > room {
            self.d.body_truncated = true;
        }
        self.d.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Whether the body went past `SecRequestBodyLimit`.
    pub fn request_body_over_limit(&self) -> bool {
        self.d.body_truncated
    }

    /// Phase 2: parses the body with its processor, then runs the rules. Call it for every
    /// request, with or without a body.
    pub fn process_request_body(&mut self) -> Option<Intervention> {
        if self.mode == EngineMode::Off {
            return None;
        }
        if let Some(i) = self.blocked() {
            return Some(i);
        }
        if self.d.body_truncated && self.rs.config.request_body_reject {
            let i = Intervention {
                status: 413,
                rule_id: None,
                msg: "Request body is larger than the configured limit".into(),
                redirect: None,
            };
            if let Some(i) = self.intervene(i) {
                return Some(i);
            }
        } else if self.d.body_truncated {
            self.d.inbound_data_error = true;
        }
        if self.d.body_access {
            self.parse_body();
        }
        // A body changes REQUEST_BODY and what it parses into (ARGS, FILES, XML); without
        // one, phase 1's unions and collection verdicts hold for phase 2 as they are.
        if !self.d.body.is_empty() {
            self.cache.clear_unions();
        }
        self.run_phase(2)
    }

    fn parse_body(&mut self) {
        let cfg = &self.rs.config;
        let limits = Limits {
            max_args: cfg.arguments_limit,
            max_depth: cfg.json_depth_limit,
        };
        let d = &mut self.d;
        if d.body.is_empty() {
            return;
        }
        let processor = d.body_processor.clone();
        let nofiles = cfg.request_body_nofiles_limit;
        if matches!(processor.as_deref(), Some("URLENCODED" | "JSON" | "XML"))
            && d.body.len() > nofiles
        {
            d.reqbody_error =
                Some("Request body excluding files is bigger than the maximum expected.".into());
            d.inbound_data_error = true;
            return;
        }
        match processor.as_deref() {
            Some("URLENCODED") => {
                let mut post = Vec::new();
                if !body::urlencoded(&d.body, cfg.arg_separator, limits, &mut post) {
                    d.urlencoded_error = true;
                }
                d.args_post = post;
            }
            Some("MULTIPART") => {
                let ct = header(&d.headers, b"content-type").to_vec();
                let m = body::multipart(&d.body, &ct, limits);
                d.args_post = m.args;
                d.files = m.files;
                d.part_headers = m.part_headers;
                d.multipart_flags = m.flags;
                if let Some(e) = m.error {
                    d.reqbody_error = Some(format!("Multipart parsing error: {e}"));
                }
            }
            Some("JSON") => {
                let mut post = Vec::new();
                if let Err(e) = body::json(&d.body, limits, &mut post) {
                    d.reqbody_error = Some(e);
                }
                d.args_post = post;
            }
            Some("XML") => match body::xml(&d.body, limits) {
                Ok(x) => d.xml = x,
                Err(e) => d.reqbody_error = Some(e),
            },
            Some(other) => {
                d.reqbody_error = Some(format!("Unknown request body processor: {other}"))
            }
            None => {}
        }
    }

    /// Phase 3 with the response status and headers.
    pub fn process_response_headers(
        &mut self,
        status: u16,
        headers: &[(String, Vec<u8>)],
    ) -> Option<Intervention> {
        self.d.response_status = status;
        self.d.response_headers = headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect();
        // The unions and collection verdicts are of request collections only: they hold.
        self.run_phase(3)
    }

    /// Whether the rules read this response's body (`SecResponseBodyAccess` and
    /// `SecResponseBodyMimeType`); meaningful after [`Self::process_response_headers`].
    pub fn wants_response_body(&self) -> bool {
        let cfg = &self.rs.config;
        if !cfg.response_body_access || self.mode == EngineMode::Off {
            return false;
        }
        let ct = header(&self.d.response_headers, b"content-type");
        let mime = String::from_utf8_lossy(ct.split(|&b| b == b';').next().unwrap_or_default())
            .trim()
            .to_ascii_lowercase();
        cfg.response_mime.contains(&mime)
    }

    /// Appends response body bytes (at most `SecResponseBodyLimit` are kept).
    pub fn append_response_body(&mut self, data: &[u8]) {
        self.d.response_body_len += data.len();
        let room = self
            .rs
            .config
            .response_body_limit
            .saturating_sub(self.d.response_body.len());
        self.d
            .response_body
            .extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Phase 4.
    pub fn process_response_body(&mut self) -> Option<Intervention> {
        self.run_phase(4)
    }

    /// Phase 5 (logging), then what happened.
    pub fn finish(mut self) -> Audit {
        self.run_phase(5);
        let score = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| self.d.tx.get(n.as_bytes()))
                .map_or(0, |v| atoll(v))
        };
        Audit {
            // CRS v4 keeps the inbound total in `blocking_inbound_anomaly_score`. CRS 3 keeps
            // it in `anomaly_score` and copies it to `inbound_anomaly_score` only when it
            // blocks, so a request under the threshold would read 0 there.
            inbound_score: score(&[
                "blocking_inbound_anomaly_score",
                "anomaly_score",
                "inbound_anomaly_score",
            ]),
            outbound_score: score(&["blocking_outbound_anomaly_score", "outbound_anomaly_score"]),
            unique_id: std::mem::take(&mut self.d.unique_id),
            mode: self.mode,
            matched: std::mem::take(&mut self.matched),
            intervention: self.intervention.take(),
            intervened: self.intervened,
            request_body_truncated: self.d.body_truncated,
            uri: self.d.head.target.clone(),
        }
    }

    /// The applied intervention, if the engine already stopped the request.
    fn blocked(&self) -> Option<Intervention> {
        if self.intervened {
            self.intervention.clone()
        } else {
            None
        }
    }

    /// Records an intervention; returns it when it applies (engine On).
    fn intervene(&mut self, i: Intervention) -> Option<Intervention> {
        if self.intervention.is_none() {
            self.intervention = Some(i.clone());
        }
        if self.mode == EngineMode::On {
            self.intervened = true;
            if let Some(cur) = &self.intervention {
                return Some(cur.clone());
            }
            return Some(i);
        }
        None
    }

    /// Whether the unions already computed for the rule's first link rule out a match (then
    /// the rule would do nothing: see [`Quick`]). `false` when a union is not known yet: the
    /// rule then runs and computes it.
    ///
    /// With the first link's verdict slot, a collection whose values with verdicts are known
    /// not to match it is ruled out by the union of its new values, as in `eval_link`.
    fn quick_skip(&self, q: &Quick, ids: &[u32], slot: Option<u32>) -> bool {
        let want = &ids[q.ids.0 as usize..q.ids.1 as usize];
        q.codes[..q.targets as usize].iter().all(|&code| {
            let code = u64::from(code);
            let v = &self.cache.verdicts;
            let new_only = |s| v.has_new(code) && v.seen_miss(code, s) == Some(true);
            let union = match self.cache.union(code, q.chain) {
                None if slot.is_some_and(new_only) => self.cache.union(code + NEW_UNION, q.chain),
                u => u,
            };
            union.is_some_and(|u| !u.has_any(&q.bytes, want))
        })
    }

    /// Whether no `ctl` of this transaction removed rules or targets, so the rules' fixed
    /// outcomes hold.
    fn rules_unchanged(&self) -> bool {
        self.removed_ids.is_empty()
            && self.removed_tags.is_empty()
            && self.removed_targets.is_empty()
    }

    /// Whether this transaction's `ctl` removals leave `rule` as it was loaded, so that what
    /// was settled, recorded or remembered of it holds. CRS v4's 941010 removes
    /// `REQUEST_FILENAME` from the XSS rules on nearly every request; that changes those rules
    /// only, not the hundreds after them.
    fn rule_unchanged(&self, rule: &Rule) -> bool {
        self.rules_unchanged()
            || (!self.rule_removed(rule)
                && !self.removed_targets.iter().any(|(by, _)| by.applies(rule)))
    }

    /// What a rule that always matches leaves (see [`super::fixed`]), as `eval_rule` would.
    fn apply_fixed(&mut self, m: &FixedMatch) {
        self.d.matched_vars.clear();
        for (name, value) in &m.vars {
            let slot = self.d.matched_vars.push();
            slot.0.clone_from(name);
            slot.1.clone_from(value);
            self.d.matched_var_name.clone_from(name);
            self.d.matched_var.clone_from(value);
        }
        if let Some(sev) = m.severity {
            self.d.highest_severity = self.d.highest_severity.min(sev);
        }
    }

    /// What a rule recorded at load does (see [`Replay`]), while the keys it reads hold the
    /// prelude's values.
    fn replay(&mut self, r: &Replay) {
        for (k, v) in &r.sets {
            if store_set(&mut self.d.tx, k, v) {
                self.d.tx_written.note(k);
            }
        }
        for k in &r.removes {
            if self.d.tx.remove(&k[..]).is_some() {
                self.d.tx_written.note(k);
            }
        }
        self.d.matched_vars.clear();
        for (name, value) in &r.vars {
            let slot = self.d.matched_vars.push();
            slot.0.clone_from(name);
            slot.1.clone_from(value);
        }
        if let Some((value, name)) = &r.last {
            self.d.matched_var.clone_from(value);
            self.d.matched_var_name.clone_from(name);
        }
        if let Some(sev) = r.severity {
            self.d.highest_severity = self.d.highest_severity.min(sev);
        }
        #[cfg(test)]
        {
            self.replayed += 1;
        }
    }

    /// Runs the rule (entry `i` of `entries`) from the prelude's state, recording what it
    /// reads and writes; its [`Replay`] when it read only named `TX` keys, changed only
    /// `TX`, and neither logged nor stopped anything.
    fn record(
        &mut self,
        rule: &Rule,
        prelude: &Prelude,
        entries: &[Entry],
        i: usize,
    ) -> Option<Replay> {
        self.d.tx.clone_from(&prelude.tx);
        self.matched.clear();
        let (matched, rec) = self.run_recorded(rule, false);
        let effect = self.effect(rule, rec, matched, entries, i);
        self.matched.clear();
        effect
    }

    /// Runs the rule while recording what it reads and writes (`request`: for the memo of
    /// request-dependent rules, see [`Recorder`]).
    fn run_recorded(&mut self, rule: &Rule, request: bool) -> (bool, Recorder) {
        *self.d.recorder.get_mut() = Recorder {
            request,
            ..Recorder::default()
        };
        let logged = self.matched.len();
        self.d.recording = true;
        let matched = self.eval_rule(rule);
        self.d.recording = false;
        let mut rec = std::mem::take(self.d.recorder.get_mut());
        let disruptive = match rule.disruptive {
            Disruptive::Block => self.rs.defaults[rule.phase as usize - 1].disruptive,
            d => d,
        };
        // A run that logged or would stop the request is not replayed.
        if self.matched.len() != logged || (matched && disruptive != Disruptive::Pass) {
            rec.impure = true;
        }
        (matched, rec)
    }

    /// What a recorded run of the rule (entry `i`) did, to replay; `None` when it read or
    /// did more than a replay can stand for.
    fn effect(
        &self,
        rule: &Rule,
        rec: Recorder,
        matched: bool,
        entries: &[Entry],
        i: usize,
    ) -> Option<Replay> {
        if rec.impure {
            return None;
        }
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        for k in rec.written {
            match self.d.tx.get(&k) {
                Some(v) => sets.push((k, v.clone())),
                None => removes.push(k),
            }
        }
        let last = rec
            .matched
            .then(|| (self.d.matched_var.clone(), self.d.matched_var_name.clone()));
        Some(Replay {
            reads: rec.reads,
            sels: rec.sels,
            next: if matched {
                after_match(entries, i, rule)
            } else {
                i + 1
            },
            severity: if matched { rule.severity } else { None },
            sets,
            removes,
            vars: self.d.matched_vars.as_slice().to_vec(),
            last,
        })
    }

    /// Runs a [`Fixed::Memo`] rule (entry `i` of phase `pi`): from the thread's memo when it
    /// holds the run for the same inputs and the request left the `TX` keys it read alone;
    /// else as written, recording the run (on the inputs' second sight) for next time.
    fn remembered(&mut self, rule: &Rule, pi: usize, entries: &[Entry], i: usize) -> Outcome {
        // A rule whose first link is known not to match costs less than its memo key.
        if let Some((link, slot)) = rule.links.first().and_then(|l| Some((l, l.verdict?))) {
            if self.known_misses(rule, link, slot) {
                return Outcome::Ran(false);
            }
        }
        // So does one ruled out by the scans of its collections, when they hold new values
        // (which give new memo keys: the memo would not answer).
        if let Some(link) = rule.links.first() {
            let new = |t: &Target| union_code(t).is_some_and(|c| self.cache.verdicts.has_new(c));
            if !self.d.recording && link.targets.iter().any(new) && self.unions_rule_out(link) {
                self.d.matched_vars.clear();
                return Outcome::Ran(false);
            }
        }
        let mut inputs = std::mem::take(&mut self.memo_buf);
        let owner: Owner = (self.rs.id, (pi << 24) | i);
        let outcome = if !self.d.tx_written.usable()
            || !memo_inputs(&self.d, &mut self.cache.verdicts, rule, &mut inputs)
        {
            Outcome::Ran(self.eval_rule(rule))
        } else {
            let h = memo::hash(owner, &inputs);
            let (next, seen) = RULE_MEMO.with(|m| {
                let m = m.borrow();
                let next = m.get(h, owner, &inputs).and_then(|r| {
                    if self.d.tx_written.may_have_changed(r) {
                        return None;
                    }
                    self.replay(r);
                    Some(r.next)
                });
                (next, m.seen(h))
            });
            match next {
                Some(next) => Outcome::Replayed(next),
                None if seen => {
                    let upto = self.d.tx_written.bytes.len();
                    let (matched, rec) = self.run_recorded(rule, true);
                    let before = self
                        .d
                        .tx_written
                        .changed_before(upto, &rec.reads, &rec.sels);
                    if !before {
                        if let Some(r) = self.effect(rule, rec, matched, entries, i) {
                            let size = r.size();
                            RULE_MEMO.with(|m| m.borrow_mut().offer(h, owner, &inputs, size, || r));
                        }
                    }
                    Outcome::Ran(matched)
                }
                None => {
                    RULE_MEMO.with(|m| m.borrow_mut().note(h));
                    Outcome::Ran(self.eval_rule(rule))
                }
            }
        };
        self.memo_buf = inputs;
        outcome
    }

    fn rule_removed(&self, rule: &Rule) -> bool {
        (!self.removed_ids.is_empty() && in_ranges(rule.id, &self.removed_ids))
            || (!self.removed_tags.is_empty()
                && rule
                    .tags
                    .iter()
                    .any(|t| self.removed_tags.iter().any(|r| r == t)))
    }

    fn run_phase(&mut self, phase: u8) -> Option<Intervention> {
        let pi = phase as usize - 1;
        if self.phases_done[pi] {
            return self.blocked();
        }
        self.phases_done[pi] = true;
        if self.mode == EngineMode::Off {
            return None;
        }
        if phase < 5 {
            if let Some(i) = self.blocked() {
                return Some(i);
            }
        }
        match self.allow {
            Some(Disruptive::Allow) if phase < 5 => return None,
            Some(Disruptive::AllowRequest) if phase <= 2 => return None,
            _ => {}
        }
        let rs = self.rs;
        let entries = &rs.phases[pi];
        let mut i = 0;
        if phase == 1 {
            if let Some(p) = &rs.prelude {
                // TX is empty here (phase 1 runs first): it becomes the prelude's — a
                // collection a finished transaction of this rule set left in that state, or
                // one reset to it.
                self.d.tx = match TX_POOL.with(|p| p.borrow_mut().pop()) {
                    Some((id, tx)) if id == rs.id => tx,
                    Some((_, mut tx)) => {
                        reset_from(&mut tx, &p.tx);
                        tx
                    }
                    None => p.tx.clone(),
                };
                self.d.tx_written.start();
                self.d.highest_severity = p.highest_severity;
                self.d.matched_var.clone_from(&p.matched_var);
                self.d.matched_var_name.clone_from(&p.matched_var_name);
                i = p.resume;
            }
        }
        while i < entries.len() {
            let Entry::Rule(rule) = &entries[i] else {
                i += 1;
                continue;
            };
            if self.mode == EngineMode::Off {
                return None;
            }
            match rs.fixed.phases[pi].get(i) {
                Some(&Fixed::Never) if self.rule_unchanged(rule) => {
                    self.d.matched_vars.clear();
                    i += 1;
                    continue;
                }
                Some(&Fixed::Always(m)) if self.rule_unchanged(rule) => {
                    let m = &rs.fixed.matches[m as usize];
                    self.apply_fixed(m);
                    i = m.next;
                    continue;
                }
                Some(&Fixed::Replay(r)) if self.rule_unchanged(rule) => {
                    let r = &rs.fixed.replays[r as usize];
                    if !self.d.tx_written.may_have_changed(r) {
                        self.replay(r);
                        i = r.next;
                        continue;
                    }
                }
                _ => {}
            }
            // The rule's first link is known not to match any value of its collections.
            let verdict_quick = &rs.quick[pi].verdicts[i];
            if let Some(v) = verdict_quick {
                if self
                    .cache
                    .verdicts
                    .all_miss(&v.codes[..v.targets as usize], v.slot)
                {
                    self.d.matched_vars.clear();
                    i += 1;
                    continue;
                }
            }
            if let Some(q) = &rs.quick[pi].entries[i] {
                if self.quick_skip(q, &rs.quick[pi].ids, verdict_quick.as_ref().map(|v| v.slot)) {
                    // What the unions show holds for each value: the values learn it now,
                    // not on a later request that evaluates the rule.
                    if let Some((link, slot)) =
                        rule.links.first().and_then(|l| Some((l, l.verdict?)))
                    {
                        self.record_misses(link, slot);
                    }
                    i += 1;
                    continue;
                }
            }
            let matched = if self.rule_removed(rule) {
                false
            } else if rs.fixed.phases[pi].get(i) == Some(&Fixed::Memo) && self.rule_unchanged(rule)
            {
                match self.remembered(rule, pi, entries, i) {
                    Outcome::Replayed(next) => {
                        i = next;
                        continue;
                    }
                    Outcome::Ran(matched) => matched,
                }
            } else {
                self.eval_rule(rule)
            };
            if !matched {
                i += 1;
                continue;
            }
            let def = &rs.defaults[pi];
            let disruptive = match rule.disruptive {
                Disruptive::Block => def.disruptive,
                d => d,
            };
            match disruptive {
                Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect => {
                    let redirect = if disruptive == Disruptive::Redirect {
                        rule.redirect.as_ref().map(|t| {
                            String::from_utf8_lossy(&self.expand(t, Some(rule))).into_owned()
                        })
                    } else {
                        None
                    };
                    let status = rule
                        .status
                        .or(if rule.disruptive == Disruptive::Block {
                            def.status
                        } else {
                            None
                        })
                        .unwrap_or(if disruptive == Disruptive::Redirect {
                            302
                        } else {
                            403
                        });
                    let msg = rule
                        .msg
                        .as_ref()
                        .map(|t| String::from_utf8_lossy(&self.expand(t, Some(rule))).into_owned())
                        .unwrap_or_default();
                    let iv = Intervention {
                        status,
                        rule_id: Some(rule.id),
                        msg,
                        redirect,
                    };
                    if let Some(applied) = self.intervene(iv) {
                        return if phase < 5 { Some(applied) } else { None };
                    }
                }
                Disruptive::Allow | Disruptive::AllowRequest => {
                    if self.mode == EngineMode::On {
                        self.allow = Some(disruptive);
                        return None;
                    }
                }
                Disruptive::AllowPhase => {
                    if self.mode == EngineMode::On {
                        return None;
                    }
                }
                Disruptive::Pass | Disruptive::Block => {}
            }
            i = after_match(entries, i, rule);
        }
        None
    }

    /// Runs the start of phase 1 that is the same for every request — rules that read only
    /// TX (which starts empty) and constants, and write only TX: CRS's setup defaults and
    /// score resets — and returns the state it leaves, which [`Transaction::run_phase`]
    /// starts from instead of running those rules again. It stops at the first rule that
    /// reads the request, or would log or disrupt.
    pub(super) fn prelude(mut self) -> Prelude {
        let entries = &self.rs.phases[0];
        let mut i = 0;
        while i < entries.len() {
            let Entry::Rule(rule) = &entries[i] else {
                i += 1;
                continue;
            };
            if !constant_rule(rule) {
                break;
            }
            let before = (self.d.tx.clone(), self.d.highest_severity);
            let (var, name) = (self.d.matched_var.clone(), self.d.matched_var_name.clone());
            if !self.eval_rule(rule) {
                i += 1;
                continue;
            }
            if rule.disruptive != Disruptive::Pass || !self.matched.is_empty() {
                (self.d.tx, self.d.highest_severity) = before;
                (self.d.matched_var, self.d.matched_var_name) = (var, name);
                break;
            }
            i = after_match(entries, i, rule);
        }
        Prelude {
            tx: std::mem::take(&mut self.d.tx),
            highest_severity: self.d.highest_severity,
            matched_var: std::mem::take(&mut self.d.matched_var),
            matched_var_name: std::mem::take(&mut self.d.matched_var_name),
            resume: i,
        }
    }

    /// Settles the rules whose outcome is the same on every request, and records those whose
    /// outcome is the same while the request leaves what they read alone (see
    /// [`super::fixed`]): each is evaluated once, from the state the prelude leaves.
    pub(super) fn fixed_rules(mut self, prelude: &Prelude) -> FixedRules {
        let rs = self.rs;
        let writes = TxWrites::of(&rs.phases, prelude.resume);
        let mut out = FixedRules::default();
        for (pi, entries) in rs.phases.iter().enumerate() {
            let mut table = vec![Fixed::No; entries.len()];
            for (i, e) in entries.iter().enumerate() {
                let Entry::Rule(rule) = e else { continue };
                if pi == 0 && i < prelude.resume {
                    continue;
                }
                if !writes.rule_fixed(rule) {
                    if let Some(r) = self.record(rule, prelude, entries, i) {
                        out.replays.push(r);
                        table[i] = Fixed::Replay((out.replays.len() - 1) as u32);
                    } else if TxWrites::rule_memo(rule) {
                        table[i] = Fixed::Memo;
                    }
                    continue;
                }
                self.d.tx.clone_from(&prelude.tx);
                table[i] = if self.eval_rule(rule) {
                    let vars = self.d.matched_vars.as_slice().to_vec();
                    out.matches.push(FixedMatch {
                        next: after_match(entries, i, rule),
                        severity: rule.severity,
                        vars,
                    });
                    Fixed::Always((out.matches.len() - 1) as u32)
                } else {
                    Fixed::Never
                };
            }
            out.phases[pi] = table;
        }
        out
    }

    /// Evaluates every link of the rule; on a full match records it (when it logs).
    fn eval_rule(&mut self, rule: &Rule) -> bool {
        self.d.matched_vars.clear();
        for link in rule.links.iter() {
            if !self.eval_link(rule, link) {
                self.d.matched_vars.clear();
                return false;
            }
        }
        if let Some(sev) = rule.severity {
            self.d.highest_severity = self.d.highest_severity.min(sev);
        }
        if rule.log {
            let msg = rule
                .msg
                .as_ref()
                .map(|t| self.expand(t, Some(rule)))
                .unwrap_or_default();
            let logdata = rule
                .logdata
                .as_ref()
                .map(|t| self.expand(t, Some(rule)))
                .unwrap_or_default();
            let v = &self.d.matched_var;
            let value = String::from_utf8_lossy(&v[..v.len().min(MAX_MATCHED_VALUE)]).into_owned();
            let disruptive = match rule.disruptive {
                Disruptive::Block => self.rs.defaults[rule.phase as usize - 1].disruptive,
                d => d,
            };
            self.matched.push(MatchedRule {
                id: rule.id,
                phase: rule.phase,
                file: rule.file.display().to_string(),
                line: rule.line,
                msg: String::from_utf8_lossy(&msg).into_owned(),
                logdata: String::from_utf8_lossy(&logdata).into_owned(),
                severity: rule.severity,
                tags: rule.tags.clone(),
                ver: rule.ver.clone(),
                matched_var: String::from_utf8_lossy(&self.d.matched_var_name).into_owned(),
                matched_value: value,
                disruptive: matches!(
                    disruptive,
                    Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect
                ),
            });
        }
        true
    }

    fn eval_link(&mut self, rule: &Rule, link: &Link) -> bool {
        if self.d.recording {
            // Before the caches below answer for whole collections without reading them.
            for t in &link.targets {
                self.d.read_target(t);
            }
        }
        if link.unconditional {
            for a in &link.actions {
                self.action(rule, a);
            }
            return true;
        }
        if let Some(slot) = link.verdict {
            if self.known_misses(rule, link, slot) {
                #[cfg(test)]
                {
                    self.passed_by_verdict += 1;
                }
                return false;
            }
        }
        let dynamic;
        let op: Option<&Operator> = match &link.op {
            Op::Static(op) => Some(op),
            Op::Inert => None,
            Op::Dynamic { name, arg, dir } => {
                let expanded = self.expand(arg, Some(rule));
                dynamic = dynamic_operator(link, name, &expanded, dir);
                dynamic.as_deref()
            }
        };
        if self.unions_rule_out(link) {
            return false;
        }
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        let mut path = std::mem::take(&mut self.path_buf);
        let mut known_to_miss = 0usize;
        {
            let Transaction {
                rs,
                d,
                cache,
                removed_targets,
                ..
            } = self;
            let rs: &RuleSet = rs;
            let d: &Data = d;
            // Operators compiled at load keep their answers for repeated values.
            let owner = match &link.op {
                Op::Static(o) if o.worth_remembering() => {
                    Some((rs.id, o as *const Operator as usize))
                }
                _ => None,
            };
            for target in &link.targets {
                let before = found.len();
                let mut count = 0usize;
                let mut visit = |var: Var, key: &[u8], value: &[u8], ckey: Option<u64>| {
                    if passed_over(link, removed_targets, rule, var, key) {
                        return;
                    }
                    if target.count {
                        count += 1;
                        return;
                    }
                    // A value known not to match the link adds nothing; one whose verdict
                    // is not known yet gets it.
                    let unknown = match (link.verdict, ckey) {
                        (Some(slot), Some(k)) => match cache.verdicts.get(k, value, slot) {
                            Some(false) => {
                                known_to_miss += 1;
                                return;
                            }
                            Some(true) => None,
                            None => Some((slot, k)),
                        },
                        _ => None,
                    };
                    if found.len() >= 1000 {
                        return;
                    }
                    let n = found.len();
                    eval_value(
                        rs,
                        cache,
                        &mut path,
                        link,
                        (op, owner),
                        var,
                        key,
                        value,
                        ckey,
                        &mut found,
                    );
                    if let Some((slot, k)) = unknown {
                        cache.verdicts.set(k, value, slot, found.len() > n);
                    }
                };
                each_value(d, target, &mut visit);
                if target.count {
                    found.truncate(before);
                    let mut digits = [0u8; 20];
                    let n = decimal(count, &mut digits);
                    eval_value(
                        rs,
                        cache,
                        &mut path,
                        link,
                        (op, None),
                        target.var,
                        b"",
                        n,
                        None,
                        &mut found,
                    );
                    if let Some(f) = found.get_mut(before) {
                        f.count = true;
                    }
                }
            }
        }
        self.path_buf = path;
        #[cfg(test)]
        {
            self.values_known_to_miss += known_to_miss;
        }
        let _ = known_to_miss;
        let matched = !found.is_empty();
        // Actions run once per matched value, with that value's captures (as ModSecurity v3).
        for f in found.as_slice() {
            if link.capture && !f.captures.is_empty() {
                for (c, key) in f.captures.iter().zip(CAPTURE_KEYS) {
                    let changed = store_set(&mut self.d.tx, key, c);
                    self.d.wrote_tx(key, changed);
                }
            }
            let name = &mut self.d.matched_var_name;
            name.clear();
            if f.count {
                name.push(b'&');
            }
            name.extend_from_slice(f.var.name().as_bytes());
            if !f.key.is_empty() && !f.count {
                name.push(b':');
                name.extend_from_slice(&f.key);
            }
            if self.d.matched_vars.len() < MAX_MATCHED_VARS {
                let slot = self.d.matched_vars.push();
                slot.0.clone_from(name);
                slot.1.clone_from(&f.value);
            }
            self.d.matched_var.clone_from(&f.value);
            if self.d.recording {
                self.d.recorder.get_mut().matched = true;
            }
            for a in &link.actions {
                self.action(rule, a);
            }
        }
        self.found = found;
        matched
    }

    /// Whether every value the link reads is known, from earlier requests, not to match it
    /// (see [`super::verdict`]).
    fn known_misses(&mut self, rule: &Rule, link: &Link, slot: u32) -> bool {
        let Transaction {
            d,
            cache,
            removed_targets,
            ..
        } = self;
        link.targets.iter().all(|target| {
            // The whole collection first: one bit once all its values are known. A target
            // that selects members (`REQUEST_HEADERS:User-Agent`) is known from its own
            // values when the collection's others were never run through this link.
            if let Some(code) = union_code(target) {
                collection_verdicts(d, cache, target, code);
                if cache.verdicts.collection_miss(code, slot) == Some(true) {
                    return true;
                }
            }
            let mut all = true;
            each_value(d, target, &mut |var, key, value, ckey| {
                if !all || passed_over(link, removed_targets, rule, var, key) {
                    return;
                }
                all = ckey.is_some_and(|k| cache.verdicts.get(k, value, slot) == Some(false));
            });
            all
        })
    }

    /// Whether no value of the link's collections contains a literal it requires (with
    /// multiMatch: after no step of its transformation chain); the values then learn that
    /// they do not match it.
    fn unions_rule_out(&mut self, link: &Link) -> bool {
        let Some(want) = link.union_prefilter() else {
            return false;
        };
        let mut path = std::mem::take(&mut self.path_buf);
        if link.multi_match {
            self.rs.chains.path_nodes(link.chain, &mut path);
            path.push(0);
        } else {
            path.clear();
            path.push(link.chain);
        }
        let Transaction { rs, d, cache, .. } = self;
        // A collection whose values with verdicts are all known not to match the link needs
        // only its new values scanned (on a visit's later requests, the one or two values
        // that changed).
        let which = |cache: &mut Cache, t: &Target| match (link.verdict, union_code(t)) {
            (Some(slot), Some(code)) => {
                collection_verdicts(d, cache, t, code);
                match cache.verdicts.seen_miss(code, slot) {
                    Some(true) => Values::New,
                    _ => Values::All,
                }
            }
            _ => Values::All,
        };
        let (mut by_new, mut all_new) = (false, true);
        let skip = path.iter().all(|&chain| {
            link.targets.iter().all(|t| {
                let which = which(cache, t);
                by_new |= which == Values::New;
                all_new &= which == Values::New;
                collection_may_match(rs, d, cache, t, (chain, which), want) == Some(false)
            })
        });
        self.path_buf = path;
        #[cfg(test)]
        {
            self.passed_by_new_values += usize::from(skip && by_new);
        }
        let _ = by_new;
        // Ruled out on new values alone, the others already say so, and new values have no
        // verdicts to record yet.
        if skip && !all_new {
            if let Some(slot) = link.verdict {
                self.record_misses(link, slot);
            }
        }
        skip
    }

    /// Records that no value of the link's targets matches it (their literals are absent).
    fn record_misses(&mut self, link: &Link, slot: u32) {
        let Transaction { d, cache, .. } = self;
        for target in &link.targets {
            each_value(d, target, &mut |_, _, value, ckey| {
                if let Some(k) = ckey {
                    cache.verdicts.set(k, value, slot, false);
                }
            });
        }
    }

    fn action(&mut self, rule: &Rule, a: &Action) {
        match a {
            Action::SetVar {
                coll,
                key,
                op,
                value,
            } => {
                let mut k = std::mem::take(&mut self.key_buf);
                let mut v = std::mem::take(&mut self.value_buf);
                k.clear();
                v.clear();
                self.expand_into(key, Some(rule), &mut k);
                k.make_ascii_lowercase();
                if *op != SetOp::Delete {
                    self.expand_into(value, Some(rule), &mut v);
                }
                let tx = store_index(*coll).is_none();
                if tx && matches!(op, SetOp::Add | SetOp::Sub) {
                    self.d.read_tx(&k);
                } else if !tx {
                    self.d.impure();
                }
                let map = match store_index(*coll) {
                    Some(i) => &mut self.d.stores[i],
                    None => &mut self.d.tx,
                };
                let changed = match op {
                    SetOp::Delete => map.remove(&k[..]).is_some(),
                    SetOp::Set => store_set(map, &k, &v),
                    SetOp::Add | SetOp::Sub => {
                        let cur = map.get(&k[..]).map_or(0, |x| atoll(x));
                        let n = atoll(&v);
                        let sum = if *op == SetOp::Add {
                            cur.saturating_add(n)
                        } else {
                            cur.saturating_sub(n)
                        };
                        v.clear();
                        let _ = write!(v, "{sum}");
                        store_set(map, &k, &v)
                    }
                };
                if tx {
                    self.d.wrote_tx(&k, changed);
                }
                self.key_buf = k;
                self.value_buf = v;
            }
            Action::SetEnv { key, value } => {
                self.d.impure();
                let k = self.expand(key, Some(rule)).to_ascii_lowercase();
                let v = self.expand(value, Some(rule));
                if self.d.stores[5].len() < MAX_STORE_KEYS {
                    self.d.stores[5].insert(k, v);
                }
            }
            Action::Ctl(c) => {
                self.d.impure();
                self.ctl(c)
            }
        }
    }

    fn ctl(&mut self, c: &Ctl) {
        match c {
            Ctl::RemoveById(ids) => self.removed_ids.extend(ids.iter().copied()),
            Ctl::RemoveByTag(tag) => self.removed_tags.push(tag.clone()),
            Ctl::RemoveTargetById(ids, t) => self
                .removed_targets
                .push((RemovedBy::Ids(ids.clone()), t.clone())),
            Ctl::RemoveTargetByTag(tag, t) => self
                .removed_targets
                .push((RemovedBy::Tag(tag.clone(), tag_bit(tag)), t.clone())),
            Ctl::RuleEngine(m) => {
                self.mode = match (*m, self.forced_detection) {
                    (EngineMode::On, true) => EngineMode::DetectionOnly,
                    (m, _) => m,
                }
            }
            Ctl::BodyProcessor(p) => self.d.body_processor = Some(p.clone()),
            Ctl::BodyAccess(on) => self.d.body_access = *on,
            Ctl::ForceBodyVariable(on) => self.d.force_body_variable = *on,
            Ctl::NoEffect => {}
        }
    }

    /// Expands a template's macros.
    fn expand(&self, t: &Template, rule: Option<&Rule>) -> Vec<u8> {
        let mut out = Vec::new();
        self.expand_into(t, rule, &mut out);
        out
    }

    /// Appends a template's expansion to `out`.
    fn expand_into(&self, t: &Template, rule: Option<&Rule>, out: &mut Vec<u8>) {
        for p in &t.parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                Part::Var(v, key) => self.macro_value(*v, key.as_deref(), out),
                Part::Rule(field) => {
                    if let Some(r) = rule {
                        match field.as_str() {
                            "id" => out.extend_from_slice(r.id.to_string().as_bytes()),
                            "msg" => {
                                if let Some(m) = &r.msg {
                                    if m.literal().is_some() {
                                        self.expand_into(m, None, out);
                                    }
                                }
                            }
                            "severity" => {
                                if let Some(s) = r.severity {
                                    out.extend_from_slice(s.to_string().as_bytes())
                                }
                            }
                            "phase" => out.extend_from_slice(r.phase.to_string().as_bytes()),
                            "ver" => {
                                out.extend_from_slice(r.ver.as_deref().unwrap_or("").as_bytes())
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    fn macro_value(&self, v: Var, key: Option<&[u8]>, out: &mut Vec<u8>) {
        match (v, key) {
            (Var::Tx, Some(k)) => {
                self.d.read_tx(k);
                if let Some(x) = self.d.tx.get(k) {
                    out.extend_from_slice(x);
                }
            }
            (v, Some(k)) if store_index(v).is_some() => {
                self.d.read_other(v);
                if let Some(x) = store_index(v).and_then(|i| self.d.stores[i].get(k)) {
                    out.extend_from_slice(x);
                }
            }
            _ => {
                self.d.read_other(v);
                let target = Target {
                    var: v,
                    sel: match key {
                        Some(k) => Sel::Name(k.to_vec()),
                        None => Sel::All,
                    },
                    count: false,
                };
                let mut done = false;
                each_value(&self.d, &target, &mut |_, _, value: &[u8], _| {
                    if !done {
                        out.extend_from_slice(value);
                        done = true;
                    }
                });
            }
        }
    }
}

/// The entry to go on at after `rule` (at `i`) matched without stopping the phase:
/// its `skipAfter` marker, else the next entry past `skip` rules.
fn after_match(entries: &[Entry], i: usize, rule: &Rule) -> usize {
    if rule.skip_after.is_some() {
        return rule.skip_to;
    }
    let mut i = i + 1;
    let mut left = rule.skip;
    while i < entries.len() && left > 0 {
        if matches!(entries[i], Entry::Rule(_)) {
            left -= 1;
        }
        i += 1;
    }
    i
}

/// The state the constant start of phase 1 leaves (see [`Transaction::prelude`]).
#[derive(Debug, Default)]
pub struct Prelude {
    tx: FxMap<Vec<u8>, Vec<u8>>,
    highest_severity: u8,
    matched_var: Vec<u8>,
    matched_var_name: Vec<u8>,
    /// The phase-1 entry the request-dependent rules start at.
    pub(super) resume: usize,
}

/// Whether a rule reads nothing but TX and constants and writes nothing but TX, so it does
/// the same on every request when TX starts the same.
fn constant_rule(rule: &Rule) -> bool {
    let template = |t: &Template| t.reads_only_tx();
    rule.links.iter().all(|l| {
        l.targets
            .iter()
            .chain(&l.excludes)
            .all(|t| t.var == Var::Tx)
            && match &l.op {
                Op::Static(_) | Op::Inert => true,
                Op::Dynamic { arg, .. } => template(arg),
            }
            && l.actions.iter().all(|a| match a {
                Action::SetVar {
                    coll: Var::Tx,
                    key,
                    value,
                    ..
                } => template(key) && template(value),
                _ => false,
            })
    })
}

/// Most operators [`dynamic_operator`] keeps compiled per thread.
const DYNAMIC_OPERATORS: usize = 128;
/// Longer expanded arguments are compiled each time, not kept: an argument built from
/// request data must not make the cache hold large compiled regexes.
const DYNAMIC_ARG_MAX: usize = 1024;

/// A link's operator compiled for one expansion of its argument: (name, directory,
/// expanded argument, operator).
type Dynamic = (
    String,
    std::path::PathBuf,
    Vec<u8>,
    Option<std::rc::Rc<Operator>>,
);

thread_local! {
    /// The operator each link whose argument holds a macro last compiled, by the link's
    /// address: the expansion is the same on most requests (`%{tx.allowed_methods}` from
    /// the setup), and compiling it on each request cost more than running it.
    static DYNAMIC: std::cell::RefCell<FxMap<usize, Dynamic>> =
        std::cell::RefCell::new(FxMap::default());
}

/// The operator `name` of `link` with its macro-expanded argument, compiled once per thread
/// and argument; `None` when the argument does not compile (the link then matches nothing).
fn dynamic_operator(
    link: &Link,
    name: &str,
    arg: &[u8],
    dir: &std::path::Path,
) -> Option<std::rc::Rc<Operator>> {
    let from_file = name
        .get(name.len().saturating_sub(8)..)
        .is_some_and(|end| end.eq_ignore_ascii_case("fromfile"));
    let compile = || {
        Operator::compile(name, &String::from_utf8_lossy(arg), dir)
            .ok()
            .map(std::rc::Rc::new)
    };
    if from_file || arg.len() > DYNAMIC_ARG_MAX {
        // The file may change between rule reloads: read it each time.
        return compile();
    }
    // The name and directory are compared too: a reloaded rule set may put another link
    // at a freed link's address.
    let at = link as *const Link as usize;
    DYNAMIC.with(|cache| {
        if let Some((n, d, a, op)) = cache.borrow().get(&at) {
            if a.as_slice() == arg && n == name && d == dir {
                return op.clone();
            }
        }
        let op = compile();
        let mut cache = cache.borrow_mut();
        // Links of rule sets since replaced: bound the memory.
        if cache.len() >= DYNAMIC_OPERATORS && !cache.contains_key(&at) {
            cache.clear();
        }
        cache.insert(
            at,
            (
                name.to_string(),
                dir.to_path_buf(),
                arg.to_vec(),
                op.clone(),
            ),
        );
        op
    })
}

/// Whether a value is left out of the link: excluded by its rule (`!ARGS:x`) or by a `ctl`
/// of this transaction.
fn passed_over(
    link: &Link,
    removed: &[(RemovedBy, Target)],
    rule: &Rule,
    var: Var,
    key: &[u8],
) -> bool {
    (!link.excludes.is_empty() && link.excludes.iter().any(|x| x.excludes(var, key)))
        || (!removed.is_empty() && target_removed(removed, rule, var, key))
}

fn target_removed(removed: &[(RemovedBy, Target)], rule: &Rule, var: Var, key: &[u8]) -> bool {
    removed
        .iter()
        .any(|(by, t)| by.applies(rule) && t.excludes(var, key))
}

/// How [`Transaction::remembered`] ran a rule.
enum Outcome {
    /// From the memo: go on at this entry.
    Replayed(usize),
    /// As written: whether it matched.
    Ran(bool),
}

/// Bytes of inputs and effects a thread's memo of rule runs holds before it starts over.
const RULE_MEMO_BUDGET: usize = 4 << 20;

thread_local! {
    /// Runs of [`Fixed::Memo`] rules by their inputs (see [`super::fixed`]).
    static RULE_MEMO: std::cell::RefCell<Memo<Replay>> =
        const { std::cell::RefCell::new(Memo::new(RULE_MEMO_BUDGET)) };
}

/// Writes the request values the rule's targets hold (every link's, `TX` aside) to `out`,
/// each with its key and length: the memo key of a [`Fixed::Memo`] rule. `false` when they
/// are too long to remember, or one of them is new to the thread (no verdicts: then the
/// memo cannot know these inputs, and they are remembered from their next sight on).
fn memo_inputs(d: &Data, verdicts: &mut Verdicts, rule: &Rule, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut new = false;
    for t in rule.links.iter().flat_map(|l| &l.targets) {
        if t.var == Var::Tx {
            continue;
        }
        out.push(0xff);
        // Values are looked at only in a collection known to hold new ones.
        let look = union_code(t).is_some_and(|c| verdicts.has_new(c));
        each_value(d, t, &mut |_, key, value, ckey| {
            if out.len() <= memo::MAX && !new {
                new = look && ckey.is_some_and(|k| verdicts.is_new(k, value));
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
        });
        if out.len() > memo::MAX || new {
            return false;
        }
    }
    true
}

/// Bytes of values a thread's memo of operator answers holds before it starts over.
const OP_MEMO_BUDGET: usize = 4 << 20;

thread_local! {
    /// Operators' answers on values seen on more than one request (see [`super::memo`]).
    static OP_MEMO: std::cell::RefCell<Memo<bool>> =
        const { std::cell::RefCell::new(Memo::new(OP_MEMO_BUDGET)) };
}

/// `op` on `bytes`, from the memo when it knows the answer: a value it does not match is
/// answered at once; one it matches is answered at once when no captures are wanted (a
/// match with captures runs again, to take them).
fn eval_remembered(op: &Operator, owner: Owner, bytes: &[u8], capture: bool) -> Option<OpMatch> {
    let h = memo::hash(owner, bytes);
    match OP_MEMO.with(|m| m.borrow().get(h, owner, bytes).copied()) {
        Some(false) => return None,
        Some(true) if !capture => return Some(OpMatch::default()),
        Some(true) => return op.eval(bytes, true),
        None => {}
    }
    let m = op.eval(bytes, capture);
    OP_MEMO.with(|memo| memo.borrow_mut().offer(h, owner, bytes, 0, || m.is_some()));
    m
}

/// Transforms one value, runs the operator, records a match.
#[allow(clippy::too_many_arguments)]
fn eval_value(
    rs: &RuleSet,
    cache: &mut Cache,
    path: &mut Vec<ChainId>,
    link: &Link,
    (op, owner): (Option<&Operator>, Option<Owner>),
    var: Var,
    key: &[u8],
    value: &[u8],
    ckey: Option<u64>,
    found: &mut Reuse<Found>,
) {
    let capture = link.capture;
    // Runs the operator (unless the prefilter rules a match out); the captures on a match.
    let run = |may: bool, bytes: &[u8]| -> Option<Vec<Vec<u8>>> {
        let m = match (may, op, owner) {
            (false, _, _) | (_, None, _) => None,
            (true, Some(o), Some(owner)) if memo::fits(bytes) => {
                eval_remembered(o, owner, bytes, capture)
            }
            (true, Some(o), _) => o.eval(bytes, capture),
        };
        match (m, link.negated) {
            (Some(m), false) => Some(m.captures),
            (None, true) => Some(Vec::new()),
            _ => None,
        }
    };
    let push = |found: &mut Reuse<Found>, bytes: &[u8], captures: Vec<Vec<u8>>| {
        let f = found.push();
        f.var = var;
        refill(&mut f.key, key);
        f.count = false;
        refill(&mut f.value, bytes);
        f.captures = captures;
    };
    let uncached_may = |bytes: &[u8]| match (&link.prefilter, &rs.literals) {
        (Some(want), Some(lits)) => {
            let mut scan = super::prefilter::Scan::default();
            lits.scan(bytes, &mut scan);
            scan.satisfies(want)
        }
        _ => true,
    };
    match ckey {
        Some(k) => {
            let step = |cache: &mut Cache, node: ChainId| -> (u32, bool) {
                let data = cache.transformed(&rs.chains, k, value, node);
                let may = match (&link.prefilter, &rs.literals) {
                    (Some(want), Some(lits)) => cache.has_literal(lits, k, node, data, value, want),
                    _ => true,
                };
                (data, may)
            };
            if link.multi_match {
                rs.chains.path_nodes(link.chain, path);
                let mut last: Option<u32> = None;
                for node in std::iter::once(0).chain(path.iter().copied()) {
                    let (data, may) = step(cache, node);
                    if last == Some(data) {
                        continue;
                    }
                    last = Some(data);
                    let bytes = cache.bytes(data, value);
                    if let Some(c) = run(may, bytes) {
                        push(found, bytes, c);
                        return;
                    }
                }
            } else {
                let (data, may) = step(cache, link.chain);
                let bytes = cache.bytes(data, value);
                if let Some(c) = run(may, bytes) {
                    push(found, bytes, c);
                }
            }
        }
        None => {
            let mut cur: Cow<[u8]> = Cow::Borrowed(value);
            if link.multi_match {
                if let Some(c) = run(uncached_may(&cur), &cur) {
                    push(found, &cur, c);
                    return;
                }
            }
            rs.chains.path_nodes(link.chain, path);
            for &node in path.iter() {
                let next = rs.chains.node(node).1.apply(&cur).into_owned();
                cur = Cow::Owned(next);
                if link.multi_match {
                    if let Some(c) = run(uncached_may(&cur), &cur) {
                        push(found, &cur, c);
                        return;
                    }
                }
            }
            if !link.multi_match {
                if let Some(c) = run(uncached_may(&cur), &cur) {
                    push(found, &cur, c);
                }
            }
        }
    }
}

/// What [`each_value`] calls for each value: (variable, key, value, cache key).
type Visit<'v> = dyn FnMut(Var, &[u8], &[u8], Option<u64>) + 'v;

/// Calls `f(var, key, value, cache key)` for every value a target names.
fn each_value<'a>(d: &'a Data, t: &Target, f: &mut Visit<'_>) {
    let var = t.var;
    let sel = &t.sel;
    let pairs = |store: u64, p: &'a [Pair], f: &mut Visit<'_>| {
        for (i, (k, v)) in p.iter().enumerate() {
            if sel.matches(k) {
                f(var, k, v, Some(keys::of(store, i, false)));
            }
        }
    };
    let names = |store: u64, p: &'a [Pair], f: &mut Visit<'_>| {
        for (i, (k, _)) in p.iter().enumerate() {
            if sel.matches(k) {
                f(var, k, k, Some(keys::of(store, i, true)));
            }
        }
    };
    let scalar =
        |store: u64, v: &[u8], f: &mut Visit<'_>| f(var, b"", v, Some(keys::of(store, 0, false)));
    let owned = |v: String, f: &mut Visit<'_>| f(var, b"", v.as_bytes(), None);
    let map = |m: &'a FxMap<Vec<u8>, Vec<u8>>, f: &mut Visit<'_>| match sel {
        Sel::Name(n) => {
            if let Some((k, v)) = m.get_key_value(n) {
                f(var, k, v, None)
            }
        }
        _ => {
            for (k, v) in m {
                if sel.matches(k) {
                    f(var, k, v, None)
                }
            }
        }
    };
    match var {
        Var::Args => {
            pairs(keys::GET, &d.args_get, f);
            pairs(keys::POST, &d.args_post, f);
        }
        Var::ArgsNames => {
            names(keys::GET, &d.args_get, f);
            names(keys::POST, &d.args_post, f);
        }
        Var::ArgsGet => pairs(keys::GET, &d.args_get, f),
        Var::ArgsGetNames => names(keys::GET, &d.args_get, f),
        Var::ArgsPost => pairs(keys::POST, &d.args_post, f),
        Var::ArgsPostNames => names(keys::POST, &d.args_post, f),
        Var::ArgsCombinedSize => {
            let n: usize = d
                .args_get
                .iter()
                .chain(&d.args_post)
                .map(|(k, v)| k.len() + v.len())
                .sum();
            owned(n.to_string(), f)
        }
        Var::RequestHeaders => pairs(keys::HEADERS, &d.headers, f),
        Var::RequestHeadersNames => names(keys::HEADERS, &d.headers, f),
        Var::RequestCookies => pairs(keys::COOKIES, &d.cookies, f),
        Var::RequestCookiesNames => names(keys::COOKIES, &d.cookies, f),
        Var::RequestUri => scalar(keys::URI, &d.uri.uri, f),
        Var::RequestUriRaw => scalar(keys::URI_RAW, d.head.target.as_bytes(), f),
        Var::RequestFilename | Var::PathInfo => scalar(keys::FILENAME, &d.uri.filename, f),
        Var::RequestBasename => scalar(keys::BASENAME, &d.uri.basename, f),
        Var::RequestLine => scalar(keys::LINE, &d.request_line, f),
        Var::RequestMethod => scalar(keys::METHOD, d.head.method.as_bytes(), f),
        Var::RequestProtocol => scalar(keys::PROTOCOL, d.head.protocol.as_bytes(), f),
        Var::QueryString => scalar(keys::QUERY, &d.uri.query, f),
        Var::RequestBody => {
            // The raw body for urlencoded and unrecognised bodies, or when forced
            // (`ctl:forceRequestBodyVariable`), as ModSecurity v2 and Coraza.
            let visible = d.force_body_variable
                || matches!(d.body_processor.as_deref(), None | Some("URLENCODED"));
            if visible && !d.body.is_empty() {
                scalar(keys::BODY, &d.body, f)
            }
        }
        Var::RequestBodyLength => {
            if !d.body.is_empty() {
                owned(d.body.len().to_string(), f)
            }
        }
        Var::FullRequest => {
            let mut s = d.request_line.clone();
            s.push(b'\n');
            for (k, v) in &d.headers {
                s.extend_from_slice(k);
                s.extend_from_slice(b": ");
                s.extend_from_slice(v);
                s.push(b'\n');
            }
            s.push(b'\n');
            s.extend_from_slice(&d.body);
            f(var, b"", &s, None)
        }
        Var::FullRequestLength => {
            let n = d.request_line.len()
                + 2
                + d.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 3)
                    .sum::<usize>()
                + d.body.len();
            owned(n.to_string(), f)
        }
        Var::Files | Var::MultipartFilename => {
            for (i, (k, name, _)) in d.files.iter().enumerate() {
                if sel.matches(k) {
                    f(var, k, name, Some(keys::of(keys::FILES, i, false)))
                }
            }
        }
        Var::FilesNames | Var::MultipartName => {
            for (i, (k, _, _)) in d.files.iter().enumerate() {
                if sel.matches(k) {
                    f(var, k, k, Some(keys::of(keys::FILES, i, true)))
                }
            }
        }
        Var::FilesSizes => {
            for (k, _, n) in &d.files {
                if sel.matches(k) {
                    f(var, k, n.to_string().as_bytes(), None)
                }
            }
        }
        Var::FilesCombinedSize => owned(d.files.iter().map(|x| x.2).sum::<usize>().to_string(), f),
        Var::FilesTmpNames | Var::FilesTmpContent => {}
        Var::Xml => {
            if !matches!(sel, Sel::XmlAttrs) {
                for (i, v) in d.xml.text.iter().enumerate() {
                    f(var, b"/*", v, Some(keys::of(keys::XML_TEXT, i, false)))
                }
            } else {
                for (i, v) in d.xml.attrs.iter().enumerate() {
                    f(var, b"//@*", v, Some(keys::of(keys::XML_ATTR, i, false)))
                }
            }
        }
        Var::Tx => map(&d.tx, f),
        Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource | Var::Env => {
            if let Some(i) = store_index(var) {
                map(&d.stores[i], f)
            }
        }
        Var::Geo | Var::WebserverErrorLog | Var::Rule | Var::ArgsPath | Var::RemoteUser => {}
        Var::MatchedVar => f(var, b"", &d.matched_var, None),
        Var::MatchedVarName => f(var, b"", &d.matched_var_name, None),
        Var::MatchedVars => {
            for (k, v) in d.matched_vars.as_slice() {
                if sel.matches(k) {
                    f(var, k, v, None)
                }
            }
        }
        Var::MatchedVarsNames => {
            for (k, _) in d.matched_vars.as_slice() {
                if sel.matches(k) {
                    f(var, k, k, None)
                }
            }
        }
        Var::RemoteAddr | Var::RemoteHost => owned(d.head.remote.ip().to_string(), f),
        Var::RemotePort => owned(d.head.remote.port().to_string(), f),
        Var::ServerName => f(var, b"", &d.server_name, None),
        Var::ServerPort => owned(d.head.server.port().to_string(), f),
        Var::ServerAddr => owned(d.head.server.ip().to_string(), f),
        Var::ResponseStatus => {
            if d.response_status != 0 {
                owned(d.response_status.to_string(), f)
            }
        }
        Var::StatusLine => {
            if d.response_status != 0 {
                owned(format!("{} {}", d.response_protocol, d.response_status), f)
            }
        }
        Var::ResponseHeaders => pairs(keys::RESPONSE_HEADERS, &d.response_headers, f),
        Var::ResponseHeadersNames => names(keys::RESPONSE_HEADERS, &d.response_headers, f),
        Var::ResponseBody => {
            if !d.response_body.is_empty() {
                scalar(keys::RESPONSE_BODY, &d.response_body, f)
            }
        }
        Var::ResponseContentType => {
            if let Some((_, v)) = d
                .response_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"content-type"))
            {
                f(var, b"", v, None)
            }
        }
        Var::ResponseContentLength => {
            if d.response_status != 0 {
                owned(d.response_body_len.to_string(), f)
            }
        }
        Var::ResponseProtocol => {
            if d.response_status != 0 {
                f(var, b"", d.response_protocol.as_bytes(), None)
            }
        }
        Var::ReqbodyError | Var::ReqbodyProcessorError => {
            owned(u8::from(d.reqbody_error.is_some()).to_string(), f)
        }
        Var::ReqbodyErrorMsg | Var::ReqbodyProcessorErrorMsg => {
            if let Some(e) = &d.reqbody_error {
                f(var, b"", e.as_bytes(), None)
            }
        }
        Var::ReqbodyProcessor => {
            if let Some(p) = &d.body_processor {
                f(var, b"", p.as_bytes(), None)
            }
        }
        Var::UrlencodedError => owned(u8::from(d.urlencoded_error).to_string(), f),
        Var::InboundDataError => owned(u8::from(d.inbound_data_error).to_string(), f),
        Var::OutboundDataError => owned(
            u8::from(d.response_body_len > d.response_body.len()).to_string(),
            f,
        ),
        Var::MultipartFlag(bit) => {
            owned(u8::from(d.multipart_flags & (1 << bit) != 0).to_string(), f)
        }
        Var::MultipartPartHeaders => pairs(keys::PART_HEADERS, &d.part_headers, f),
        Var::UniqueId => f(var, b"", d.unique_id.as_bytes(), None),
        Var::Duration => owned(d.started.elapsed().as_micros().to_string(), f),
        Var::HighestSeverity => owned(
            if d.highest_severity == 255 {
                "255".to_string()
            } else {
                d.highest_severity.to_string()
            },
            f,
        ),
        Var::Time
        | Var::TimeDay
        | Var::TimeEpoch
        | Var::TimeHour
        | Var::TimeMin
        | Var::TimeMon
        | Var::TimeSec
        | Var::TimeWday
        | Var::TimeYear => {
            let now = time::OffsetDateTime::now_utc();
            let s = match var {
                Var::Time => format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second()),
                Var::TimeDay => now.day().to_string(),
                Var::TimeEpoch => now.unix_timestamp().to_string(),
                Var::TimeHour => now.hour().to_string(),
                Var::TimeMin => now.minute().to_string(),
                Var::TimeMon => (u8::from(now.month()) - 1).to_string(),
                Var::TimeSec => now.second().to_string(),
                Var::TimeWday => now.weekday().number_days_from_sunday().to_string(),
                _ => now.year().to_string(),
            };
            owned(s, f)
        }
        Var::AuthType => {
            if let Some((_, v)) = d
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"authorization"))
            {
                let scheme = v.split(|&b| b == b' ').next().unwrap_or_default();
                f(var, b"", scheme, None)
            }
        }
    }
}

/// `atoll` as ModSecurity's `setvar` arithmetic uses it: leading blanks, a sign, digits.
pub(crate) fn atoll(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod write_log_tests {
    use super::*;

    fn collection(entries: &[(&str, &str)]) -> Collection {
        entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn resetting_the_written_keys_gives_back_the_starting_collection() {
        let start = collection(&[("anomaly_score", "0"), ("paranoia_level", "1")]);
        let mut tx = start.clone();
        let mut log = WriteLog::default();
        assert!(
            log.keys().is_none(),
            "a log that never started knows nothing"
        );
        log.start();
        for (k, v) in [
            ("anomaly_score", "5"),
            ("0", "captured"),
            ("anomaly_score", "8"),
        ] {
            log.note(k.as_bytes());
            store_set(&mut tx, k.as_bytes(), v.as_bytes());
        }
        log.note(b"paranoia_level");
        tx.remove(&b"paranoia_level"[..]);
        assert_ne!(tx, start);
        reset_keys(&mut tx, &start, log.keys().expect("within bounds"));
        assert_eq!(tx, start);

        log.note(&[b'k'; 300]);
        assert!(log.keys().is_none(), "a key too long for the log voids it");
        log.start();
        for _ in 0..WRITE_LOG_BYTES {
            log.note(b"many");
        }
        assert!(log.keys().is_none(), "past its size the log only says many");
    }
}
