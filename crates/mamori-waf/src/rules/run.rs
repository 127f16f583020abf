//! One request through the rules.

use super::body::{self, Pairs};
use super::compile::{Ctl, Disruptive, Entry, Link, OpSpec, Rule, RuleSet, SetVar};
use super::operator::{Captures, Op};
use super::variable::{Coll, Target};
use super::EngineMode;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The rules asked to stop the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    pub status: u16,
    pub rule_id: u32,
    pub redirect: Option<String>,
}

/// A rule that matched and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: u32,
    pub msg: String,
    pub data: String,
    pub severity: String,
    pub tags: Vec<String>,
    pub matched_var: String,
    pub matched_value: String,
    pub phase: u8,
}

/// Largest matched value kept in a hit.
const MAX_HIT_VALUE: usize = 256;

pub struct Transaction<'r> {
    rs: &'r RuleSet,
    pub mode: EngineMode,
    method: String,
    uri: String,
    protocol: String,
    filename: String,
    query: String,
    headers: Pairs,
    cookies: Pairs,
    args_get: Pairs,
    args_post: Pairs,
    files: Vec<(String, String, usize)>,
    part_headers: Pairs,
    multipart_flags: Vec<&'static str>,
    xml: Vec<(bool, Vec<u8>)>,
    body: Vec<u8>,
    body_len: usize,
    body_processor: Option<String>,
    body_access: bool,
    force_body_variable: bool,
    reqbody_error: Option<String>,
    urlencoded_error: bool,
    client: SocketAddr,
    server: SocketAddr,
    tx: HashMap<String, Vec<u8>>,
    other: HashMap<String, HashMap<String, Vec<u8>>>,
    matched_var: Vec<u8>,
    matched_var_name: String,
    matched_vars: Vec<(String, Vec<u8>)>,
    removed_ids: Vec<(u32, u32)>,
    removed_tags: Vec<String>,
    removed_targets: Vec<(RemovedBy, Target)>,
    response_status: u16,
    response_headers: Pairs,
    response_body: Vec<u8>,
    pub hits: Vec<Hit>,
    pub intervention: Option<Intervention>,
    allowed: Option<Disruptive>,
    unique_id: String,
    started: std::time::Instant,
    /// Transformation cache: (value pointer, length, chain) → result, within one rule link.
    caps: Captures,
}

enum RemovedBy {
    Ids(Vec<(u32, u32)>),
    Tag(String),
}

fn in_ranges(id: u32, r: &[(u32, u32)]) -> bool {
    r.iter().any(|(a, b)| (*a..=*b).contains(&id))
}

impl RuleSet {
    /// A transaction for one request: method, request target as sent, protocol
    /// (`HTTP/1.1`), headers in order, client and server addresses.
    pub fn transaction<'r>(
        &'r self,
        method: &str,
        uri: &str,
        protocol: &str,
        headers: Pairs,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Transaction<'r> {
        // An absolute-form target keeps only its path for the path variables.
        let path_part = match uri.find("://") {
            Some(p) if uri[..p].bytes().all(|b| b.is_ascii_alphabetic()) => {
                let rest = &uri[p + 3..];
                rest.find('/').map_or("/", |i| &rest[i..])
            }
            _ => uri,
        };
        let (filename, query) = match path_part.split_once('?') {
            Some((f, q)) => (f.to_string(), q.to_string()),
            None => (path_part.to_string(), String::new()),
        };
        let mut args_get = Vec::new();
        let urlencoded_ok = body::urlencoded(query.as_bytes(), self.arg_separator, &mut args_get);
        let mut cookies = Vec::new();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("cookie") {
                body::cookies(v, &mut cookies);
            }
        }
        Transaction {
            rs: self,
            mode: self.engine,
            method: method.to_string(),
            uri: path_part.to_string(),
            protocol: protocol.to_string(),
            filename,
            query,
            headers,
            cookies,
            args_get,
            args_post: Vec::new(),
            files: Vec::new(),
            part_headers: Vec::new(),
            multipart_flags: Vec::new(),
            xml: Vec::new(),
            body: Vec::new(),
            body_len: 0,
            body_processor: None,
            body_access: self.request_body_access,
            force_body_variable: false,
            reqbody_error: None,
            urlencoded_error: !urlencoded_ok,
            client,
            server,
            tx: HashMap::new(),
            other: HashMap::new(),
            matched_var: Vec::new(),
            matched_var_name: String::new(),
            matched_vars: Vec::new(),
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            removed_targets: Vec::new(),
            response_status: 0,
            response_headers: Vec::new(),
            response_body: Vec::new(),
            hits: Vec::new(),
            intervention: None,
            allowed: None,
            unique_id: ulid::Ulid::new().to_string(),
            started: std::time::Instant::now(),
            caps: Vec::new(),
        }
    }
}

