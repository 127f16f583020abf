//! Rule files to [`Rule`]s: line joining, comments, the header, and every option keyword.
//!
//! A rule that cannot be loaded — bad syntax, an unsupported keyword, a regex feature the
//! linear-time engine lacks — becomes a [`Skipped`] entry naming file, line, sid, keyword
//! and reason; the rest of the file still loads.

use std::collections::BTreeMap;
use std::fmt;

use crate::buffer::Buffer;
use crate::bytes::{ByteExtract, ByteJump, ByteTest};
use crate::content::{Content, FastPatternSpec, Num};
use crate::error::{bail, Error, RResult, RuleError};
use crate::flowbits::Flowbits;
use crate::header::{Header, RuleProto};
use crate::input::AppProto;
use crate::matcher::Op;
use crate::options::{int, parts, required, split_options, uint, unquote, Cmp};
use crate::pcre::Pcre;
use crate::rule::{
    classtype_priority, Check, Detect, Fast, FlowOpts, List, Reference, Rule, Source, StreamMode,
    Target, TcpFlagsSpec,
};
use crate::threshold::ThresholdSpec;
use crate::vars::Vars;

/// Longest rule text accepted (after joining continuation lines).
pub const MAX_RULE_LEN: usize = 256 * 1024;
/// Most keywords one buffer's list may hold.
pub const MAX_OPS_PER_LIST: usize = 128;

/// A rule that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: String,
    /// 1-based line where the rule starts.
    pub line: usize,
    pub sid: Option<u32>,
    /// The keyword at fault; `None` for header and syntax errors.
    pub keyword: Option<String>,
    pub reason: String,
}

impl Skipped {
    /// A short category for coverage counts: the unsupported keyword, the pcre feature, or
    /// `keyword: invalid value` / `syntax`.
    pub fn category(&self) -> String {
        match &self.keyword {
            Some(k) if self.reason.starts_with("unsupported keyword") => k.clone(),
            Some(k) if k == "pcre" && self.reason.starts_with("pcre: unsupported") => {
                self.reason.clone()
            }
            Some(k) if k == "pcre" => "pcre: other".into(),
            Some(k) => format!("{k}: invalid"),
            None if self.reason.starts_with("unsupported protocol") => self.reason.clone(),
            None => "syntax".into(),
        }
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(s) = self.sid {
            write!(f, "sid {s}: ")?;
        }
        if let Some(k) = &self.keyword {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl From<Skipped> for Error {
    fn from(s: Skipped) -> Error {
        Error::Rule {
            file: s.file,
            line: s.line,
            keyword: s.keyword,
            reason: s.reason,
        }
    }
}

/// The result of loading a rule file.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
}

impl Parsed {
    /// Append another file's result.
    pub fn extend(&mut self, other: Parsed) {
        self.rules.extend(other.rules);
        self.skipped.extend(other.skipped);
    }
}

/// How much of a rule set loaded, for `mamori ids rules check FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    pub loaded: usize,
    pub skipped: usize,
    /// Skipped rules counted by [`Skipped::category`].
    pub skipped_by: BTreeMap<String, usize>,
}

impl Coverage {
    pub fn of(parsed: &Parsed) -> Coverage {
        let mut skipped_by = BTreeMap::new();
        for s in &parsed.skipped {
            *skipped_by.entry(s.category()).or_insert(0) += 1;
        }
        Coverage {
            loaded: parsed.rules.len(),
            skipped: parsed.skipped.len(),
            skipped_by,
        }
    }

    /// Loaded rules as a percentage of all rules seen.
    pub fn percent_loaded(&self) -> f64 {
        let total = self.loaded + self.skipped;
        if total == 0 {
            100.0
        } else {
            self.loaded as f64 * 100.0 / total as f64
        }
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loaded {} of {} rules ({:.2}%), skipped {}",
            self.loaded,
            self.loaded + self.skipped,
            self.percent_loaded(),
            self.skipped
        )?;
        let mut by: Vec<_> = self.skipped_by.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in by {
            writeln!(f, "  {n:6}  {k}")?;
        }
        Ok(())
    }
}

/// Parse a rule file's text. `file` is only used in messages.
pub fn parse_rules(text: &str, file: &str, vars: &Vars) -> Parsed {
    let mut out = Parsed::default();
    let mut pending = String::new();
    let mut start_line = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if pending.is_empty() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            start_line = n + 1;
        }
        if let Some(head) = line.strip_suffix('\\') {
            if pending.len() + head.len() <= MAX_RULE_LEN {
                pending.push_str(head);
            }
            continue;
        }
        pending.push_str(line);
        take_rule(&mut pending, file, start_line, vars, &mut out);
    }
    if !pending.is_empty() {
        take_rule(&mut pending, file, start_line, vars, &mut out);
    }
    out
}

