//! From directives to a compiled [`RuleSet`].

use super::macros::Template;
use super::prefilter::{
    ChainId, Chains, LiteralIndex, Quick, QuickTable, VerdictQuick, Want, QUICK_TARGETS,
};
use super::vars::{compile_target, Target, Var};
use super::verdict;
use super::{EngineMode, RuleSet};
use crate::error::Error;
use crate::operator::Operator;
use crate::seclang::{self, parse_operator, parse_targets, split_actions, ActionSpec, Directive};
use crate::transform::Transform;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most literals one operator adds to the prefilter automaton (see `link_transforms`).
const MAX_PREFILTER_PHRASES: usize = 64;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    Deny,
    Drop,
    Block,
    /// `allow`: the rest of the request phases.
    Allow,
    /// `allow:phase`: the rest of this phase.
    AllowPhase,
    /// `allow:request`: the rest of the request phases (response phases still run).
    AllowRequest,
    Redirect,
}

/// `setvar` arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Set,
    Add,
    Sub,
    Delete,
}

/// `ctl:` at run time.
#[derive(Debug, Clone)]
pub enum Ctl {
    RemoveById(Vec<(u32, u32)>),
    RemoveByTag(String),
    RemoveTargetById(Vec<(u32, u32)>, Target),
    RemoveTargetByTag(String, Target),
    RuleEngine(EngineMode),
    BodyProcessor(String),
    BodyAccess(bool),
    ForceBodyVariable(bool),
    /// `ctl:auditEngine`, `ctl:auditLogParts` and other settings without effect here.
    NoEffect,
}

/// The non-disruptive actions a link runs for each value it matches, in written order.
#[derive(Debug, Clone)]
pub enum Action {
    SetVar {
        coll: Var,
        key: Template,
        op: SetOp,
        value: Template,
    },
    SetEnv {
        key: Template,
        value: Template,
    },
    Ctl(Ctl),
}

/// A rule's operator: compiled, compiled per transaction when its argument holds a macro
/// (`@within %{tx.allowed_methods}`), or inert (an operator needing outside services).
#[derive(Debug, Clone)]
pub enum Op {
    Static(Operator),
    Dynamic {
        name: String,
        arg: Template,
        dir: PathBuf,
    },
    Inert,
}

/// One link of a rule (a plain rule has one; `chain` adds more).
#[derive(Debug, Clone)]
pub struct Link {
    pub targets: Vec<Target>,
    pub excludes: Vec<Target>,
    pub op: Op,
    pub negated: bool,
    /// The transformation chain (a node of [`Chains`]).
    pub chain: ChainId,
    pub multi_match: bool,
    pub capture: bool,
    pub actions: Vec<Action>,
    /// Literal ids one of which a transformed value must contain for the operator to
    /// possibly match (sorted); `None`: always run the operator.
    pub prefilter: Option<Want>,
    /// SecAction: evaluated once, unconditionally.
    pub unconditional: bool,
    /// Its place in a value's verdict table (see [`super::verdict`]): links over values
    /// with an operator compiled at load.
    pub verdict: Option<u32>,
}

impl Link {
    /// The literals one of which some value of the link's targets must hold for it to
    /// match, when the unions of its targets' scans can rule it out: a prefiltered link,
    /// not negated, over values rather than counts.
    pub fn union_prefilter(&self) -> Option<&Want> {
        let want = self.prefilter.as_ref()?;
        let values = !self.targets.is_empty() && self.targets.iter().all(|t| !t.count);
        (!self.negated && values).then_some(want)
    }
}

/// One of 64 bits standing for `tag` (tags sharing a bit are told apart by their text).
pub fn tag_bit(tag: &str) -> u64 {
    let h = tag.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    1 << (h >> 58)
}

fn tag_mask(tags: &[String]) -> u64 {
    tags.iter().fold(0, |m, t| m | tag_bit(t))
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: u32,
    pub phase: u8,
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub links: Vec<Link>,
    pub disruptive: Disruptive,
    pub status: Option<u16>,
    pub redirect: Option<Template>,
    pub msg: Option<Template>,
    pub logdata: Option<Template>,
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    /// [`tag_bit`] of each of `tags`, or'ed: a tag whose bit is not set is not the rule's.
    pub tag_mask: u64,
    pub ver: Option<String>,
    pub log: bool,
    pub skip_after: Option<String>,
    /// Index in the phase's entries to continue at after a match with `skipAfter`.
    pub skip_to: usize,
    pub skip: usize,
}

/// An entry of a phase: a rule or a marker.
#[derive(Debug)]
pub enum Entry {
    Rule(Box<Rule>),
    Marker(String),
}

/// `SecDefaultAction` of a phase.
#[derive(Debug, Clone)]
pub struct PhaseDefault {
    pub disruptive: Disruptive,
    pub status: Option<u16>,
    pub transforms: Vec<Transform>,
    pub log: bool,
}