fn header<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

impl<'r> Transaction<'r> {
    /// Phase 1.
    pub fn process_request_headers(&mut self) -> Option<Intervention> {
        self.run_phase(1)
    }

    /// Appends request body bytes (bounded by the rule set's body limit).
    pub fn append_request_body(&mut self, data: &[u8]) {
        self.body_len += data.len();
        let room = self.rs.request_body_limit.saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Whether the body went past the limit and the rules ask for the request to be refused.
    pub fn body_over_limit(&self) -> bool {
        self.rs.request_body_reject && self.body_len > self.rs.request_body_limit
    }

    /// Phase 2: parses the body with its processor, then runs the rules.
    pub fn process_request_body(&mut self) -> Option<Intervention> {
        if self.body_access && self.intervention.is_none() {
            self.parse_body();
        }
        self.run_phase(2)
    }

    fn parse_body(&mut self) {
        let ct = header(&self.headers, "content-type")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let lower = ct.to_ascii_lowercase();
        let processor = self.body_processor.clone().or_else(|| {
            if lower.starts_with("application/x-www-form-urlencoded") {
                Some("URLENCODED".into())
            } else if lower.starts_with("multipart/form-data") {
                Some("MULTIPART".into())
            } else if lower.contains("json") {
                Some("JSON".into())
            } else if lower.contains("xml") {
                Some("XML".into())
            } else {
                None
            }
        });
        self.body_processor = processor.clone();
        if self.body.is_empty() {
            return;
        }
        match processor.as_deref() {
            Some("URLENCODED") => {
                let mut post = Vec::new();
                if !body::urlencoded(&self.body, self.rs.arg_separator, &mut post) {
                    self.urlencoded_error = true;
                }
                self.args_post = post;
            }
            Some("MULTIPART") => {
                let m = body::multipart(&self.body, &ct);
                self.args_post = m.args;
                self.files = m.files;
                self.part_headers = m.part_headers;
                self.multipart_flags = m.flags;
                if let Some(e) = m.error {
                    self.reqbody_error = Some(e);
                }
            }
            Some("JSON") => {
                let mut post = Vec::new();
                if let Err(e) = body::json(&self.body, &mut post) {
                    self.reqbody_error = Some(e);
                }
                self.args_post = post;
            }
            Some("XML") => match body::xml(&self.body) {
                Ok(x) => self.xml = x,
                Err(e) => self.reqbody_error = Some(e),
            },
            _ => {}
        }
    }

    /// Phase 3.
    pub fn process_response_headers(
        &mut self,
        status: u16,
        headers: Pairs,
    ) -> Option<Intervention> {
        self.response_status = status;
        self.response_headers = headers;
        self.run_phase(3)
    }

    /// Whether the rules read response bodies of this type.
    pub fn wants_response_body(&self, content_type: &str) -> bool {
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.rs.response_body_access && self.rs.response_mime.contains(&ct)
    }

    /// Phase 4 on (a prefix of) the response body.
    pub fn process_response_body(&mut self, body: &[u8]) -> Option<Intervention> {
        self.response_body = body.to_vec();
        self.run_phase(4)
    }

    /// Phase 5, then what matched.
    pub fn finish(mut self) -> (Vec<Hit>, Option<Intervention>, HashMap<String, Vec<u8>>) {
        self.run_phase(5);
        (self.hits, self.intervention, self.tx)
    }

    fn removed(&self, rule: &Rule) -> bool {
        in_ranges(rule.id, &self.removed_ids)
            || rule.tags.iter().any(|t| self.removed_tags.contains(t))
    }

    fn run_phase(&mut self, phase: u8) -> Option<Intervention> {
        if self.mode == EngineMode::Off {
            return None;
        }
        if self.intervention.is_some() && self.mode == EngineMode::On && phase < 5 {
            return self.intervention.clone();
        }
        match self.allowed {
            Some(Disruptive::Allow) if phase < 5 => return None,
            Some(Disruptive::AllowRequest) if phase <= 2 => return None,
            _ => {}
        }
        let rs = self.rs;
        let entries = &rs.phases[phase as usize - 1];
        let mut i = 0;
        while i < entries.len() {
            let Entry::Rule(rule) = &entries[i] else {
                i += 1;
                continue;
            };
            if self.removed(rule) || !self.eval_rule(rule) {
                i += 1;
                continue;
            }
            let disruptive = match rule.disruptive {
                Disruptive::Block => rs.block_defaults[phase as usize - 1].0,
                d => d,
            };
            match disruptive {
                Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect => {
                    let status = rule
                        .status
                        .or(rs.block_defaults[phase as usize - 1].1)
                        .unwrap_or(if disruptive == Disruptive::Redirect {
                            302
                        } else {
                            403
                        });
                    if self.intervention.is_none() {
                        self.intervention = Some(Intervention {
                            status,
                            rule_id: rule.id,
                            redirect: rule.redirect.as_ref().map(|r| self.expand(r)),
                        });
                    }
                    if self.mode == EngineMode::On {
                        return self.intervention.clone();
                    }
                }
                Disruptive::Allow | Disruptive::AllowRequest => {
                    if self.mode == EngineMode::On {
                        self.allowed = Some(disruptive);
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
            if let Some(marker) = &rule.skip_after {
                match entries[i + 1..]
                    .iter()
                    .position(|e| matches!(e, Entry::Marker(m) if m == marker))
                {
                    Some(p) => i += p + 2,
                    None => i = entries.len(),
                }
                continue;
            }
            if rule.skip > 0 {
                let mut left = rule.skip;
                i += 1;
                while i < entries.len() && left > 0 {
                    if matches!(entries[i], Entry::Rule(_)) {
                        left -= 1;
                    }
                    i += 1;
                }
                continue;
            }
            i += 1;
        }
        None
    }

    /// Evaluates every link of the rule; on a full match runs its actions and logs it.
    fn eval_rule(&mut self, rule: &Rule) -> bool {
        // MATCHED_VARS holds this rule's matches only (a chain reads its starter's).
        self.matched_vars.clear();
        // Each link's actions run as it matches: a chained link may read what the one
        // before it set (CRS 931130 stores the host, its chain compares against it).
        for link in &rule.links {
            if !self.eval_link(rule, link) {
                return false;
            }
        }
        if rule.log {
            let data = self.expand(&rule.logdata);
            let msg = self.expand(&rule.msg);
            let value = String::from_utf8_lossy(
                &self.matched_var[..self.matched_var.len().min(MAX_HIT_VALUE)],
            )
            .into_owned();
            self.hits.push(Hit {
                id: rule.id,
                msg,
                data,
                severity: rule.severity.clone(),
                tags: rule.tags.clone(),
                matched_var: self.matched_var_name.clone(),
                matched_value: value,
                phase: rule.phase,
            });
        }
        true
    }

    fn eval_link(&mut self, rule: &Rule, link: &Link) -> bool {
        let dynamic;
        let op: &Op = match &link.op {
            OpSpec::Static(op) => op,
            OpSpec::Dynamic { name, arg, dir } => {
                let expanded = self.expand(arg);
                match Op::compile(name, &expanded, dir) {
                    Ok(op) => {
                        dynamic = op;
                        &dynamic
                    }
                    Err(_) => return false,
                }
            }
        };
        let mut caps = std::mem::take(&mut self.caps);
        let mut found: Vec<(String, Vec<u8>, Option<Captures>)> = Vec::new();
        {
            let mut values = self.collect(rule, link);
            if link.targets.is_empty() {
                // SecAction: one unconditional evaluation.
                values.push((Coll::Tx, "", false, Cow::Borrowed(&[][..])));
            }
            for (coll, key, count, value) in values {
                let mut hit: Option<Vec<u8>> = None;
                let mut cur: Cow<[u8]> = Cow::Borrowed(value.as_ref());
                if link.multi_match {
                    if op.eval(&cur, link.capture, &mut caps) != link.negated {
                        hit = Some(cur.to_vec());
                    }
                    for t in &link.transforms {
                        if hit.is_some() {
                            break;
                        }
                        cur = Cow::Owned(t.apply(&cur).into_owned());
                        if op.eval(&cur, link.capture, &mut caps) != link.negated {
                            hit = Some(cur.to_vec());
                        }
                    }
                } else {
                    for t in &link.transforms {
                        if let Cow::Owned(v) = t.apply(&cur) {
                            cur = Cow::Owned(v);
                        }
                    }
                    if op.eval(&cur, link.capture, &mut caps) != link.negated {
                        hit = Some(cur.into_owned());
                    }
                }
                if let Some(v) = hit {
                    let name = if link.targets.is_empty() {
                        String::new()
                    } else if count {
                        format!("&{}", coll.name())
                    } else if key.is_empty() {
                        coll.name().to_string()
                    } else {
                        format!("{}:{key}", coll.name())
                    };
                    let c = link.capture.then(|| caps.clone());
                    if found.len() < 100 {
                        found.push((name, v, c));
                    } else if let Some(last) = found.last_mut() {
                        *last = (name, v, c);
                    }
                }
            }
        }
        self.caps = caps;
        let matched = !found.is_empty();
        // Actions run once per matched value, with that value's captures (CRS 920450 records
        // every restricted header this way).
        for (name, v, c) in found {
            if let Some(c) = c {
                for (i, v) in c.into_iter().enumerate() {
                    self.tx.insert(i.to_string(), v);
                }
            }
            self.matched_var = v.clone();
            self.matched_var_name = name.clone();
            if self.matched_vars.len() < 100 {
                self.matched_vars.push((name, v));
            }
            for sv in &link.setvars {
                self.setvar(sv);
            }
            for c in &link.ctls {
                self.ctl(c);
            }
        }
        matched
    }

    fn target_removed(&self, rule: &Rule, coll: Coll, key: &str) -> bool {
        self.removed_targets.iter().any(|(by, t)| {
            let applies = match by {
                RemovedBy::Ids(ids) => in_ranges(rule.id, ids),
                RemovedBy::Tag(tag) => rule.tags.iter().any(|x| x == tag),
            };
            applies && t.excludes(coll, key)
        })
    }

    /// The values a link's targets yield, minus exclusions: (collection, key, is a count,
    /// value). Names are only formatted for values that match.
    fn collect<'a>(
        &'a self,
        rule: &Rule,
        link: &Link,
    ) -> Vec<(Coll, &'a str, bool, Cow<'a, [u8]>)> {
        let mut out: Vec<(Coll, &'a str, bool, Cow<'a, [u8]>)> = Vec::new();
        for t in &link.targets {
            let before = out.len();
            let keep = |key: &str| {
                !link.excludes.iter().any(|x| x.excludes(t.coll, key))
                    && (self.removed_targets.is_empty() || !self.target_removed(rule, t.coll, key))
            };
            match (&t.selector, t.coll) {
                // TX keys are stored lowercase: look the name up instead of scanning.
                (super::variable::Selector::Name(n), Coll::Tx) => {
                    if let Some((k, v)) = self.tx.get_key_value(n.as_str()) {
                        if keep(k) {
                            out.push((t.coll, k.as_str(), false, Cow::Borrowed(v.as_slice())));
                        }
                    }
                }
                _ => self.values(t.coll, &mut |key: &'a str, v: Cow<'a, [u8]>| {
                    if t.selector.matches(key) && keep(key) {
                        out.push((t.coll, key, false, v));
                    }
                }),
            }
            if t.count {
                let n = out.len() - before;
                out.truncate(before);
                out.push((t.coll, "", true, Cow::Owned(n.to_string().into_bytes())));
            }
        }
        out
    }

    /// Every member of a collection, as (key, value); scalars have an empty key.
    fn values<'a>(&'a self, coll: Coll, f: &mut dyn FnMut(&'a str, Cow<'a, [u8]>)) {
        let pairs = |p: &'a Pairs, f: &mut dyn FnMut(&'a str, Cow<'a, [u8]>)| {
            for (k, v) in p {
                f(k, Cow::Borrowed(v.as_slice()));
            }
        };
        let names = |p: &'a Pairs, f: &mut dyn FnMut(&'a str, Cow<'a, [u8]>)| {
            for (k, _) in p {
                f(k, Cow::Borrowed(k.as_bytes()));
            }
        };
        let s = |f: &mut dyn FnMut(&'a str, Cow<'a, [u8]>), v: &'a str| {
            f("", Cow::Borrowed(v.as_bytes()))
        };
        let owned = |f: &mut dyn FnMut(&'a str, Cow<'a, [u8]>), v: String| {
            f("", Cow::Owned(v.into_bytes()))
        };
        match coll {
            Coll::Args => {
                pairs(&self.args_get, f);
                pairs(&self.args_post, f);
            }
            Coll::ArgsNames => {
                names(&self.args_get, f);
                names(&self.args_post, f);
            }
            Coll::ArgsGet => pairs(&self.args_get, f),
            Coll::ArgsGetNames => names(&self.args_get, f),
            Coll::ArgsPost => pairs(&self.args_post, f),
            Coll::ArgsPostNames => names(&self.args_post, f),
            Coll::ArgsCombinedSize => {
                let n: usize = self
                    .args_get
                    .iter()
                    .chain(&self.args_post)
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                owned(f, n.to_string())
            }
            Coll::RequestHeaders => pairs(&self.headers, f),
            Coll::RequestHeadersNames => names(&self.headers, f),
            Coll::RequestCookies => pairs(&self.cookies, f),
            Coll::RequestCookiesNames => names(&self.cookies, f),
            Coll::RequestUri | Coll::RequestUriRaw => s(f, &self.uri),
            Coll::RequestFilename | Coll::PathInfo => s(f, &self.filename),
            Coll::RequestBasename => s(f, self.filename.rsplit(['/', '\\']).next().unwrap_or("")),
            Coll::RequestLine => {
                owned(f, format!("{} {} {}", self.method, self.uri, self.protocol))
            }
            Coll::RequestMethod => s(f, &self.method),
            Coll::RequestProtocol => s(f, &self.protocol),
            Coll::QueryString => s(f, &self.query),
            Coll::RequestBody => {
                if self.body_processor.as_deref() == Some("URLENCODED")
                    || self.force_body_variable
                    || self.body_processor.is_none()
                {
                    f("", Cow::Borrowed(self.body.as_slice()))
                }
            }
            Coll::RequestBodyLength => owned(f, self.body_len.to_string()),
            Coll::FullRequestLength => owned(f, self.body_len.to_string()),
            Coll::Files | Coll::MultipartFilename => {
                for (k, name, _) in &self.files {
                    f(k, Cow::Borrowed(name.as_bytes()))
                }
            }
            Coll::FilesNames | Coll::MultipartName => {
                for (k, _, _) in &self.files {
                    f(k, Cow::Borrowed(k.as_bytes()))
                }
            }
            Coll::FilesSizes => {
                for (k, _, n) in &self.files {
                    f(k, Cow::Owned(n.to_string().into_bytes()))
                }
            }
            Coll::FilesCombinedSize => {
                owned(f, self.files.iter().map(|x| x.2).sum::<usize>().to_string())
            }
            Coll::Xml => {
                for (attr, v) in &self.xml {
                    f(if *attr { "@" } else { "/*" }, Cow::Borrowed(v.as_slice()))
                }
            }
            Coll::Tx => {
                for (k, v) in &self.tx {
                    f(k, Cow::Borrowed(v.as_slice()))
                }
            }
            Coll::Ip | Coll::Global | Coll::Session | Coll::User | Coll::Resource => {
                let key = coll.name().to_ascii_lowercase();
                if let Some(m) = self.other.get(&key) {
                    for (k, v) in m {
                        f(k, Cow::Borrowed(v.as_slice()))
                    }
                }
            }
            Coll::Env | Coll::Geo | Coll::WebserverErrorLog | Coll::Rule => {}
            Coll::MatchedVar => f("", Cow::Borrowed(self.matched_var.as_slice())),
            Coll::MatchedVarName => s(f, &self.matched_var_name),
            Coll::MatchedVars => {
                for (k, v) in &self.matched_vars {
                    f(k, Cow::Borrowed(v.as_slice()))
                }
            }
            Coll::MatchedVarsNames => {
                for (k, _) in &self.matched_vars {
                    f(k, Cow::Borrowed(k.as_bytes()))
                }
            }
            Coll::RemoteAddr => owned(f, self.client.ip().to_string()),
            Coll::RemotePort => owned(f, self.client.port().to_string()),
            Coll::RemoteHost => owned(f, self.client.ip().to_string()),
            Coll::ServerName => {
                let host = header(&self.headers, "host").unwrap_or_default();
                let host = String::from_utf8_lossy(host).into_owned();
                owned(
                    f,
                    host.rsplit_once(':')
                        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                        .map_or(host.clone(), |(h, _)| h.to_string()),
                )
            }
            Coll::ServerPort => owned(f, self.server.port().to_string()),
            Coll::ServerAddr => owned(f, self.server.ip().to_string()),
            Coll::ResponseStatus => owned(f, self.response_status.to_string()),
            Coll::StatusLine => owned(f, format!("{} {}", self.protocol, self.response_status)),
            Coll::ResponseHeaders => pairs(&self.response_headers, f),
            Coll::ResponseHeadersNames => names(&self.response_headers, f),
            Coll::ResponseBody => f("", Cow::Borrowed(self.response_body.as_slice())),
            Coll::ResponseContentType => {
                if let Some(v) = header(&self.response_headers, "content-type") {
                    f("", Cow::Borrowed(v))
                }
            }
            Coll::ResponseContentLength => owned(f, self.response_body.len().to_string()),
            Coll::ResponseProtocol => s(f, &self.protocol),
            Coll::ReqbodyError | Coll::ReqbodyProcessorError => {
                owned(f, (self.reqbody_error.is_some() as u8).to_string())
            }
            Coll::ReqbodyErrorMsg => owned(f, self.reqbody_error.clone().unwrap_or_default()),
            Coll::ReqbodyProcessor => {
                if let Some(p) = &self.body_processor {
                    s(f, p)
                }
            }
            Coll::UrlencodedError => owned(f, (self.urlencoded_error as u8).to_string()),
            Coll::MultipartFlag(flag) => {
                owned(f, (self.multipart_flags.contains(&flag) as u8).to_string())
            }
            Coll::MultipartPartHeaders => pairs(&self.part_headers, f),
            Coll::UniqueId => s(f, &self.unique_id),
            Coll::Duration => owned(f, self.started.elapsed().as_micros().to_string()),
            Coll::Time => owned(f, mamori_core::now_ms().to_string()),
            Coll::AuthType => {
                if let Some(v) = header(&self.headers, "authorization") {
                    let scheme = v.split(|&b| b == b' ').next().unwrap_or_default();
                    f("", Cow::Owned(scheme.to_vec()))
                }
            }
            Coll::FullRequest => {
                owned(f, format!("{} {} {}", self.method, self.uri, self.protocol))
            }
            Coll::HighestSeverity | Coll::InboundDataError | Coll::OutboundDataError => {
                owned(f, "0".into())
            }
        }
    }

    fn setvar(&mut self, sv: &SetVar) {
        let (coll, key) = match sv {
            SetVar::Set(c, k, _)
            | SetVar::Add(c, k, _)
            | SetVar::Sub(c, k, _)
            | SetVar::Delete(c, k) => (c.clone(), self.expand(k).to_ascii_lowercase()),
        };
        let current = |t: &Self| -> i64 {
            let map = if coll == "tx" {
                Some(&t.tx)
            } else {
                t.other.get(&coll)
            };
            map.and_then(|m| m.get(&key))
                .map_or(0, |v| super::operator::to_int(v))
        };
        let value = match sv {
            SetVar::Set(_, _, v) => Some(self.expand(v).into_bytes()),
            SetVar::Add(_, _, v) => Some(
                (current(self) + super::operator::to_int(self.expand(v).as_bytes()))
                    .to_string()
                    .into_bytes(),
            ),
            SetVar::Sub(_, _, v) => Some(
                (current(self) - super::operator::to_int(self.expand(v).as_bytes()))
                    .to_string()
                    .into_bytes(),
            ),
            SetVar::Delete(..) => None,
        };
        let map = if coll == "tx" {
            &mut self.tx
        } else {
            self.other.entry(coll).or_default()
        };
        match value {
            Some(v) => {
                if map.len() < 10_000 {
                    map.insert(key, v);
                }
            }
            None => {
                map.remove(&key);
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
                .push((RemovedBy::Tag(tag.clone()), t.clone())),
            Ctl::RuleEngine(m) => {
                // A site forced to DetectionOnly stays so whatever the rules say.
                if self.mode != EngineMode::DetectionOnly || *m == EngineMode::Off {
                    self.mode = *m
                }
            }
            Ctl::BodyProcessor(p) => self.body_processor = Some(p.clone()),
            Ctl::BodyAccess(on) => self.body_access = *on,
            Ctl::ForceBodyVariable(on) => self.force_body_variable = *on,
        }
    }

    /// `%{tx.score}`, `%{MATCHED_VAR}`, `%{REQUEST_HEADERS.host}`, `%{rule.id}`…
    pub fn expand(&self, s: &str) -> String {
        if !s.contains("%{") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("%{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            out.push_str(&self.macro_value(name));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn macro_value(&self, name: &str) -> String {
        let (coll, key) = match name.split_once('.') {
            Some((c, k)) => (c, Some(k)),
            None => (name, None),
        };
        let lc = coll.to_ascii_lowercase();
        let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        match (lc.as_str(), key) {
            ("tx", Some(k)) => self
                .tx
                .get(&k.to_ascii_lowercase())
                .map(|v| lossy(v))
                .unwrap_or_default(),
            ("ip" | "global" | "session" | "user" | "resource", Some(k)) => self
                .other
                .get(&lc)
                .and_then(|m| m.get(&k.to_ascii_lowercase()))
                .map(|v| lossy(v))
                .unwrap_or_default(),
            ("matched_var", None) => lossy(&self.matched_var),
            ("matched_var_name", None) => self.matched_var_name.clone(),
            ("rule", Some(_)) => String::new(),
            _ => {
                let Some(c) = Coll::parse(coll) else {
                    return String::new();
                };
                let mut found = String::new();
                self.values(c, &mut |k: &str, v: Cow<[u8]>| {
                    if found.is_empty() && key.is_none_or(|want| want.eq_ignore_ascii_case(k)) {
                        found = lossy(&v);
                    }
                });
                found
            }
        }
    }
}