fn take_rule(pending: &mut String, file: &str, line: usize, vars: &Vars, out: &mut Parsed) {
    let text = std::mem::take(pending);
    match parse_one(&text, file, line, vars) {
        Ok(r) => out.rules.push(r),
        Err(e) => out.skipped.push(Skipped {
            file: file.to_string(),
            line,
            sid: find_sid(&text),
            keyword: e.keyword,
            reason: e.reason,
        }),
    }
}

/// Parse a single rule (one logical line). Errors carry file `"<rule>"` and line 1.
pub fn parse_rule(text: &str, vars: &Vars) -> Result<Rule, Error> {
    parse_one(text, "<rule>", 1, vars).map_err(|e| Error::Rule {
        file: "<rule>".into(),
        line: 1,
        keyword: e.keyword,
        reason: e.reason,
    })
}

/// Best-effort sid of a rule that failed to parse, for the skip report.
fn find_sid(text: &str) -> Option<u32> {
    let mut rest = text;
    while let Some(i) = rest.find("sid") {
        let before = rest[..i].trim_end().chars().last();
        let after = rest[i + 3..].trim_start();
        if matches!(before, Some(';' | '(')) {
            if let Some(v) = after.strip_prefix(':') {
                let digits: String = v
                    .trim_start()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                return digits.parse().ok();
            }
        }
        rest = &rest[i + 3..];
    }
    None
}

fn parse_one(text: &str, file: &str, line: usize, vars: &Vars) -> RResult<Rule> {
    if text.len() > MAX_RULE_LEN {
        return Err(RuleError::header(format!(
            "rule longer than {MAX_RULE_LEN} bytes"
        )));
    }
    let text = text.trim();
    let Some(open) = text.find('(') else {
        return Err(RuleError::header(
            "no option list: expected '(' after the header",
        ));
    };
    let Some(body) = text[open + 1..].strip_suffix(')') else {
        return Err(RuleError::header("rule must end with ')'"));
    };
    let header = Header::parse(&text[..open], vars).map_err(RuleError::header)?;
    let mut b = Builder::new(header, file, line);
    for opt in split_options(body)? {
        b.option(opt.keyword, opt.value)?;
    }
    b.finish()
}

struct Builder {
    header: Header,
    file: String,
    line: usize,
    sid: Option<u32>,
    gid: u32,
    rev: u32,
    msg: String,
    classtype: Option<String>,
    priority: Option<u8>,
    metadata: Vec<String>,
    references: Vec<Reference>,
    target: Option<Target>,
    detect: Detect,
    lists: Vec<(Source, Vec<Op>)>,
    /// The current sticky buffer (`http.uri;`), `pkt_data` resets it to payload.
    sticky: Option<Source>,
    /// The last content: (list, index) — what content modifiers apply to.
    last_content: Option<(usize, usize)>,
    /// The last content or pcre: relative keywords without a sticky buffer go to its list.
    last_anchor: Option<(usize, usize)>,
    byte_vars: Vec<String>,
    dsize: bool,
}

fn unsupported(kw: &str) -> RuleError {
    RuleError::new(kw, "unsupported keyword")
}

impl Builder {
    fn new(header: Header, file: &str, line: usize) -> Builder {
        Builder {
            header,
            file: file.to_string(),
            line,
            sid: None,
            gid: 1,
            rev: 0,
            msg: String::new(),
            classtype: None,
            priority: None,
            metadata: Vec::new(),
            references: Vec::new(),
            target: None,
            detect: Detect::default(),
            lists: Vec::new(),
            sticky: None,
            last_content: None,
            last_anchor: None,
            byte_vars: Vec::new(),
            dsize: false,
        }
    }

    fn list(&mut self, source: Source) -> usize {
        match self.lists.iter().position(|(s, _)| *s == source) {
            Some(i) => i,
            None => {
                self.lists.push((source, Vec::new()));
                self.lists.len() - 1
            }
        }
    }

    /// Append an op to the list for `source`; returns its location.
    fn push(&mut self, kw: &str, source: Source, op: Op) -> RResult<(usize, usize)> {
        let l = self.list(source);
        let ops = &mut self.lists[l].1;
        if ops.len() >= MAX_OPS_PER_LIST {
            bail!(kw, "more than {MAX_OPS_PER_LIST} keywords for one buffer");
        }
        ops.push(op);
        Ok((l, ops.len() - 1))
    }