impl Default for PhaseDefault {
    fn default() -> Self {
        PhaseDefault {
            disruptive: Disruptive::Pass,
            status: None,
            transforms: Vec::new(),
            log: true,
        }
    }
}

/// Engine settings from the configuration directives.
#[derive(Debug, Clone)]
pub struct Config {
    pub engine: EngineMode,
    pub request_body_access: bool,
    pub response_body_access: bool,
    pub response_mime: Vec<String>,
    pub request_body_limit: usize,
    pub request_body_nofiles_limit: usize,
    pub request_body_reject: bool,
    pub response_body_limit: usize,
    pub response_body_reject: bool,
    pub arg_separator: u8,
    pub arguments_limit: usize,
    pub json_depth_limit: usize,
    pub audit_engine: String,
    pub audit_log_parts: String,
    pub component_signatures: Vec<String>,
    /// Directives accepted and recorded without effect here (`SecAuditLog`, `SecTmpDir`...).
    pub recorded: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: EngineMode::On,
            request_body_access: true,
            response_body_access: false,
            response_mime: vec!["text/plain".into(), "text/html".into()],
            request_body_limit: 13_107_200,
            request_body_nofiles_limit: 1_048_576,
            request_body_reject: true,
            response_body_limit: 524_288,
            response_body_reject: false,
            arg_separator: b'&',
            arguments_limit: 1000,
            json_depth_limit: 64,
            audit_engine: "RelevantOnly".into(),
            audit_log_parts: "ABIJDEFHZ".into(),
            component_signatures: Vec::new(),
            recorded: Vec::new(),
        }
    }
}

/// Directives accepted and recorded, with no effect on rule evaluation here.
const RECORDED: &[&str] = &[
    "SecCollectionTimeout",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogRelevantStatus",
    "SecAuditLogType",
    "SecAuditLogStorageDir",
    "SecAuditLogFormat",
    "SecAuditLogDirMode",
    "SecAuditLogFileMode",
    "SecDebugLog",
    "SecDebugLogLevel",
    "SecPcreMatchLimit",
    "SecPcreMatchLimitRecursion",
    "SecTmpDir",
    "SecDataDir",
    "SecUploadDir",
    "SecUploadKeepFiles",
    "SecUploadFileMode",
    "SecUploadFileLimit",
    "SecTmpSaveUploadedFiles",
    "SecCookieFormat",
    "SecCookieV0Separator",
    "SecUnicodeMapFile",
    "SecUnicodeCodePage",
    "SecStatusEngine",
    "SecServerSignature",
    "SecWebAppId",
    "SecGeoLookupDb",
    "SecGsbLookupDb",
    "SecHashEngine",
    "SecHashKey",
    "SecHashParam",
    "SecHashMethodRx",
    "SecHashMethodPm",
    "SecRequestBodyInMemoryLimit",
    "SecXmlExternalEntity",
    "SecConnEngine",
    "SecConnReadStateLimit",
    "SecConnWriteStateLimit",
    "SecHttpBlKey",
    "SecInterceptOnError",
    "SecRemoteRules",
    "SecRemoteRulesFailAction",
    "SecSensorId",
    "SecStreamInBodyInspection",
    "SecStreamOutBodyInspection",
    "SecContentInjection",
    "SecDisableBackendCompression",
    "SecGuardianLog",
    "SecRuleInheritance",
    "SecRulePerfTime",
    "SecCacheTransformations",
    "SecChrootDir",
    "SecReadStateLimit",
    "SecWriteStateLimit",
    "SecRuleScript",
];

fn parse_mode(d: &Directive, v: &str) -> Result<EngineMode, Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" => Ok(EngineMode::On),
        "off" => Ok(EngineMode::Off),
        "detectiononly" => Ok(EngineMode::DetectionOnly),
        _ => Err(d.error(v, "expected On, Off or DetectionOnly")),
    }
}

fn on_off(d: &Directive) -> Result<bool, Error> {
    match d.args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(d.error(other.unwrap_or(&d.name), "expected On or Off")),
    }
}

