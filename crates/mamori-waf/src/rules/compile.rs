//! From directives to a compiled [`RuleSet`].

use super::operator::Op;
use super::parse::{self, split_actions, Directive};
use crate::transform::Transform;
use super::variable::{parse_targets, Target};
use super::{EngineMode, RuleError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    Deny,
    Drop,
    Block,
    Allow,
    AllowPhase,
    AllowRequest,
    Redirect,
}

/// `setvar:tx.x=+5`.
#[derive(Debug, Clone)]
pub enum SetVar {
    Set(String, String, String),
    Add(String, String, String),
    Sub(String, String, String),
    Delete(String, String),
}

/// `ctl:…` at run time.
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
}

/// The operator of a rule: compiled, or compiled per transaction when its argument holds a
/// macro (`@within %{tx.allowed_methods}`).
#[derive(Debug)]
pub enum OpSpec {
    Static(Op),
    Dynamic {
        name: String,
        arg: String,
        dir: PathBuf,
    },
}

/// One link of a chain (a plain rule has one).
#[derive(Debug)]
pub struct Link {
    pub targets: Vec<Target>,
    pub excludes: Vec<Target>,
    pub op: OpSpec,
    pub negated: bool,
    pub transforms: Vec<Transform>,
    pub multi_match: bool,
    pub capture: bool,
    pub setvars: Vec<SetVar>,
    pub ctls: Vec<Ctl>,
}

#[derive(Debug)]
pub struct Rule {
    pub id: u32,
    pub phase: u8,
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub links: Vec<Link>,
    pub disruptive: Disruptive,
    pub status: Option<u16>,
    pub redirect: Option<String>,
    pub msg: String,
    pub logdata: String,
    pub severity: String,
    pub tags: Vec<String>,
    pub log: bool,
    pub skip_after: Option<String>,
    pub skip: usize,
}

#[derive(Debug)]
pub enum Entry {
    Rule(Arc<Rule>),
    Marker(String),
}

/// `SecDefaultAction` of a phase.
#[derive(Debug, Clone)]
struct Defaults {
    disruptive: Disruptive,
    status: Option<u16>,
    transforms: Vec<Transform>,
    log: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            disruptive: Disruptive::Pass,
            status: None,
            transforms: Vec::new(),
            log: true,
        }
    }
}

/// A compiled rule set, shared by every transaction.
#[derive(Debug)]
pub struct RuleSet {
    pub(super) phases: [Vec<Entry>; 5],
    pub(super) engine: EngineMode,
    pub(super) request_body_access: bool,
    pub(super) response_body_access: bool,
    pub(super) response_mime: Vec<String>,
    pub(super) request_body_limit: usize,
    pub(super) request_body_reject: bool,
    pub(super) arg_separator: u8,
    pub(super) block_defaults: [(Disruptive, Option<u16>); 5],
    rule_count: usize,
    /// Operators that never match here (`@rbl`, `@geoLookup`), for the load report.
    pub inert_operators: Vec<String>,
}

const IGNORED: &[&str] = &[
    "SecComponentSignature",
    "SecCollectionTimeout",
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogParts",
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
    "SecUnicodeMapFile",
    "SecStatusEngine",
    "SecServerSignature",
    "SecWebAppId",
    "SecGeoLookupDb",
    "SecHashEngine",
    "SecHashKey",
    "SecHashParam",
    "SecHashMethodRx",
    "SecHashMethodPm",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyJsonDepthLimit",
    "SecArgumentsLimit",
    "SecXmlExternalEntity",
    "SecConnEngine",
    "SecHttpBlKey",
    "SecResponseBodyLimitAction",
    "SecInterceptOnError",
];

fn parse_mode(d: &Directive, v: &str) -> Result<EngineMode, RuleError> {
    match v.to_ascii_lowercase().as_str() {
        "on" => Ok(EngineMode::On),
        "off" => Ok(EngineMode::Off),
        "detectiononly" => Ok(EngineMode::DetectionOnly),
        _ => Err(d.error(v, "expected On, Off or DetectionOnly")),
    }
}

fn on_off(d: &Directive) -> Result<bool, RuleError> {
    match d.args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => Err(d.error(&d.name, "expected On or Off")),
    }
}