    /// The list a non-content payload keyword goes to: sticky buffer, else the list of the
    /// last content/pcre for relative keywords, else the payload.
    fn target_source(&self, relative: bool) -> Source {
        if let Some(s) = self.sticky {
            return s;
        }
        if relative {
            if let Some((l, _)) = self.last_anchor {
                return self.lists[l].0;
            }
        }
        Source::Payload
    }

    fn last_content_mut(&mut self, kw: &str) -> RResult<&mut Content> {
        let Some((l, i)) = self.last_content else {
            bail!(kw, "needs a preceding content");
        };
        match self.lists.get_mut(l).and_then(|x| x.1.get_mut(i)) {
            Some(Op::Content(c)) => Ok(c),
            _ => bail!(kw, "needs a preceding content"),
        }
    }

    /// Move the last content to `buffer`'s list (legacy `content:"x"; http_uri;`).
    fn move_last_content(&mut self, kw: &str, buffer: Buffer) -> RResult<()> {
        let Some((l, i)) = self.last_content else {
            bail!(kw, "needs a preceding content");
        };
        let target = Source::Buffer(buffer);
        if self.lists[l].0 == target {
            return Ok(());
        }
        if self.lists[l].0 != Source::Payload {
            bail!(kw, "content is already bound to another buffer");
        }
        let op = self.lists[l].1.remove(i);
        let loc = self.push(kw, target, op)?;
        // Positions in the old list after `i` shifted down by one.
        if let Some((al, ai)) = self.last_anchor {
            if al == l && ai == i {
                self.last_anchor = Some(loc);
            } else if al == l && ai > i {
                self.last_anchor = Some((al, ai - 1));
            }
        }
        self.last_content = Some(loc);
        Ok(())
    }

    fn num(&self, kw: &str, v: &str) -> RResult<Num> {
        match int(kw, v) {
            Ok(n) => Ok(Num::Lit(n)),
            Err(_) => match self.byte_vars.iter().position(|x| x == v.trim()) {
                Some(i) => Ok(Num::Var(i as u8)),
                None => bail!(kw, "{v:?} is neither a number nor a byte_extract variable"),
            },
        }
    }