/// `942100`, `942100-942199`, lists of them separated by blanks or commas.
pub(crate) fn id_ranges(s: &str) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in s.split([' ', ',', '\t']).filter(|p| !p.is_empty()) {
        let part = part.trim_matches(['"', '\'']);
        match part.split_once('-') {
            Some((a, b)) => out.push((a.trim().parse().ok()?, b.trim().parse().ok()?)),
            None => {
                let n = part.trim().parse().ok()?;
                out.push((n, n));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

pub(crate) fn in_ranges(id: u32, r: &[(u32, u32)]) -> bool {
    r.iter().any(|(a, b)| (*a..=*b).contains(&id))
}

fn severity_num(v: &str) -> Option<u8> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    let names = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(v))
        .map(|p| p as u8)
}

/// Severity names by number.
pub const SEVERITIES: [&str; 8] = [
    "EMERGENCY",
    "ALERT",
    "CRITICAL",
    "ERROR",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
];

fn parse_setvar(v: &str) -> Option<Action> {
    let v = v.trim();
    let (op, rest) = match v.strip_prefix('!') {
        Some(r) => (SetOp::Delete, r),
        None => (SetOp::Set, v),
    };
    let (lhs, rhs) = match rest.split_once('=') {
        Some((l, r)) => (l.trim(), Some(r)),
        None => (rest.trim(), None),
    };
    let (coll, key) = lhs.split_once('.')?;
    let coll = Var::parse(coll.trim()).filter(|c| c.is_store())?;
    let (op, value) = match (op, rhs) {
        (SetOp::Delete, _) => (SetOp::Delete, ""),
        (_, None) => (SetOp::Set, "1"),
        (_, Some(r)) => {
            if let Some(x) = r.strip_prefix('+') {
                (SetOp::Add, x)
            } else if let Some(x) = r.strip_prefix('-') {
                (SetOp::Sub, x)
            } else {
                (SetOp::Set, r)
            }
        }
    };
    Some(Action::SetVar {
        coll,
        key: Template::parse(&key.to_ascii_lowercase()),
        op,
        value: Template::parse(value),
    })
}

fn parse_ctl(d: &Directive, v: &str) -> Result<Ctl, Error> {
    let (name, arg) = v
        .split_once('=')
        .ok_or_else(|| d.error(v, "ctl needs name=value"))?;
    let bad = |why: &str| d.error(v, why.to_string());
    let target = |t: &str| -> Result<Target, Error> {
        let specs = parse_targets(t).map_err(|e| bad(&e))?;
        let spec = specs.into_iter().next().ok_or_else(|| bad("no target"))?;
        compile_target(&spec).map_err(|e| bad(&e))
    };
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "ruleremovebyid" => Ctl::RemoveById(id_ranges(arg).ok_or_else(|| bad("bad rule id"))?),
        "ruleremovebytag" => Ctl::RemoveByTag(arg.trim().to_string()),
        "ruleremovetargetbyid" => {
            let (ids, t) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected ID;TARGET"))?;
            Ctl::RemoveTargetById(
                id_ranges(ids).ok_or_else(|| bad("bad rule id"))?,
                target(t)?,
            )
        }
        "ruleremovetargetbytag" => {
            let (tag, t) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected TAG;TARGET"))?;
            Ctl::RemoveTargetByTag(tag.trim().to_string(), target(t)?)
        }
        "ruleengine" => Ctl::RuleEngine(parse_mode(d, arg)?),
        "requestbodyprocessor" => Ctl::BodyProcessor(arg.trim().to_ascii_uppercase()),
        "requestbodyaccess" => Ctl::BodyAccess(arg.trim().eq_ignore_ascii_case("on")),
        "forcerequestbodyvariable" => Ctl::ForceBodyVariable(arg.trim().eq_ignore_ascii_case("on")),
        "auditengine"
        | "auditlogparts"
        | "debugloglevel"
        | "requestbodylimit"
        | "hashengine"
        | "parsexmlintoargs"
        | "responsebodyaccess"
        | "requestbodyjsondepthlimit"
        | "ruleremovebymsg" => Ctl::NoEffect,
        _ => return Err(bad("unsupported ctl")),
    })
}

/// The actions of one directive, before they are split between the rule and its link.
#[derive(Default)]
struct Actions {
    id: Option<u32>,
    phase: Option<u8>,
    disruptive: Option<Disruptive>,
    status: Option<u16>,
    redirect: Option<String>,
    msg: Option<String>,
    logdata: Option<String>,
    severity: Option<u8>,
    tags: Vec<String>,
    ver: Option<String>,
    log: Option<bool>,
    chain: bool,
    skip_after: Option<String>,
    skip: usize,
    transforms: Vec<Transform>,
    t_none: bool,
    multi_match: bool,
    capture: bool,
    actions: Vec<Action>,
}