/// `942100` or `942100-942199`.
fn id_ranges(s: &str) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.push((a.trim().parse().ok()?, b.trim().parse().ok()?)),
            None => {
                let n = part.trim().parse().ok()?;
                out.push((n, n));
            }
        }
    }
    Some(out)
}

fn parse_setvar(v: &str) -> Option<SetVar> {
    let v = v.trim();
    if let Some(name) = v.strip_prefix('!') {
        let (coll, key) = name.split_once('.')?;
        return Some(SetVar::Delete(
            coll.to_ascii_lowercase(),
            key.to_ascii_lowercase(),
        ));
    }
    let (lhs, rhs) = match v.split_once('=') {
        Some((l, r)) => (l, Some(r)),
        None => (v, None),
    };
    let (coll, key) = lhs.trim().split_once('.')?;
    let (coll, key) = (coll.to_ascii_lowercase(), key.to_ascii_lowercase());
    Some(match rhs {
        None => SetVar::Set(coll, key, "1".into()),
        Some(r) => {
            if let Some(x) = r.strip_prefix('+') {
                SetVar::Add(coll, key, x.to_string())
            } else if let Some(x) = r.strip_prefix('-') {
                SetVar::Sub(coll, key, x.to_string())
            } else {
                SetVar::Set(coll, key, r.to_string())
            }
        }
    })
}

fn parse_ctl(d: &Directive, v: &str) -> Result<Option<Ctl>, RuleError> {
    let (name, arg) = v
        .split_once('=')
        .ok_or_else(|| d.error(v, "ctl needs name=value"))?;
    let bad = |why: &str| d.error(v, why.to_string());
    Ok(Some(match name.trim().to_ascii_lowercase().as_str() {
        "ruleremovebyid" => Ctl::RemoveById(id_ranges(arg).ok_or_else(|| bad("bad rule id"))?),
        "ruleremovebytag" => Ctl::RemoveByTag(arg.trim().to_string()),
        "ruleremovetargetbyid" => {
            let (ids, target) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected ID;TARGET"))?;
            let (mut t, _) = parse_targets(target).map_err(|e| bad(&e))?;
            let t = t.pop().ok_or_else(|| bad("no target"))?;
            Ctl::RemoveTargetById(id_ranges(ids).ok_or_else(|| bad("bad rule id"))?, t)
        }
        "ruleremovetargetbytag" => {
            let (tag, target) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected TAG;TARGET"))?;
            let (mut t, _) = parse_targets(target).map_err(|e| bad(&e))?;
            Ctl::RemoveTargetByTag(tag.to_string(), t.pop().ok_or_else(|| bad("no target"))?)
        }
        "ruleengine" => Ctl::RuleEngine(parse_mode(d, arg.trim())?),
        "requestbodyprocessor" => Ctl::BodyProcessor(arg.trim().to_ascii_uppercase()),
        "requestbodyaccess" => Ctl::BodyAccess(arg.trim().eq_ignore_ascii_case("on")),
        "forcerequestbodyvariable" => Ctl::ForceBodyVariable(arg.trim().eq_ignore_ascii_case("on")),
        "auditengine" | "auditlogparts" | "debugloglevel" | "requestbodylimit" | "hashengine"
        | "parsexmlintoargs" => return Ok(None),
        _ => return Err(bad("unsupported ctl")),
    }))
}

/// Actions of one rule (or of SecAction / SecDefaultAction), before they are split between
/// the rule and its chain link.
#[derive(Default)]
struct Actions {
    id: Option<u32>,
    phase: Option<u8>,
    disruptive: Option<Disruptive>,
    status: Option<u16>,
    redirect: Option<String>,
    msg: Option<String>,
    logdata: Option<String>,
    severity: Option<String>,
    tags: Vec<String>,
    log: Option<bool>,
    chain: bool,
    skip_after: Option<String>,
    skip: usize,
    transforms: Vec<Transform>,
    t_none: bool,
    multi_match: bool,
    capture: bool,
    setvars: Vec<SetVar>,
    ctls: Vec<Ctl>,
}