    fn option(&mut self, kw: &str, v: Option<&str>) -> RResult<()> {
        if let Some(b) = Buffer::from_modifier_keyword(kw) {
            return self.move_last_content(kw, b);
        }
        if let Some(b) = Buffer::from_sticky_keyword(kw) {
            if v.is_some() {
                bail!(kw, "sticky buffer takes no value");
            }
            self.sticky = Some(Source::Buffer(b));
            return Ok(());
        }
        match kw {
            "msg" => self.msg = unquote(kw, required(kw, v)?)?,
            "sid" => self.sid = Some(uint(kw, required(kw, v)?, u64::from(u32::MAX))? as u32),
            "rev" => self.rev = uint(kw, required(kw, v)?, u64::from(u32::MAX))? as u32,
            "gid" => self.gid = uint(kw, required(kw, v)?, u64::from(u32::MAX))? as u32,
            "priority" => self.priority = Some(uint(kw, required(kw, v)?, 255)? as u8),
            "classtype" => self.classtype = Some(required(kw, v)?.to_string()),
            "reference" => {
                let r = required(kw, v)?;
                let (system, id) = r.split_once(',').unwrap_or((r, ""));
                self.references.push(Reference {
                    system: system.trim().to_string(),
                    id: id.trim().to_string(),
                });
            }
            "metadata" => self.metadata.extend(
                parts(required(kw, v)?)
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            "target" => {
                self.target = Some(match required(kw, v)? {
                    "src_ip" => Target::Source,
                    "dest_ip" => Target::Destination,
                    other => bail!(kw, "expected src_ip or dest_ip, got {other:?}"),
                })
            }
            "tag" | "rawbytes" => {}
            "noalert" => self.detect.noalert = true,
            "pkt_data" => self.sticky = Some(Source::Payload),
            "content" | "uricontent" => {
                let c = Content::parse(kw, required(kw, v)?)?;
                let source = if kw == "uricontent" {
                    Source::Buffer(Buffer::HttpUri)
                } else {
                    self.sticky.unwrap_or(Source::Payload)
                };
                let loc = self.push(kw, source, Op::Content(Box::new(c)))?;
                self.last_content = Some(loc);
                self.last_anchor = Some(loc);
            }
            "nocase" => self.last_content_mut(kw)?.nocase = true,
            "startswith" => self.last_content_mut(kw)?.startswith = true,
            "endswith" => self.last_content_mut(kw)?.endswith = true,
            "depth" | "offset" | "distance" | "within" => {
                // A relative content with no earlier keyword in its buffer is relative to the
                // buffer start, which is what position 0 gives the matcher.
                let n = self.num(kw, required(kw, v)?)?;
                let c = self.last_content_mut(kw)?;
                let slot = match kw {
                    "depth" => &mut c.depth,
                    "offset" => &mut c.offset,
                    "distance" => &mut c.distance,
                    _ => &mut c.within,
                };
                if slot.is_some() {
                    bail!(kw, "given twice for one content");
                }
                *slot = Some(n);
            }
            "fast_pattern" => {
                let spec = match v {
                    None => FastPatternSpec::default(),
                    Some("only") => FastPatternSpec {
                        only: true,
                        part: None,
                    },
                    Some(p) => match p.split_once(',') {
                        Some((o, l)) => FastPatternSpec {
                            only: false,
                            part: Some((
                                uint(kw, o, 65535)? as usize,
                                uint(kw, l, 65535)? as usize,
                            )),
                        },
                        None => bail!(kw, "expected 'only' or 'offset,length', got {p:?}"),
                    },
                };
                self.last_content_mut(kw)?.fast_pattern = Some(spec);
            }
            "pcre" => {
                let p = Pcre::parse(required(kw, v)?)?;
                let source = match p.buffer {
                    Some(b) => Source::Buffer(b),
                    None => self.target_source(p.relative),
                };
                let loc = self.push(kw, source, Op::Pcre(Box::new(p)))?;
                self.last_anchor = Some(loc);
            }
            "isdataat" => {
                let p = parts(required(kw, v)?);
                let (negated, at) = match p[0].strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, p[0]),
                };
                let at = self.num(kw, at)?;
                let mut relative = false;
                for o in &p[1..] {
                    match *o {
                        "relative" => relative = true,
                        "rawbytes" => {}
                        other => bail!(kw, "unknown option {other:?}"),
                    }
                }
                let source = self.target_source(relative);
                self.push(
                    kw,
                    source,
                    Op::IsDataAt {
                        at,
                        relative,
                        negated,
                    },
                )?;
            }
            "byte_test" => {
                let t = ByteTest::parse(required(kw, v)?, &self.byte_vars)?;
                let source = self.target_source(t.relative);
                self.push(kw, source, Op::ByteTest(Box::new(t)))?;
            }
            "byte_jump" => {
                let j = ByteJump::parse(required(kw, v)?, &self.byte_vars)?;
                let source = self.target_source(j.relative);
                self.push(kw, source, Op::ByteJump(Box::new(j)))?;
            }
            "byte_extract" => {
                let e = ByteExtract::parse(required(kw, v)?, &mut self.byte_vars)?;
                let source = self.target_source(e.relative);
                self.push(kw, source, Op::ByteExtract(Box::new(e)))?;
            }
            "urilen" => {
                let p = parts(required(kw, v)?);
                let cmp = Cmp::parse(kw, p[0], 65535)?;
                let buffer = match p.get(1).copied() {
                    None | Some("norm") => Buffer::HttpUri,
                    Some("raw") => Buffer::HttpRawUri,
                    Some(other) => bail!(kw, "expected raw or norm, got {other:?}"),
                };
                self.push(kw, Source::Buffer(buffer), Op::Len(cmp))?;
            }
            "bsize" => {
                let cmp = Cmp::parse(kw, required(kw, v)?, u64::from(u32::MAX))?;
                match self.sticky {
                    Some(s @ Source::Buffer(_)) => {
                        self.push(kw, s, Op::Len(cmp))?;
                    }
                    _ => bail!(kw, "needs a sticky buffer"),
                }
            }
            "dsize" => {
                self.detect
                    .checks
                    .push(Check::Dsize(Cmp::parse(kw, required(kw, v)?, 65535)?));
                self.dsize = true;
            }
            "flow" => self.flow(required(kw, v)?)?,
            "flowbits" => match Flowbits::parse(required(kw, v)?)? {
                Flowbits::NoAlert => self.detect.noalert = true,
                Flowbits::Op(op) => self.detect.flowbits.push(op),
            },
            "threshold" | "detection_filter" => {
                if self.detect.threshold.is_some() {
                    bail!(kw, "only one threshold or detection_filter per rule");
                }
                self.detect.threshold = Some(ThresholdSpec::parse(kw, required(kw, v)?)?);
            }
            "flags" => self
                .detect
                .checks
                .push(Check::Flags(parse_flags(kw, required(kw, v)?)?)),
            "fragbits" => {
                let s = parse_flags(kw, required(kw, v)?)?;
                self.detect.checks.push(Check::Fragbits {
                    bits: s.flags,
                    modifier: s.modifier,
                });
            }
            "fragoffset" => {
                let t = required(kw, v)?;
                let (negated, t) = match t.strip_prefix('!') {
                    Some(r) => (true, r),
                    None => (false, t),
                };
                self.detect.checks.push(Check::FragOffset {
                    negated,
                    cmp: Cmp::parse(kw, t, 8191)?,
                });
            }
            "sameip" => self.detect.checks.push(Check::SameIp),
            "ttl" => self
                .detect
                .checks
                .push(Check::Ttl(Cmp::parse(kw, required(kw, v)?, 255)?)),
            "id" => self
                .detect
                .checks
                .push(Check::IpId(uint(kw, required(kw, v)?, 65535)? as u16)),
            "ip_proto" => {
                let t = required(kw, v)?;
                let named = match t.trim_start_matches(['!', '<', '>', '=']).trim() {
                    "tcp" => Some(6),
                    "udp" => Some(17),
                    "icmp" => Some(1),
                    "igmp" => Some(2),
                    "gre" => Some(47),
                    "esp" => Some(50),
                    "ah" => Some(51),
                    "ipv6-icmp" => Some(58),
                    "sctp" => Some(132),
                    _ => None,
                };
                let t = match named {
                    Some(n) => format!(
                        "{}{n}",
                        &t[..t.len() - t.trim_start_matches(['!', '<', '>', '=']).len()]
                    ),
                    None => t.to_string(),
                };
                self.detect
                    .checks
                    .push(Check::IpProto(Cmp::parse(kw, &t, 255)?));
            }
            "itype" => {
                self.detect
                    .checks
                    .push(Check::Itype(Cmp::parse(kw, required(kw, v)?, 255)?))
            }
            "icode" => {
                self.detect
                    .checks
                    .push(Check::Icode(Cmp::parse(kw, required(kw, v)?, 255)?))
            }
            "icmp_id" => self
                .detect
                .checks
                .push(Check::IcmpId(uint(kw, required(kw, v)?, 65535)? as u16)),
            "icmp_seq" => self
                .detect
                .checks
                .push(Check::IcmpSeq(uint(kw, required(kw, v)?, 65535)? as u16)),
            "seq" => {
                self.detect.checks.push(Check::Seq(
                    uint(kw, required(kw, v)?, u64::from(u32::MAX))? as u32,
                ))
            }
            "ack" => {
                self.detect.checks.push(Check::Ack(
                    uint(kw, required(kw, v)?, u64::from(u32::MAX))? as u32,
                ))
            }
            "window" => {
                let t = required(kw, v)?;
                let (negated, t) = match t.strip_prefix('!') {
                    Some(r) => (true, r),
                    None => (false, t),
                };
                self.detect.checks.push(Check::Window {
                    negated,
                    value: uint(kw, t, 65535)? as u16,
                });
            }
            "app-layer-protocol" => {
                let t = required(kw, v)?;
                let (negated, t) = match t.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, t),
                };
                let Some(proto) = AppProto::from_name(t) else {
                    bail!(kw, "unsupported app protocol {t:?}");
                };
                self.detect.checks.push(Check::AppProto { negated, proto });
            }
            "tls.fingerprint" | "tls_cert_fingerprint_value" => {
                let f = unquote(kw, required(kw, v)?)?.to_ascii_lowercase();
                self.push(
                    kw,
                    Source::Buffer(Buffer::TlsCertFingerprint),
                    Op::Equals(f.into_bytes()),
                )?;
            }
            "ssh.softwareversion" => {
                let s = unquote(kw, required(kw, v)?)?;
                if s.is_empty() {
                    bail!(kw, "empty version");
                }
                let mut c = Content::literal(s.as_bytes());
                c.startswith = true;
                self.push(
                    kw,
                    Source::Buffer(Buffer::SshSoftware),
                    Op::Content(Box::new(c)),
                )?;
            }
            "ssh.protoversion" => {
                let s = unquote(kw, required(kw, v)?)?;
                if s == "2_compat" {
                    let p = Pcre::parse(r#""/^(2\.0|1\.99)$/""#)?;
                    self.push(kw, Source::Buffer(Buffer::SshProto), Op::Pcre(Box::new(p)))?;
                } else {
                    self.push(
                        kw,
                        Source::Buffer(Buffer::SshProto),
                        Op::Equals(s.into_bytes()),
                    )?;
                }
            }
            _ => return Err(unsupported(kw)),
        }
        Ok(())
    }

    fn flow(&mut self, v: &str) -> RResult<()> {
        const KW: &str = "flow";
        let f = &mut self.detect.flow;
        for o in parts(v) {
            match o {
                "to_server" | "from_client" => set_once(KW, &mut f.to_server, true)?,
                "to_client" | "from_server" => set_once(KW, &mut f.to_server, false)?,
                "established" => set_once(KW, &mut f.established, true)?,
                "not_established" => set_once(KW, &mut f.established, false)?,
                "stateless" => {}
                "only_stream" => f.stream = StreamMode::OnlyStream,
                "no_stream" => f.stream = StreamMode::NoStream,
                "only_frag" | "no_frag" => bail!(KW, "option {o:?} not supported"),
                other => bail!(KW, "unknown option {other:?}"),
            }
        }
        Ok(())
    }

    fn finish(mut self) -> RResult<Rule> {
        let Some(sid) = self.sid else {
            return Err(RuleError::header("rule has no sid"));
        };
        let mut flow: FlowOpts = self.detect.flow;
        match self.header.proto {
            RuleProto::TcpPkt => flow.stream = StreamMode::NoStream,
            RuleProto::TcpStream => flow.stream = StreamMode::OnlyStream,
            _ => {}
        }
        if self.dsize && flow.stream == StreamMode::Both {
            flow.stream = StreamMode::NoStream;
        }
        self.detect.flow = flow;

        let mut lists = Vec::with_capacity(self.lists.len());
        for (source, mut ops) in std::mem::take(&mut self.lists) {
            if ops.is_empty() {
                continue;
            }
            let n = ops.len();
            let mut needs_lower = false;
            for k in 0..n {
                let within_next = ops
                    .get(k + 1)
                    .is_some_and(|o| matches!(o, Op::Content(c) if c.within.is_some()));
                if let Op::Content(c) = &mut ops[k] {
                    c.within_next = within_next;
                    c.finish()?;
                    needs_lower |= c.nocase;
                }
            }
            lists.push(List {
                source,
                ops,
                needs_lower,
            });
        }
        self.detect.lists = lists;
        self.detect.fast = choose_fast_pattern(&self.detect.lists)
            .or_else(|| choose_pcre_prefixes(&self.detect.lists));

        let priority = self
            .priority
            .or_else(|| self.classtype.as_deref().and_then(classtype_priority))
            .unwrap_or(3);
        Ok(Rule {
            action: self.header.action,
            gid: self.gid,
            sid,
            rev: self.rev,
            msg: self.msg,
            classtype: self.classtype,
            priority,
            metadata: self.metadata,
            references: self.references,
            target: self.target,
            file: self.file,
            line: self.line,
            header: self.header,
            detect: self.detect,
        })
    }
}