fn parse_actions(d: &Directive, text: &str) -> Result<Actions, Error> {
    let mut a = Actions::default();
    for ActionSpec { name, value } in split_actions(text) {
        let v = value.clone().unwrap_or_default();
        let need = |what: &str| d.error(&name, format!("needs {what}"));
        match name.to_ascii_lowercase().as_str() {
            "id" => {
                a.id = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| d.error(&v, "rule id must be a number"))?,
                )
            }
            "phase" => {
                a.phase = Some(match v.trim() {
                    "request" => 2,
                    "response" => 4,
                    "logging" => 5,
                    n => n
                        .parse()
                        .ok()
                        .filter(|p| (1..=5).contains(p))
                        .ok_or_else(|| d.error(&v, "phase must be 1-5"))?,
                })
            }
            "deny" => a.disruptive = Some(Disruptive::Deny),
            "drop" => a.disruptive = Some(Disruptive::Drop),
            "block" => a.disruptive = Some(Disruptive::Block),
            "pass" | "proxy" | "pause" => a.disruptive = Some(Disruptive::Pass),
            "allow" => {
                a.disruptive = Some(match v.trim().to_ascii_lowercase().as_str() {
                    "phase" => Disruptive::AllowPhase,
                    "request" => Disruptive::AllowRequest,
                    _ => Disruptive::Allow,
                })
            }
            "redirect" => {
                a.disruptive = Some(Disruptive::Redirect);
                a.redirect = Some(v);
            }
            "status" => a.status = Some(v.trim().parse().map_err(|_| need("a status code"))?),
            "msg" => a.msg = Some(v),
            "logdata" => a.logdata = Some(v),
            "severity" => {
                a.severity = Some(severity_num(&v).ok_or_else(|| d.error(&v, "unknown severity"))?)
            }
            "tag" => a.tags.push(v),
            "ver" => a.ver = Some(v),
            "log" => a.log = Some(true),
            "nolog" => a.log = Some(false),
            "auditlog"
            | "noauditlog"
            | "sanitisearg"
            | "sanitisematched"
            | "sanitiserequestheader"
            | "sanitiseresponseheader"
            | "sanitisematchedbytes"
            | "rev"
            | "maturity"
            | "accuracy"
            | "expirevar"
            | "initcol"
            | "setuid"
            | "setsid"
            | "setrsc"
            | "xmlns"
            | "append"
            | "prepend"
            | "deprecatevar"
            | "exec" => {}
            "chain" => a.chain = true,
            "skipafter" => a.skip_after = Some(v.trim().to_string()),
            "skip" => a.skip = v.trim().parse().map_err(|_| need("a number"))?,
            "t" => match Transform::parse(v.trim()) {
                Some(Transform::None) => {
                    a.t_none = true;
                    a.transforms.clear();
                }
                Some(t) => a.transforms.push(t),
                None => {
                    return Err(d.error(&format!("t:{}", v.trim()), "unsupported transformation"))
                }
            },
            "multimatch" => a.multi_match = true,
            "capture" => a.capture = true,
            "setvar" => a.actions.push(
                parse_setvar(&v)
                    .ok_or_else(|| d.error(&v, "setvar needs collection.name[=value]"))?,
            ),
            "setenv" => {
                let (k, val) = v.split_once('=').unwrap_or((v.as_str(), "1"));
                a.actions.push(Action::SetEnv {
                    key: Template::parse(k.trim()),
                    value: Template::parse(val),
                });
            }
            "ctl" => a.actions.push(Action::Ctl(parse_ctl(d, &v)?)),
            _ => return Err(d.error(&name, "unsupported action")),
        }
    }
    Ok(a)
}

/// Operators needing outside services or databases: inert here (never match).
const INERT_OPERATORS: &[&str] = &[
    "rbl",
    "geolookup",
    "gsblookup",
    "inspectfile",
    "fuzzyhash",
    "validatedtd",
    "validateschema",
    "validatehash",
];

/// Builds a rule set from directives.
pub(super) struct Builder {
    pub set: RuleSet,
    defaults: [PhaseDefault; 5],
    /// Rule open for `chain` links.
    open: Option<Rule>,
    removals: Vec<(Directive, Removal)>,
    literals: LiteralIndex,
}

enum Removal {
    Ids(Vec<(u32, u32)>),
    Tag(String),
    Msg(String),
    Targets(Selector, Vec<Target>, Vec<Target>),
    Actions(Vec<(u32, u32)>, String),
}