fn parse_actions(d: &Directive, text: &str) -> Result<Actions, RuleError> {
    let mut a = Actions::default();
    for (name, value) in split_actions(text) {
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
                        .ok_or_else(|| d.error(&v, "phase must be 1–5"))?,
                })
            }
            "deny" => a.disruptive = Some(Disruptive::Deny),
            "drop" => a.disruptive = Some(Disruptive::Drop),
            "block" => a.disruptive = Some(Disruptive::Block),
            "pass" => a.disruptive = Some(Disruptive::Pass),
            "allow" => {
                a.disruptive = Some(match v.as_str() {
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
            "severity" => a.severity = Some(severity_name(&v)),
            "tag" => a.tags.push(v),
            "log" | "auditlog" => a.log = Some(true),
            "nolog" => a.log = Some(false),
            "noauditlog" => {}
            "chain" => a.chain = true,
            "skipafter" => a.skip_after = Some(v),
            "skip" => a.skip = v.trim().parse().map_err(|_| need("a number"))?,
            "t" => match Transform::parse(v.trim()) {
                Some(Transform::None) => {
                    a.t_none = true;
                    a.transforms.clear();
                }
                Some(t) => a.transforms.push(t),
                None => return Err(d.error(&v, "unsupported transformation")),
            },
            "multimatch" => a.multi_match = true,
            "capture" => a.capture = true,
            "setvar" => a.setvars.push(
                parse_setvar(&v)
                    .ok_or_else(|| d.error(&v, "setvar needs collection.name[=value]"))?,
            ),
            "ctl" => {
                if let Some(c) = parse_ctl(d, &v)? {
                    a.ctls.push(c)
                }
            }
            "rev"
            | "ver"
            | "maturity"
            | "accuracy"
            | "expirevar"
            | "initcol"
            | "setenv"
            | "setuid"
            | "setsid"
            | "sanitisearg"
            | "sanitisematched"
            | "sanitiserequestheader"
            | "sanitiseresponseheader"
            | "sanitisematchedbytes"
            | "xmlns"
            | "append"
            | "prepend"
            | "deprecatevar"
            | "exec"
            | "proxy"
            | "pause"
            | "auditlogparts" => {}
            _ => return Err(d.error(&name, "unsupported action")),
        }
    }
    Ok(a)
}

fn severity_name(v: &str) -> String {
    match v.trim() {
        "0" => "EMERGENCY",
        "1" => "ALERT",
        "2" => "CRITICAL",
        "3" => "ERROR",
        "4" => "WARNING",
        "5" => "NOTICE",
        "6" => "INFO",
        "7" => "DEBUG",
        other => return other.to_ascii_uppercase(),
    }
    .to_string()
}

struct Builder {
    set: RuleSet,
    defaults: [Defaults; 5],
    /// Rule open for `chain` links.
    open: Option<Rule>,
    /// Config-time changes applied once every rule is read.
    removals: Vec<Removal>,
}

enum Removal {
    Ids(Vec<(u32, u32)>),
    Tag(String),
    Msg(String),
    TargetsById(Vec<(u32, u32)>, Vec<Target>, Vec<Target>),
    TargetsByTag(String, Vec<Target>, Vec<Target>),
    ActionsById(Vec<(u32, u32)>, Directive, String),
}

fn in_ranges(id: u32, r: &[(u32, u32)]) -> bool {
    r.iter().any(|(a, b)| (*a..=*b).contains(&id))
}