fn set_once(kw: &str, slot: &mut Option<bool>, v: bool) -> RResult<()> {
    if slot.is_some_and(|x| x != v) {
        bail!(kw, "conflicting options");
    }
    *slot = Some(v);
    Ok(())
}

/// `flags:[modifier]FSRPAUCE0[,mask]` (and the same shape for `fragbits:MDR`).
fn parse_flags(kw: &str, v: &str) -> RResult<TcpFlagsSpec> {
    let (spec, mask) = match v.split_once(',') {
        Some((s, m)) => (s.trim(), Some(m.trim())),
        None => (v.trim(), None),
    };
    let bit = |c: char| -> RResult<u8> {
        Ok(match (kw, c.to_ascii_uppercase()) {
            ("fragbits", 'M') => 0x01,
            ("fragbits", 'D') => 0x02,
            ("fragbits", 'R') => 0x04,
            ("fragbits", _) => bail!(kw, "unknown bit {c:?}"),
            (_, 'F') => 0x01,
            (_, 'S') => 0x02,
            (_, 'R') => 0x04,
            (_, 'P') => 0x08,
            (_, 'A') => 0x10,
            (_, 'U') => 0x20,
            (_, 'E' | '2') => 0x40,
            (_, 'C' | '1') => 0x80,
            (_, '0') => 0,
            _ => bail!(kw, "unknown flag {c:?}"),
        })
    };
    let mut flags = 0u8;
    let mut modifier = 0u8;
    for c in spec.chars() {
        match c {
            '+' | '*' | '!' => modifier = c as u8,
            ' ' => {}
            _ => flags |= bit(c)?,
        }
    }
    let mut ignore = 0u8;
    if let Some(m) = mask {
        for c in m.chars().filter(|c| !c.is_whitespace()) {
            ignore |= bit(c)?;
        }
    }
    if spec.is_empty() {
        bail!(kw, "no flags given");
    }
    Ok(TcpFlagsSpec {
        flags,
        modifier,
        ignore,
    })
}