enum Selector {
    Ids(Vec<(u32, u32)>),
    Tag(String),
    Msg(String),
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            set: RuleSet {
                phases: Default::default(),
                quick: Default::default(),
                config: Config::default(),
                defaults: Default::default(),
                chains: Chains::new(),
                literals: None,
                prelude: None,
                fixed: Default::default(),
                id: {
                    static NEXT: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(1);
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                },
                rule_count: 0,
                verdict_words: 0,
                inert_operators: Vec::new(),
            },
            defaults: Default::default(),
            open: None,
            removals: Vec::new(),
            literals: LiteralIndex::default(),
        }
    }

    pub fn add(&mut self, directives: Vec<Directive>) -> Result<(), Error> {
        for d in directives {
            self.directive(d)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<RuleSet, Error> {
        if let Some(open) = self.open.take() {
            return Err(Error::Load {
                file: open.file.display().to_string(),
                line: open.line,
                word: "chain".into(),
                reason: "the last rule of the chain is missing".into(),
            });
        }
        self.apply_removals()?;
        self.set.defaults = self.defaults.clone();
        // skipAfter targets: the first marker of that name after the rule, else the end.
        for phase in self.set.phases.iter_mut() {
            let markers: Vec<(usize, String)> = phase
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match e {
                    Entry::Marker(m) => Some((i, m.clone())),
                    _ => None,
                })
                .collect();
            let len = phase.len();
            for (i, e) in phase.iter_mut().enumerate() {
                if let Entry::Rule(r) = e {
                    r.skip_to = match &r.skip_after {
                        Some(m) => markers
                            .iter()
                            .find(|(at, name)| *at > i && name == m)
                            .map_or(len, |(at, _)| at + 1),
                        None => i + 1,
                    };
                }
            }
        }
        self.set.rule_count = self
            .set
            .phases
            .iter()
            .flatten()
            .filter(|e| matches!(e, Entry::Rule(_)))
            .count();
        // The rules are copied once more, in evaluation order, each with its links, targets
        // and literal ids: the copies lie together in memory, where the parser's
        // allocations had scattered them, and a request's walk through the rules meets
        // fewer cold cache lines and pages.
        for phase in &mut self.set.phases {
            for e in phase.iter_mut() {
                if let Entry::Rule(rule) = e {
                    // A new box too, beside its rule's vectors: the point is where it lies.
                    #[allow(clippy::replace_box)]
                    {
                        *rule = Box::new(Rule::clone(rule));
                    }
                }
            }
        }
        let mut slots = 0;
        for e in self.set.phases.iter_mut().flatten() {
            let Entry::Rule(rule) = e else { continue };
            for link in &mut rule.links {
                let pure = matches!(link.op, Op::Static(_)) && !link.unconditional;
                if pure && !link.targets.is_empty() && link.targets.iter().all(|t| !t.count) {
                    link.verdict = Some(slots);
                    slots += 1;
                }
            }
        }
        self.set.verdict_words = verdict::words_for(slots);
        self.set.literals = self.literals.build(self.set.id);
        for (phase, table) in self.set.phases.iter().zip(self.set.quick.iter_mut()) {
            *table = quick_table(phase);
        }
        let mut set = self.set;
        let prelude = set
            .transaction(crate::request::RequestHead::default())
            .prelude();
        set.fixed = set
            .transaction(crate::request::RequestHead::default())
            .fixed_rules(&prelude);
        set.prelude = Some(prelude);
        Ok(set)
    }

    fn directive(&mut self, d: Directive) -> Result<(), Error> {
        let name = d.name.clone();
        let arg0 = d.args.first().cloned().unwrap_or_default();
        let num = |d: &Directive| -> Result<usize, Error> {
            arg0.trim()
                .parse()
                .map_err(|_| d.error(&arg0, "expected a number"))
        };
        let cfg = &mut self.set.config;
        match name.to_ascii_lowercase().as_str() {
            "secrule" => return self.sec_rule(&d),
            "secaction" => return self.sec_action(&d),
            "secmarker" => {
                self.ensure_closed(&d)?;
                let m = arg0.trim().trim_matches(['\'', '"']).to_string();
                for p in self.set.phases.iter_mut() {
                    p.push(Entry::Marker(m.clone()));
                }
            }
            "secdefaultaction" => {
                let a = parse_actions(&d, &arg0)?;
                let phase = a
                    .phase
                    .ok_or_else(|| d.error(&arg0, "SecDefaultAction needs a phase"))?;
                let disruptive = a.disruptive.unwrap_or(Disruptive::Pass);
                if disruptive == Disruptive::Block {
                    return Err(d.error("block", "SecDefaultAction cannot use block"));
                }
                self.defaults[phase as usize - 1] = PhaseDefault {
                    disruptive,
                    status: a.status,
                    transforms: a.transforms,
                    log: a.log.unwrap_or(true),
                };
            }
            "secruleengine" => cfg.engine = parse_mode(&d, &arg0)?,
            "secrequestbodyaccess" => cfg.request_body_access = on_off(&d)?,
            "secresponsebodyaccess" => cfg.response_body_access = on_off(&d)?,
            "secresponsebodymimetype" => {
                cfg.response_mime = d
                    .args
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(|s| s.to_ascii_lowercase())
                    .collect()
            }
            "secresponsebodymimetypesclear" => cfg.response_mime.clear(),
            "secrequestbodylimit" => cfg.request_body_limit = num(&d)?.max(1),
            "secrequestbodynofileslimit" => cfg.request_body_nofiles_limit = num(&d)?.max(1),
            "secresponsebodylimit" => cfg.response_body_limit = num(&d)?.max(1),
            "secrequestbodylimitaction" | "secresponsebodylimitaction" => {
                let reject = match arg0.trim().to_ascii_lowercase().as_str() {
                    "reject" => true,
                    "processpartial" => false,
                    _ => return Err(d.error(&arg0, "expected Reject or ProcessPartial")),
                };
                if name.eq_ignore_ascii_case("SecRequestBodyLimitAction") {
                    cfg.request_body_reject = reject;
                } else {
                    cfg.response_body_reject = reject;
                }
            }
            "secargumentseparator" => {
                cfg.arg_separator = *arg0
                    .as_bytes()
                    .first()
                    .ok_or_else(|| d.error(&name, "needs a character"))?
            }
            "secargumentslimit" => cfg.arguments_limit = num(&d)?.max(1),
            "secrequestbodyjsondepthlimit" => cfg.json_depth_limit = num(&d)?.clamp(1, 10_000),
            "secauditengine" => cfg.audit_engine = arg0,
            "secauditlogparts" => cfg.audit_log_parts = arg0,
            "seccomponentsignature" => cfg.component_signatures.push(arg0),
            "secruleremovebyid" => {
                let r =
                    id_ranges(&d.args.join(" ")).ok_or_else(|| d.error(&arg0, "bad rule id"))?;
                self.removals.push((d, Removal::Ids(r)));
            }
            "secruleremovebytag" => self.removals.push((d.clone(), Removal::Tag(arg0))),
            "secruleremovebymsg" => self.removals.push((d.clone(), Removal::Msg(arg0))),
            "secruleupdatetargetbyid" | "secruleupdatetargetbytag" | "secruleupdatetargetbymsg" => {
                let spec = d
                    .args
                    .get(1)
                    .ok_or_else(|| d.error(&name, "needs targets"))?;
                let mut add = Vec::new();
                let mut exclude = Vec::new();
                for t in parse_targets(spec).map_err(|e| d.error(spec, e))? {
                    let c = compile_target(&t).map_err(|e| d.error(&t.name, e))?;
                    if t.negated {
                        exclude.push(c)
                    } else {
                        add.push(c)
                    }
                }
                let sel = match name.to_ascii_lowercase().as_str() {
                    "secruleupdatetargetbyid" => Selector::Ids(
                        id_ranges(&arg0).ok_or_else(|| d.error(&arg0, "bad rule id"))?,
                    ),
                    "secruleupdatetargetbytag" => Selector::Tag(arg0),
                    _ => Selector::Msg(arg0),
                };
                self.removals
                    .push((d.clone(), Removal::Targets(sel, add, exclude)));
            }
            "secruleupdateactionbyid" => {
                let r = id_ranges(&arg0).ok_or_else(|| d.error(&arg0, "bad rule id"))?;
                let actions = d.args.get(1).cloned().unwrap_or_default();
                // Checked now so an error names this line.
                parse_actions(&d, &actions)?;
                self.removals
                    .push((d.clone(), Removal::Actions(r, actions)));
            }
            n if RECORDED.iter().any(|i| i.eq_ignore_ascii_case(n)) => {
                cfg.recorded.push((name.clone(), d.args.join(" ")))
            }
            _ => return Err(d.error(&name, "unsupported directive")),
        }
        Ok(())
    }

    fn ensure_closed(&self, d: &Directive) -> Result<(), Error> {
        if let Some(open) = &self.open {
            return Err(d.error(
                &d.name,
                format!(
                    "rule {} (line {}) ends with chain but no rule follows",
                    open.id, open.line
                ),
            ));
        }
        Ok(())
    }

    fn sec_action(&mut self, d: &Directive) -> Result<(), Error> {
        self.ensure_closed(d)?;
        let text = d.args.first().cloned().unwrap_or_default();
        let a = parse_actions(d, &text)?;
        let link = Link {
            targets: Vec::new(),
            excludes: Vec::new(),
            op: Op::Inert,
            negated: false,
            chain: 0,
            multi_match: false,
            capture: false,
            actions: Vec::new(),
            prefilter: None,
            unconditional: true,
            verdict: None,
        };
        self.push_rule(d, a, link)
    }

    fn sec_rule(&mut self, d: &Directive) -> Result<(), Error> {
        let vars = d
            .args
            .first()
            .ok_or_else(|| d.error("SecRule", "needs variables"))?;
        let op_text = d
            .args
            .get(1)
            .ok_or_else(|| d.error("SecRule", "needs an operator"))?;
        let actions = d.args.get(2).cloned().unwrap_or_default();
        if d.args.len() > 3 {
            return Err(d.error(&d.args[3], "too many arguments"));
        }
        let mut targets = Vec::new();
        let mut excludes = Vec::new();
        for t in parse_targets(vars).map_err(|e| d.error(vars, e))? {
            let c = compile_target(&t).map_err(|e| d.error(&t.name, e))?;
            if t.negated {
                excludes.push(c)
            } else {
                targets.push(c)
            }
        }
        let spec = parse_operator(op_text);
        let dir = d.dir().to_path_buf();
        let arg_t = Template::parse(&spec.arg);
        let lname = spec.name.to_ascii_lowercase();
        let op = if INERT_OPERATORS.contains(&lname.as_str()) {
            if !self.set.inert_operators.contains(&spec.name) {
                self.set.inert_operators.push(spec.name.clone());
            }
            Op::Inert
        } else if arg_t.has_macros()
            && !matches!(
                lname.as_str(),
                "pmfromfile" | "pmf" | "ipmatchfromfile" | "ipmatchf"
            )
        {
            // Checked now with a neutral argument, so an unknown operator fails at load.
            Operator::compile(&spec.name, "0", &dir)
                .map_err(|e| d.error(&format!("@{}", spec.name), e.to_string()))?;
            Op::Dynamic {
                name: spec.name.clone(),
                arg: arg_t,
                dir,
            }
        } else {
            Op::Static(
                Operator::compile(&spec.name, &spec.arg, &dir)
                    .map_err(|e| d.error(&format!("@{}", spec.name), e.to_string()))?,
            )
        };
        let a = parse_actions(d, &actions)?;
        let link = Link {
            targets,
            excludes,
            op,
            negated: spec.negated,
            chain: 0,
            multi_match: false,
            capture: false,
            actions: Vec::new(),
            prefilter: None,
            unconditional: false,
            verdict: None,
        };
        self.push_rule(d, a, link)
    }

    fn link_transforms(&mut self, phase: u8, a: &Actions, link: &mut Link) {
        let def = &self.defaults[phase as usize - 1];
        let ts: Vec<Transform> = if a.t_none {
            a.transforms.clone()
        } else {
            def.transforms
                .iter()
                .copied()
                .chain(a.transforms.iter().copied())
                .collect()
        };
        link.chain = self.set.chains.intern(&ts);
        link.multi_match = a.multi_match;
        link.capture = a.capture;
        link.actions = a.actions.clone();
        if let Op::Static(op) = &link.op {
            // Long phrase lists (`@pmFromFile`) stay out: with them the automaton over every
            // literal grew from 3 MB to 23 MB (86 MB for CRS v4) and scanned no faster.
            if let Some(lits) = op
                .required_literals()
                .filter(|l| l.len() <= MAX_PREFILTER_PHRASES)
            {
                if !lits.is_empty() && lits.iter().all(|l| !l.is_empty()) {
                    link.prefilter = Some(self.literals.add(&lits));
                }
            }
        }
    }

    fn push_rule(&mut self, d: &Directive, a: Actions, mut link: Link) -> Result<(), Error> {
        if let Some(phase) = self.open.as_ref().map(|o| o.phase) {
            self.link_transforms(phase, &a, &mut link);
            let open = self.open.as_mut().expect("open chain");
            // Metadata written on a chained link counts for the rule when the start lacks it.
            if open.msg.is_none() {
                open.msg = a.msg.as_deref().map(Template::parse);
            }
            if open.logdata.is_none() {
                open.logdata = a.logdata.as_deref().map(Template::parse);
            }
            open.links.push(link);
            if !a.chain {
                let rule = self.open.take().expect("open chain");
                self.finish_rule(rule);
            }
            return Ok(());
        }
        let id = a.id.ok_or_else(|| d.error(&d.name, "rule has no id"))?;
        let phase = a.phase.unwrap_or(2);
        self.link_transforms(phase, &a, &mut link);
        let def = &self.defaults[phase as usize - 1];
        let rule = Rule {
            id,
            phase,
            file: d.file.clone(),
            line: d.line,
            links: vec![link],
            disruptive: a.disruptive.unwrap_or(def.disruptive),
            status: a.status,
            redirect: a.redirect.as_deref().map(Template::parse),
            msg: a.msg.as_deref().map(Template::parse),
            logdata: a.logdata.as_deref().map(Template::parse),
            severity: a.severity,
            tag_mask: tag_mask(&a.tags),
            tags: a.tags,
            ver: a.ver,
            log: a.log.unwrap_or(def.log),
            skip_after: a.skip_after,
            skip_to: 0,
            skip: a.skip,
        };
        if a.chain {
            self.open = Some(rule);
        } else {
            self.finish_rule(rule);
        }
        Ok(())
    }

    fn finish_rule(&mut self, rule: Rule) {
        let phase = rule.phase as usize - 1;
        self.set.phases[phase].push(Entry::Rule(Box::new(rule)));
    }

    fn apply_removals(&mut self) -> Result<(), Error> {
        let removals = std::mem::take(&mut self.removals);
        for (d, r) in removals {
            for phase in self.set.phases.iter_mut() {
                match &r {
                    Removal::Ids(ids) => phase.retain(|e| !matches!(e, Entry::Rule(rule) if in_ranges(rule.id, ids))),
                    Removal::Tag(tag) => {
                        phase.retain(|e| !matches!(e, Entry::Rule(rule) if rule.tags.iter().any(|t| t == tag)))
                    }
                    Removal::Msg(msg) => phase.retain(
                        |e| !matches!(e, Entry::Rule(rule) if rule.msg.as_ref().and_then(|m| m.literal()) == Some(msg.as_bytes())),
                    ),
                    Removal::Targets(sel, add, exclude) => {
                        for e in phase.iter_mut() {
                            let Entry::Rule(rule) = e else { continue };
                            let hit = match sel {
                                Selector::Ids(ids) => in_ranges(rule.id, ids),
                                Selector::Tag(tag) => rule.tags.iter().any(|t| t == tag),
                                Selector::Msg(m) => rule.msg.as_ref().and_then(|x| x.literal()) == Some(m.as_bytes()),
                            };
                            if let (true, Some(first)) = (hit, rule.links.first_mut()) {
                                first.targets.extend(add.iter().cloned());
                                first.excludes.extend(exclude.iter().cloned());
                            }
                        }
                    }
                    Removal::Actions(ids, text) => {
                        for e in phase.iter_mut() {
                            let Entry::Rule(rule) = e else { continue };
                            if !in_ranges(rule.id, ids) {
                                continue;
                            }
                            let a = parse_actions(&d, text)?;
                            if let Some(dis) = a.disruptive {
                                rule.disruptive = dis;
                            }
                            if a.status.is_some() {
                                rule.status = a.status;
                            }
                            if let Some(m) = &a.msg {
                                rule.msg = Some(Template::parse(m));
                            }
                            if let Some(m) = &a.logdata {
                                rule.logdata = Some(Template::parse(m));
                            }
                            if a.severity.is_some() {
                                rule.severity = a.severity;
                            }
                            if let Some(l) = a.log {
                                rule.log = l;
                            }
                            rule.tags.extend(a.tags.iter().cloned());
                            rule.tag_mask = tag_mask(&rule.tags);
                            if let Some(first) = rule.links.first_mut() {
                                if a.t_none || !a.transforms.is_empty() {
                                    let mut ts = if a.t_none {
                                        Vec::new()
                                    } else {
                                        self.set.chains.path(first.chain)
                                    };
                                    ts.extend(a.transforms.iter().copied());
                                    first.chain = self.set.chains.intern(&ts);
                                }
                                first.actions.extend(a.actions.iter().cloned());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where `RuleSet::load` looks for a CRS setup file next to a rules directory.
pub(super) fn crs_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let rules_dir = if path.join("rules").is_dir() {
        path.join("rules")
    } else {
        path.to_path_buf()
    };
    let setup = [
        path.join("crs-setup.conf"),
        path.join("crs-setup.conf.example"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .or_else(|| {
        // Debian: /usr/share/modsecurity-crs with /etc/modsecurity/crs/crs-setup.conf.
        let debian = Path::new("/etc/modsecurity/crs");
        (path.starts_with("/usr/share/modsecurity-crs") && debian.join("crs-setup.conf").is_file())
            .then(|| debian.join("crs-setup.conf"))
    });
    files.extend(setup);
    let mut rules: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .map_err(|e| Error::io(&rules_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
        .collect();
    // Debian keeps the 900/999 exclusion files under /etc.
    if path.starts_with("/usr/share/modsecurity-crs") {
        for name in [
            "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf",
            "RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf",
        ] {
            let p = Path::new("/etc/modsecurity/crs").join(name);
            if p.is_file() && !rules.iter().any(|r| r.file_name() == p.file_name()) {
                rules.push(p);
            }
        }
    }
    rules.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files.extend(rules);
    Ok(files)
}

/// Parses each file.
pub(super) fn parse_files(files: &[PathBuf]) -> Result<Vec<Directive>, Error> {
    let mut out = Vec::new();
    for f in files {
        out.extend(seclang::parse_file(f)?);
    }
    Ok(out)
}

/// The union codes of a link's targets and how many there are; `None` when a target has no
/// union or there are more than [`QUICK_TARGETS`].
fn union_codes(link: &Link) -> Option<([u8; QUICK_TARGETS], u8)> {
    if link.targets.len() > QUICK_TARGETS {
        return None;
    }
    let mut codes = [0u8; QUICK_TARGETS];
    for (c, t) in codes.iter_mut().zip(&link.targets) {
        *c = u8::try_from(super::tx::union_code(t)?).ok()?;
    }
    Some((codes, link.targets.len() as u8))
}

/// The [`Quick`] entries of a phase: for each rule whose first link is skipped when no union
/// of its targets holds a required literal (as `eval_link` does), what that check needs.
fn quick_table(entries: &[Entry]) -> QuickTable {
    let mut table = QuickTable::default();
    for e in entries {
        let quick = match e {
            Entry::Rule(rule) => rule.links.first().and_then(|link| {
                let want = link.union_prefilter()?;
                if link.multi_match {
                    return None;
                }
                let (codes, targets) = union_codes(link)?;
                let start = table.ids.len() as u32;
                table.ids.extend_from_slice(&want.ids);
                Some(Quick {
                    bytes: want.bytes,
                    ids: (start, table.ids.len() as u32),
                    chain: link.chain,
                    codes,
                    targets,
                })
            }),
            Entry::Marker(_) => None,
        };
        table.entries.push(quick);
        let verdict = match e {
            Entry::Rule(rule) => rule.links.first().and_then(|link| {
                let slot = link.verdict?;
                let (codes, targets) = union_codes(link)?;
                Some(VerdictQuick {
                    slot,
                    codes,
                    targets,
                })
            }),
            Entry::Marker(_) => None,
        };
        table.verdicts.push(verdict);
    }
    table
}