impl RuleSet {
    /// Loads a CRS directory or a `.conf` file, with `before` (e.g. rule exclusions, the test
    /// suite's settings) ahead of the rules and `after` following them.
    pub fn load_with(path: &Path, before: &str, after: &str) -> Result<RuleSet, RuleError> {
        let mut directives = Vec::new();
        if !before.trim().is_empty() {
            parse::parse_str(before, &path.join("(before)"), &mut directives)?;
        }
        if path.is_dir() {
            let setup = [
                path.join("crs-setup.conf"),
                path.join("crs-setup.conf.example"),
                PathBuf::from("/etc/modsecurity/crs/crs-setup.conf"),
            ]
            .into_iter()
            .find(|p| {
                p.is_file()
                    && (p.starts_with(path) || path.starts_with("/usr/share/modsecurity-crs"))
            });
            if let Some(setup) = setup {
                parse::read_file(&setup, &mut directives)?;
            }
            let rules_dir = if path.join("rules").is_dir() {
                path.join("rules")
            } else {
                path.to_path_buf()
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
                .map_err(|e| RuleError::Io {
                    path: rules_dir.display().to_string(),
                    reason: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            files.sort();
            for f in files {
                parse::read_file(&f, &mut directives)?;
            }
        } else {
            parse::read_file(path, &mut directives)?;
        }
        if !after.trim().is_empty() {
            parse::parse_str(after, &path.join("(after)"), &mut directives)?;
        }
        RuleSet::compile(directives)
    }

    pub fn load(path: &Path) -> Result<RuleSet, RuleError> {
        RuleSet::load_with(path, "", "")
    }

    pub fn parse_str(text: &str, base: &Path) -> Result<RuleSet, RuleError> {
        let mut directives = Vec::new();
        parse::parse_str(text, base, &mut directives)?;
        RuleSet::compile(directives)
    }

    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    fn compile(directives: Vec<Directive>) -> Result<RuleSet, RuleError> {
        let mut b = Builder {
            set: RuleSet {
                phases: Default::default(),
                engine: EngineMode::On,
                request_body_access: true,
                response_body_access: false,
                response_mime: vec!["text/plain".into(), "text/html".into()],
                request_body_limit: 13 * 1024 * 1024,
                request_body_reject: true,
                arg_separator: b'&',
                block_defaults: [(Disruptive::Pass, None); 5],
                rule_count: 0,
                inert_operators: Vec::new(),
            },
            defaults: Default::default(),
            open: None,
            removals: Vec::new(),
        };
        for d in directives {
            b.directive(d)?;
        }
        if let Some(open) = b.open.take() {
            return Err(RuleError::Load {
                file: open.file.display().to_string(),
                line: open.line,
                word: "chain".into(),
                reason: "the last rule of the chain is missing".into(),
            });
        }
        b.apply_removals()?;
        for (i, d) in b.defaults.iter().enumerate() {
            b.set.block_defaults[i] = (d.disruptive, d.status);
        }
        b.set.rule_count = b
            .set
            .phases
            .iter()
            .flatten()
            .filter(|e| matches!(e, Entry::Rule(_)))
            .count();
        Ok(b.set)
    }
}

impl Builder {
    fn directive(&mut self, d: Directive) -> Result<(), RuleError> {
        let name = d.name.clone();
        let arg0 = d.args.first().cloned().unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "secrule" => self.sec_rule(&d),
            "secaction" => self.sec_action(&d),
            "secmarker" => {
                self.ensure_closed(&d)?;
                let m = arg0.trim_matches('\'').to_string();
                for p in self.set.phases.iter_mut() {
                    p.push(Entry::Marker(m.clone()));
                }
                Ok(())
            }
            "secdefaultaction" => {
                let a = parse_actions(&d, &arg0)?;
                let phase = a
                    .phase
                    .ok_or_else(|| d.error(&arg0, "SecDefaultAction needs a phase"))?;
                let def = &mut self.defaults[phase as usize - 1];
                def.disruptive = a.disruptive.unwrap_or(Disruptive::Pass);
                def.status = a.status;
                def.transforms = a.transforms;
                def.log = a.log.unwrap_or(true);
                Ok(())
            }
            "secruleengine" => {
                self.set.engine = parse_mode(&d, &arg0)?;
                Ok(())
            }
            "secrequestbodyaccess" => {
                self.set.request_body_access = on_off(&d)?;
                Ok(())
            }
            "secresponsebodyaccess" => {
                self.set.response_body_access = on_off(&d)?;
                Ok(())
            }
            "secresponsebodymimetype" => {
                self.set.response_mime = d.args.iter().map(|s| s.to_ascii_lowercase()).collect();
                Ok(())
            }
            "secresponsebodymimetypesclear" => {
                self.set.response_mime.clear();
                Ok(())
            }
            "secrequestbodylimit" | "secrequestbodynofileslimit" => {
                let n: usize = arg0
                    .parse()
                    .map_err(|_| d.error(&arg0, "expected a number of bytes"))?;
                self.set.request_body_limit = self.set.request_body_limit.min(n).max(1);
                if name.eq_ignore_ascii_case("SecRequestBodyLimit") {
                    self.set.request_body_limit = n.max(1);
                }
                Ok(())
            }
            "secrequestbodylimitaction" => {
                self.set.request_body_reject = arg0.eq_ignore_ascii_case("Reject");
                Ok(())
            }
            "secresponsebodylimit" => Ok(()),
            "secargumentseparator" => {
                self.set.arg_separator = *arg0.as_bytes().first().unwrap_or(&b'&');
                Ok(())
            }
            "secruleremovebyid" => {
                let r =
                    id_ranges(&d.args.join(" ")).ok_or_else(|| d.error(&arg0, "bad rule id"))?;
                self.removals.push(Removal::Ids(r));
                Ok(())
            }
            "secruleremovebytag" => {
                self.removals.push(Removal::Tag(arg0));
                Ok(())
            }
            "secruleremovebymsg" => {
                self.removals.push(Removal::Msg(arg0));
                Ok(())
            }
            "secruleupdatetargetbyid" | "secruleupdatetargetbytag" => {
                let spec = d
                    .args
                    .get(1)
                    .ok_or_else(|| d.error(&name, "needs targets"))?;
                let (t, x) = parse_targets(spec).map_err(|e| d.error(spec, e))?;
                if name.eq_ignore_ascii_case("SecRuleUpdateTargetById") {
                    let r = id_ranges(&arg0).ok_or_else(|| d.error(&arg0, "bad rule id"))?;
                    self.removals.push(Removal::TargetsById(r, t, x));
                } else {
                    self.removals.push(Removal::TargetsByTag(arg0, t, x));
                }
                Ok(())
            }
            "secruleupdateactionbyid" => {
                let r = id_ranges(&arg0).ok_or_else(|| d.error(&arg0, "bad rule id"))?;
                let actions = d.args.get(1).cloned().unwrap_or_default();
                self.removals
                    .push(Removal::ActionsById(r, d.clone(), actions));
                Ok(())
            }
            _ if IGNORED.iter().any(|i| i.eq_ignore_ascii_case(&name)) => Ok(()),
            _ => Err(d.error(&name, "unsupported directive")),
        }
    }

    fn ensure_closed(&self, d: &Directive) -> Result<(), RuleError> {
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

    fn sec_action(&mut self, d: &Directive) -> Result<(), RuleError> {
        self.ensure_closed(d)?;
        let text = d.args.first().cloned().unwrap_or_default();
        let a = parse_actions(d, &text)?;
        let link = Link {
            targets: Vec::new(),
            excludes: Vec::new(),
            op: OpSpec::Static(Op::compile("unconditionalMatch", "", Path::new(".")).map_err(|e| d.error("SecAction", e))?),
            negated: false,
            transforms: Vec::new(),
            multi_match: false,
            capture: false,
            setvars: a.setvars.clone(),
            ctls: a.ctls.clone(),
        };
        self.push_rule(d, a, link)
    }

    fn sec_rule(&mut self, d: &Directive) -> Result<(), RuleError> {
        let vars = d
            .args
            .first()
            .ok_or_else(|| d.error("SecRule", "needs variables"))?;
        let op_text = d
            .args
            .get(1)
            .ok_or_else(|| d.error("SecRule", "needs an operator"))?;
        let actions = d.args.get(2).cloned().unwrap_or_default();
        let (targets, excludes) = parse_targets(vars).map_err(|e| d.error(vars, e))?;
        let (negated, op_text) = match op_text.trim_start().strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, op_text.trim_start()),
        };
        let (name, arg) = match op_text.strip_prefix('@') {
            Some(r) => match r.split_once(char::is_whitespace) {
                Some((n, a)) => (n.to_string(), a.trim_start().to_string()),
                None => (r.to_string(), String::new()),
            },
            None => ("rx".to_string(), op_text.to_string()),
        };
        let dir = d.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let op = if arg.contains("%{") {
            // Checked now with the macro left in, so a bad operator name still fails at load.
            Op::compile(&name, "0", &dir).map_err(|e| d.error(&format!("@{name}"), e))?;
            OpSpec::Dynamic {
                name: name.clone(),
                arg,
                dir,
            }
        } else {
            let op = Op::compile(&name, &arg, &dir).map_err(|e| d.error(&format!("@{name}"), e))?;
            if matches!(op, Op::NoMatch)
                && !name.eq_ignore_ascii_case("noMatch")
                && !self.set.inert_operators.contains(&name)
            {
                self.set.inert_operators.push(name.clone());
            }
            OpSpec::Static(op)
        };
        let a = parse_actions(d, &actions)?;
        let link = Link {
            targets,
            excludes,
            op,
            negated,
            transforms: Vec::new(),
            multi_match: a.multi_match,
            capture: a.capture,
            setvars: a.setvars.clone(),
            ctls: a.ctls.clone(),
        };
        self.push_rule(d, a, link)
    }

    fn push_rule(&mut self, d: &Directive, a: Actions, mut link: Link) -> Result<(), RuleError> {
        if let Some(open) = self.open.as_mut() {
            // A chain link: its own transforms (defaults of the rule's phase unless t:none).
            let def = &self.defaults[open.phase as usize - 1];
            link.transforms = if a.t_none {
                a.transforms
            } else {
                def.transforms.iter().copied().chain(a.transforms).collect()
            };
            open.links.push(link);
            if !a.chain {
                if let Some(rule) = self.open.take() {
                    self.finish(rule);
                }
            }
            return Ok(());
        }
        let id = a.id.ok_or_else(|| d.error(&d.name, "rule has no id"))?;
        let phase = a.phase.unwrap_or(2);
        let def = self.defaults[phase as usize - 1].clone();
        link.transforms = if a.t_none {
            a.transforms
        } else {
            def.transforms.iter().copied().chain(a.transforms).collect()
        };
        let rule = Rule {
            id,
            phase,
            file: d.file.clone(),
            line: d.line,
            links: vec![link],
            disruptive: a.disruptive.unwrap_or(Disruptive::Pass),
            status: a.status,
            redirect: a.redirect,
            msg: a.msg.unwrap_or_default(),
            logdata: a.logdata.unwrap_or_default(),
            severity: a.severity.unwrap_or_default(),
            tags: a.tags,
            log: a.log.unwrap_or(def.log),
            skip_after: a.skip_after,
            skip: a.skip,
        };
        if a.chain {
            self.open = Some(rule);
        } else {
            self.finish(rule);
        }
        Ok(())
    }

    fn finish(&mut self, rule: Rule) {
        let phase = rule.phase as usize - 1;
        self.set.phases[phase].push(Entry::Rule(Arc::new(rule)));
    }

    fn apply_removals(&mut self) -> Result<(), RuleError> {
        let removals = std::mem::take(&mut self.removals);
        for r in removals {
            for phase in self.set.phases.iter_mut() {
                match &r {
                    Removal::Ids(ids) => {
                        phase.retain(|e| !matches!(e, Entry::Rule(rule) if in_ranges(rule.id, ids)))
                    }
                    Removal::Tag(tag) => phase.retain(
                        |e| !matches!(e, Entry::Rule(rule) if rule.tags.iter().any(|t| t == tag)),
                    ),
                    Removal::Msg(msg) => {
                        phase.retain(|e| !matches!(e, Entry::Rule(rule) if &rule.msg == msg))
                    }
                    Removal::TargetsById(..)
                    | Removal::TargetsByTag(..)
                    | Removal::ActionsById(..) => {
                        for e in phase.iter_mut() {
                            let Entry::Rule(rule) = e else { continue };
                            let hit = match &r {
                                Removal::TargetsById(ids, ..) | Removal::ActionsById(ids, ..) => {
                                    in_ranges(rule.id, ids)
                                }
                                Removal::TargetsByTag(tag, ..) => {
                                    rule.tags.iter().any(|t| t == tag)
                                }
                                _ => false,
                            };
                            if !hit {
                                continue;
                            }
                            let Some(rule) = Arc::get_mut(rule) else {
                                continue;
                            };
                            match &r {
                                Removal::TargetsById(_, t, x) | Removal::TargetsByTag(_, t, x) => {
                                    if let Some(first) = rule.links.first_mut() {
                                        first.targets.extend(t.iter().cloned());
                                        first.excludes.extend(x.iter().cloned());
                                    }
                                }
                                Removal::ActionsById(_, d, text) => {
                                    let a = parse_actions(d, text)?;
                                    if let Some(dis) = a.disruptive {
                                        rule.disruptive = dis;
                                    }
                                    if a.status.is_some() {
                                        rule.status = a.status;
                                    }
                                    if let Some(m) = a.msg {
                                        rule.msg = m;
                                    }
                                    if let Some(s) = a.severity {
                                        rule.severity = s;
                                    }
                                    if let Some(first) = rule.links.first_mut() {
                                        if a.t_none {
                                            first.transforms = a.transforms;
                                        } else {
                                            first.transforms.extend(a.transforms);
                                        }
                                        first.setvars.extend(a.setvars);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