/// Suricata's choice when no `fast_pattern` is given: the longest non-negated content; a
/// buffer content wins over a payload one of equal length (buffers are smaller to scan).
fn choose_fast_pattern(lists: &[List]) -> Option<Fast> {
    let mut best: Option<(&Content, Source)> = None;
    for l in lists {
        for op in &l.ops {
            let Op::Content(c) = op else { continue };
            if c.negated {
                continue;
            }
            if c.fast_pattern.is_some() {
                return Some(Fast {
                    source: l.source,
                    patterns: vec![c.fast_bytes().to_ascii_lowercase()],
                });
            }
            let better = match best {
                None => true,
                Some((b, bs)) => {
                    c.pattern.len() > b.pattern.len()
                        || (c.pattern.len() == b.pattern.len()
                            && bs == Source::Payload
                            && l.source != Source::Payload)
                }
            };
            if better {
                best = Some((c, l.source));
            }
        }
    }
    best.map(|(c, source)| Fast {
        source,
        patterns: vec![c.pattern.to_ascii_lowercase()],
    })
}

/// For a rule with no content to prefilter on: the prefix literals of one of its `pcre`s
/// (every list must match, so any non-negated regex's literals are necessary). The set
/// whose shortest literal is longest wins; a buffer beats the payload on a tie.
fn choose_pcre_prefixes(lists: &[List]) -> Option<Fast> {
    let mut best: Option<(&Vec<Vec<u8>>, Source)> = None;
    let shortest = |p: &Vec<Vec<u8>>| p.iter().map(Vec::len).min().unwrap_or(0);
    for l in lists {
        for op in &l.ops {
            let Op::Pcre(p) = op else { continue };
            let Some(prefixes) = p.prefixes.as_ref().filter(|_| !p.negated) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((b, bs)) => {
                    shortest(prefixes) > shortest(b)
                        || (shortest(prefixes) == shortest(b)
                            && bs == Source::Payload
                            && l.source != Source::Payload)
                }
            };
            if better {
                best = Some((prefixes, l.source));
            }
        }
    }
    best.map(|(patterns, source)| Fast {
        source,
        patterns: patterns.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(opts: &str) -> RResult<Rule> {
        parse_one(
            &format!("alert http any any -> any any ({opts} sid:1;)"),
            "t.rules",
            1,
            &Vars::default(),
        )
    }

    #[test]
    fn metadata_fields() {
        let r = parse_one(
            r#"alert tcp $HOME_NET any -> $EXTERNAL_NET 80 (msg:"ET TEST x\;y"; classtype:trojan-activity; reference:url,example.com; metadata:a b, c d; sid:2000001; rev:3; gid:1; target:dest_ip;)"#,
            "f",
            7,
            &Vars::default(),
        )
        .unwrap();
        assert_eq!(r.msg, "ET TEST x;y");
        assert_eq!((r.sid, r.rev, r.gid, r.priority), (2000001, 3, 1, 1));
        assert_eq!(r.metadata, ["a b", "c d"]);
        assert_eq!(
            r.references[0],
            Reference {
                system: "url".into(),
                id: "example.com".into()
            }
        );
        assert_eq!(r.target, Some(Target::Destination));
        assert_eq!((r.file.as_str(), r.line), ("f", 7));
    }

    #[test]
    fn modifier_moves_content_to_buffer() {
        let r =
            rule(r#"content:"GET"; http_method; content:"/x"; http_uri; content:"raw";"#).unwrap();
        let sources: Vec<_> = r.detect.lists.iter().map(|l| l.source).collect();
        assert!(sources.contains(&Source::Buffer(Buffer::HttpMethod)));
        assert!(sources.contains(&Source::Buffer(Buffer::HttpUri)));
        assert!(sources.contains(&Source::Payload));
        assert_eq!(
            r.fast_pattern(),
            Some((Some(Buffer::HttpMethod), &b"get"[..])),
            "equal length: buffer beats payload"
        );
    }

    #[test]
    fn sticky_buffer_applies_to_following_content() {
        let r = rule(r#"http.host; content:"evil"; pcre:"/x/R"; isdataat:!1,relative;"#).unwrap();
        assert_eq!(r.detect.lists.len(), 1);
        assert_eq!(r.detect.lists[0].source, Source::Buffer(Buffer::HttpHost));
        assert_eq!(r.detect.lists[0].ops.len(), 3);
    }

    #[test]
    fn relative_keywords_follow_last_content_list() {
        let r = rule(r#"content:"/x"; http_uri; isdataat:!1,relative; pcre:"/a/R";"#).unwrap();
        assert_eq!(r.detect.lists.len(), 1);
        assert_eq!(r.detect.lists[0].ops.len(), 3);
    }

    #[test]
    fn explicit_fast_pattern_wins() {
        let r = rule(r#"content:"longer-pattern"; content:"ab"; fast_pattern; content:"xyz"; fast_pattern:1,2;"#).unwrap();
        assert_eq!(r.fast_pattern(), Some((None, &b"ab"[..])));
        let r = rule(r#"content:"Hello"; fast_pattern:only;"#).unwrap();
        assert_eq!(r.fast_pattern(), Some((None, &b"hello"[..])));
    }

    #[test]
    fn errors_name_keyword() {
        let e = rule(r#"content:"x"; frobnicate:1;"#).unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("frobnicate"));
        assert_eq!(e.reason, "unsupported keyword");
        assert_eq!(
            rule("nocase;").unwrap_err().keyword.as_deref(),
            Some("nocase")
        );
        assert_eq!(
            rule(r#"content:"x"; depth:abc;"#)
                .unwrap_err()
                .keyword
                .as_deref(),
            Some("depth")
        );
        assert!(parse_one(
            "alert tcp any any -> any any (msg:\"x\";)",
            "f",
            1,
            &Vars::default()
        )
        .unwrap_err()
        .reason
        .contains("sid"));
        assert!(parse_one("alert tcp any any -> any any msg", "f", 1, &Vars::default()).is_err());
        assert!(parse_one(
            "alert tcp any any -> any any (sid:1;",
            "f",
            1,
            &Vars::default()
        )
        .is_err());
    }

    #[test]
    fn file_parse_reports_line_and_continues() {
        let text = "# comment\n\nalert tcp any any -> any any (msg:\"a\"; sid:1;)\nalert tcp any any -> any any (msg:\"b\"; bogus; sid:2;)\nalert tcp any any -> any any (msg:\"c\"; \\\n  content:\"x\"; sid:3;)\n";
        let p = parse_rules(text, "test.rules", &Vars::default());
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[1].sid, 3);
        assert_eq!(p.rules[1].line, 5);
        assert_eq!(p.skipped.len(), 1);
        let s = &p.skipped[0];
        assert_eq!(
            (s.line, s.sid, s.keyword.as_deref()),
            (4, Some(2), Some("bogus"))
        );
        assert_eq!(
            s.to_string(),
            "test.rules:4: sid 2: bogus: unsupported keyword"
        );
        let cov = Coverage::of(&p);
        assert_eq!((cov.loaded, cov.skipped), (2, 1));
        assert_eq!(cov.skipped_by.get("bogus"), Some(&1));
        assert!(cov.to_string().contains("loaded 2 of 3"));
        let e: Error = s.clone().into();
        assert!(e
            .to_string()
            .contains("test.rules:4: bogus: unsupported keyword"));
    }

    #[test]
    fn unknown_app_protocol_is_skipped_with_reason() {
        let p = parse_rules(
            "alert gopher any any -> any any (sid:1;)",
            "f",
            &Vars::default(),
        );
        assert_eq!(p.skipped[0].category(), "unsupported protocol \"gopher\"");
    }

    #[test]
    fn flags_parse() {
        let f = parse_flags("flags", "S,12").unwrap();
        assert_eq!((f.flags, f.modifier, f.ignore), (0x02, 0, 0xc0));
        let f = parse_flags("flags", "SUF+").unwrap();
        assert_eq!((f.flags, f.modifier), (0x23, b'+'));
        assert!(parse_flags("flags", "Q").is_err());
        let f = parse_flags("fragbits", "!D").unwrap();
        assert_eq!((f.flags, f.modifier), (0x02, b'!'));
    }

    #[test]
    fn flow_options() {
        let r = rule("flow:established,to_server;").unwrap();
        assert_eq!(r.detect.flow.to_server, Some(true));
        assert_eq!(r.detect.flow.established, Some(true));
        assert!(rule("flow:to_server,to_client;").is_err());
        assert!(rule("flow:sideways;").is_err());
        let r = rule("flow:from_server,not_established,no_stream;").unwrap();
        assert_eq!(
            r.detect.flow,
            FlowOpts {
                to_server: Some(false),
                established: Some(false),
                stream: StreamMode::NoStream
            }
        );
    }

    #[test]
    fn sid_found_in_broken_rules() {
        assert_eq!(
            find_sid("alert x (msg:\"sid:9\"; sid: 42; rev:1;)"),
            Some(42)
        );
        assert_eq!(find_sid("alert x (msg:\"nothing\";)"), None);
    }
}
