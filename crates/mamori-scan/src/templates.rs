//! Extra checks as data: the common subset of Nuclei HTTP templates.
//!
//! Supported: `id`, `info` (`name`, `severity`, `description`, `remediation`, and Mamori's
//! `metadata: {name-ja, remediation-ja}`), `http` (or the older `requests`) with `method`,
//! `path` (`{{BaseURL}}`, `{{RootURL}}`, `{{Hostname}}`, `{{Host}}`, `{{Port}}`, `{{Scheme}}`),
//! `headers`, `body`, `redirects`/`max-redirects`, `stop-at-first-match`,
//! `matchers-condition`, matchers `status`/`word`/`regex`/`size` with `part` (`body`,
//! `header`, `all`/`response`), `condition`, `negative`, `case-insensitive`, and `regex`
//! extractors. Anything else (raw requests, payloads, DSL matchers, other protocols…)
//! makes the loader report the template as skipped, naming the feature.

use crate::error::Error;
use crate::finding::{bound, Finding};
use crate::http::{Http, Response};
use mamori_core::Severity;
use regex::Regex;
use reqwest::Url;
use std::path::{Path, PathBuf};
use yaml_rust2::Yaml;

/// Templates larger than this are refused (a template is a few kilobytes).
const MAX_TEMPLATE_BYTES: usize = 256 * 1024;
const MAX_TEMPLATES: usize = 2000;

#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub path: PathBuf,
    pub name: String,
    pub name_ja: Option<String>,
    pub severity: Severity,
    pub description: String,
    pub remediation: String,
    pub remediation_ja: Option<String>,
    pub requests: Vec<Request>,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub paths: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub redirects: bool,
    pub and: bool,
    pub stop_at_first_match: bool,
    pub matchers: Vec<Matcher>,
    pub extractors: Vec<Extractor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Body,
    Header,
    All,
}

#[derive(Debug, Clone)]
pub enum MatcherKind {
    Status(Vec<u16>),
    Size(Vec<usize>),
    Word(Vec<String>),
    Regex(Vec<Regex>),
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub kind: MatcherKind,
    pub part: Part,
    pub and: bool,
    pub negative: bool,
    pub case_insensitive: bool,
}

#[derive(Debug, Clone)]
pub struct Extractor {
    pub part: Part,
    pub regex: Vec<Regex>,
    pub group: usize,
}

/// Templates loaded from a directory and the ones skipped, with the reason.
#[derive(Debug, Default)]
pub struct TemplateSet {
    pub templates: Vec<Template>,
    pub skipped: Vec<Error>,
}

/// Loads every `*.yaml`/`*.yml` file directly under `dir` (sorted by name).
pub fn load_dir(dir: &Path) -> Result<TemplateSet, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::File {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                })
        })
        .collect();
    files.sort();
    let mut set = TemplateSet::default();
    for path in files.into_iter().take(MAX_TEMPLATES) {
        let text = match std::fs::read(&path) {
            Ok(b) if b.len() > MAX_TEMPLATE_BYTES => {
                set.skipped.push(Error::Template {
                    path,
                    reason: format!("larger than {MAX_TEMPLATE_BYTES} bytes"),
                });
                continue;
            }
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(source) => {
                set.skipped.push(Error::File { path, source });
                continue;
            }
        };
        match parse(&text, &path) {
            Ok(t) => set.templates.push(t),
            Err(e) => set.skipped.push(e),
        }
    }
    Ok(set)
}

fn unsupported(path: &Path, feature: impl Into<String>) -> Error {
    Error::TemplateUnsupported {
        path: path.to_path_buf(),
        feature: feature.into(),
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::Template {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether YAML text uses aliases; the loader copies aliased nodes, so nested aliases could
/// exhaust memory, and templates never need them.
fn uses_aliases(text: &str) -> bool {
    if !text.contains('&') && !text.contains('*') {
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

fn key<'a>(y: &'a Yaml, k: &str) -> Option<&'a Yaml> {
    match y {
        Yaml::Hash(h) => h.get(&Yaml::String(k.to_string())),
        _ => None,
    }
}

fn keys(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Hash(h) => h
            .keys()
            .map(|k| match k {
                Yaml::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn string(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(string).collect(),
        other => string(other).into_iter().collect(),
    }
}

fn boolean(y: Option<&Yaml>) -> bool {
    matches!(y, Some(Yaml::Boolean(true)))
}

/// Parses one template.
pub fn parse(text: &str, path: &Path) -> Result<Template, Error> {
    if uses_aliases(text) {
        return Err(unsupported(path, "YAML aliases"));
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| invalid(path, format!("YAML: {e}")))?;
    let doc = docs.first().ok_or_else(|| invalid(path, "empty file"))?;
    for k in keys(doc) {
        if !["id", "info", "http", "requests"].contains(&k.as_str()) {
            return Err(unsupported(path, k));
        }
    }
    let id = key(doc, "id")
        .and_then(string)
        .filter(|s| !s.is_empty() && s.len() <= 100)
        .ok_or_else(|| invalid(path, "missing `id`"))?;
    let info = key(doc, "info").ok_or_else(|| invalid(path, "missing `info`"))?;
    let name = key(info, "name")
        .and_then(string)
        .unwrap_or_else(|| id.clone());
    let severity = key(info, "severity")
        .and_then(string)
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| invalid(path, format!("info.severity: {e}")))
        })
        .transpose()?
        .unwrap_or(Severity::Info);
    let meta = key(info, "metadata");
    let reqs = key(doc, "http")
        .or_else(|| key(doc, "requests"))
        .ok_or_else(|| {
            unsupported(
                path,
                "no `http` section (only HTTP templates are supported)",
            )
        })?;
    let Yaml::Array(reqs) = reqs else {
        return Err(invalid(path, "`http` must be a list"));
    };
    let mut requests = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        requests.push(parse_request(r, path, i)?);
    }
    if requests.is_empty() {
        return Err(invalid(path, "`http` is empty"));
    }
    Ok(Template {
        id,
        path: path.to_path_buf(),
        name,
        name_ja: meta.and_then(|m| key(m, "name-ja")).and_then(string),
        severity,
        description: key(info, "description")
            .and_then(string)
            .unwrap_or_default(),
        remediation: key(info, "remediation")
            .and_then(string)
            .unwrap_or_default(),
        remediation_ja: meta.and_then(|m| key(m, "remediation-ja")).and_then(string),
        requests,
    })
}

const REQUEST_KEYS: &[&str] = &[
    "method",
    "path",
    "headers",
    "body",
    "matchers",
    "matchers-condition",
    "extractors",
    "redirects",
    "host-redirects",
    "max-redirects",
    "stop-at-first-match",
];

fn parse_request(r: &Yaml, path: &Path, i: usize) -> Result<Request, Error> {
    for k in keys(r) {
        if !REQUEST_KEYS.contains(&k.as_str()) {
            return Err(unsupported(path, format!("http[{i}].{k}")));
        }
    }
    let method = key(r, "method")
        .and_then(string)
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if !["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"].contains(&method.as_str()) {
        return Err(unsupported(path, format!("http[{i}].method {method}")));
    }
    let paths = key(r, "path").map(strings).unwrap_or_default();
    if paths.is_empty() {
        return Err(invalid(path, format!("http[{i}] has no `path`")));
    }
    for p in &paths {
        check_variables(p, path)?;
    }
    let headers = match key(r, "headers") {
        Some(Yaml::Hash(h)) => h
            .iter()
            .filter_map(|(k, v)| Some((string(k)?, string(v)?)))
            .collect(),
        Some(_) => return Err(invalid(path, format!("http[{i}].headers must be a map"))),
        None => Vec::new(),
    };
    let body = key(r, "body").and_then(string);
    if let Some(b) = &body {
        check_variables(b, path)?;
    }
    let and = match key(r, "matchers-condition").and_then(string).as_deref() {
        None | Some("or") => false,
        Some("and") => true,
        Some(other) => return Err(invalid(path, format!("matchers-condition {other:?}"))),
    };
    let matchers = match key(r, "matchers") {
        Some(Yaml::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, m)| parse_matcher(m, path, i, j))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(invalid(path, format!("http[{i}] has no `matchers` list"))),
    };
    if matchers.is_empty() {
        return Err(invalid(path, format!("http[{i}] has no matchers")));
    }
    let extractors = match key(r, "extractors") {
        Some(Yaml::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, e)| parse_extractor(e, path, i, j))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(invalid(
                path,
                format!("http[{i}].extractors must be a list"),
            ))
        }
        None => Vec::new(),
    };
    Ok(Request {
        method,
        paths,
        headers,
        body,
        redirects: boolean(key(r, "redirects")) || boolean(key(r, "host-redirects")),
        and,
        stop_at_first_match: boolean(key(r, "stop-at-first-match")),
        matchers,
        extractors,
    })
}

const VARIABLES: &[&str] = &["BaseURL", "RootURL", "Hostname", "Host", "Port", "Scheme"];

fn check_variables(s: &str, path: &Path) -> Result<(), Error> {
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| invalid(path, format!("unclosed {{{{ in {s:?}")))?;
        let var = after[..end].trim();
        if !VARIABLES.contains(&var) {
            return Err(unsupported(path, format!("variable {{{{{var}}}}}")));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

fn parse_part(m: &Yaml, path: &Path, at: &str) -> Result<Part, Error> {
    match key(m, "part").and_then(string).as_deref() {
        None | Some("body") => Ok(Part::Body),
        Some("header") | Some("headers") => Ok(Part::Header),
        Some("all") | Some("response") => Ok(Part::All),
        Some(other) => Err(unsupported(path, format!("{at}.part {other}"))),
    }
}

const MATCHER_KEYS: &[&str] = &[
    "type",
    "part",
    "words",
    "regex",
    "status",
    "size",
    "condition",
    "negative",
    "case-insensitive",
    "name",
    "internal",
];

fn parse_matcher(m: &Yaml, path: &Path, i: usize, j: usize) -> Result<Matcher, Error> {
    let at = format!("http[{i}].matchers[{j}]");
    for k in keys(m) {
        if !MATCHER_KEYS.contains(&k.as_str()) {
            return Err(unsupported(path, format!("{at}.{k}")));
        }
    }
    let case_insensitive = boolean(key(m, "case-insensitive"));
    let kind = match key(m, "type").and_then(string).as_deref() {
        Some("status") => MatcherKind::Status(
            key(m, "status")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| invalid(path, format!("{at}: bad status {s:?}")))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some("size") => MatcherKind::Size(
            key(m, "size")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| invalid(path, format!("{at}: bad size {s:?}")))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some("word") => MatcherKind::Word(key(m, "words").map(strings).unwrap_or_default()),
        Some("regex") => MatcherKind::Regex(
            key(m, "regex")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    regex::RegexBuilder::new(r)
                        .case_insensitive(case_insensitive)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| invalid(path, format!("{at}: regex {r:?}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => return Err(unsupported(path, format!("{at}.type {other}"))),
        None => return Err(invalid(path, format!("{at} has no type"))),
    };
    let empty = match &kind {
        MatcherKind::Status(v) => v.is_empty(),
        MatcherKind::Size(v) => v.is_empty(),
        MatcherKind::Word(v) => v.is_empty(),
        MatcherKind::Regex(v) => v.is_empty(),
    };
    if empty {
        return Err(invalid(path, format!("{at} has nothing to match")));
    }
    let and = match key(m, "condition").and_then(string).as_deref() {
        None | Some("or") => false,
        Some("and") => true,
        Some(other) => return Err(invalid(path, format!("{at}.condition {other:?}"))),
    };
    Ok(Matcher {
        part: parse_part(m, path, &at)?,
        kind,
        and,
        negative: boolean(key(m, "negative")),
        case_insensitive,
    })
}

fn parse_extractor(e: &Yaml, path: &Path, i: usize, j: usize) -> Result<Extractor, Error> {
    let at = format!("http[{i}].extractors[{j}]");
    for k in keys(e) {
        if !["type", "part", "regex", "group", "name", "internal"].contains(&k.as_str()) {
            return Err(unsupported(path, format!("{at}.{k}")));
        }
    }
    match key(e, "type").and_then(string).as_deref() {
        Some("regex") => {}
        Some(other) => return Err(unsupported(path, format!("{at}.type {other}"))),
        None => return Err(invalid(path, format!("{at} has no type"))),
    }
    let regex = key(e, "regex")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            regex::RegexBuilder::new(r)
                .size_limit(1 << 20)
                .build()
                .map_err(|er| invalid(path, format!("{at}: regex {r:?}: {er}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let group = match key(e, "group") {
        Some(Yaml::Integer(g)) if (0..=9).contains(g) => *g as usize,
        Some(_) => return Err(invalid(path, format!("{at}.group must be 0-9"))),
        None => 0,
    };
    Ok(Extractor {
        part: parse_part(e, path, &at)?,
        regex,
        group,
    })
}

fn part_text(resp: &Response, part: Part) -> String {
    let headers = || {
        resp.headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect::<String>()
    };
    match part {
        Part::Body => resp.text(),
        Part::Header => headers(),
        Part::All => format!("{}\r\n{}", headers(), resp.text()),
    }
}

/// Whether a matcher matches, and the matched text (for evidence).
fn matcher_matches(m: &Matcher, resp: &Response) -> (bool, Option<String>) {
    let text = part_text(resp, m.part);
    let (hit, what) = match &m.kind {
        MatcherKind::Status(s) => {
            let r: Vec<bool> = s.iter().map(|s| *s == resp.status).collect();
            (combine(&r, m.and), None)
        }
        MatcherKind::Size(s) => {
            let r: Vec<bool> = s.iter().map(|s| *s == resp.body.len()).collect();
            (combine(&r, m.and), None)
        }
        MatcherKind::Word(words) => {
            let hay = if m.case_insensitive {
                text.to_lowercase()
            } else {
                text.clone()
            };
            let r: Vec<bool> = words
                .iter()
                .map(|w| {
                    let w = if m.case_insensitive {
                        w.to_lowercase()
                    } else {
                        w.clone()
                    };
                    hay.contains(&w)
                })
                .collect();
            let first = words
                .iter()
                .zip(&r)
                .find(|(_, b)| **b)
                .map(|(w, _)| w.clone());
            (combine(&r, m.and), first)
        }
        MatcherKind::Regex(res) => {
            let found: Vec<Option<String>> = res
                .iter()
                .map(|re| re.find(&text).map(|x| x.as_str().to_string()))
                .collect();
            let r: Vec<bool> = found.iter().map(Option::is_some).collect();
            (combine(&r, m.and), found.into_iter().flatten().next())
        }
    };
    (hit != m.negative, if m.negative { None } else { what })
}

fn combine(r: &[bool], and: bool) -> bool {
    if and {
        r.iter().all(|b| *b)
    } else {
        r.iter().any(|b| *b)
    }
}

/// Whether the request's matchers match `resp`, with the matched excerpts.
pub fn matches(req: &Request, resp: &Response) -> Option<Vec<String>> {
    let mut hits = Vec::new();
    let mut results = Vec::new();
    for m in &req.matchers {
        let (ok, what) = matcher_matches(m, resp);
        results.push(ok);
        if ok {
            hits.extend(what);
        }
    }
    combine(&results, req.and).then_some(hits)
}

fn extract(req: &Request, resp: &Response) -> Vec<String> {
    let mut out = Vec::new();
    for e in &req.extractors {
        let text = part_text(resp, e.part);
        for re in &e.regex {
            for c in re.captures_iter(&text).take(5) {
                if let Some(g) = c.get(e.group) {
                    let v: String = g.as_str().chars().take(200).collect();
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

fn expand(s: &str, base: &Url) -> String {
    let root = base.origin().ascii_serialization();
    let base_s = base.as_str().trim_end_matches('/').to_string();
    let host = base.host_str().unwrap_or_default();
    let port = base
        .port_or_known_default()
        .map(|p| p.to_string())
        .unwrap_or_default();
    s.replace("{{BaseURL}}", &base_s)
        .replace("{{RootURL}}", &root)
        .replace("{{Hostname}}", &crate::http::host_port(base))
        .replace("{{Host}}", host)
        .replace("{{Port}}", &port)
        .replace("{{Scheme}}", base.scheme())
}

/// Runs one template against `base`; one finding per matching URL.
pub async fn run(http: &Http, t: &Template, base: &Url, errors: &mut Vec<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    for req in &t.requests {
        for p in &req.paths {
            let expanded = expand(p, base);
            let url = match Url::parse(&expanded) {
                Ok(u) => u,
                Err(e) => {
                    errors.push(format!("template {}: path {expanded:?}: {e}", t.id));
                    continue;
                }
            };
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, base)))
                .collect();
            let body = req.body.as_deref().map(|b| expand(b, base));
            let result = if req.redirects && req.method == "GET" && headers.is_empty() {
                http.get_following(&url).await.map(|(r, _)| r)
            } else {
                http.request(&req.method, &url, &headers, body.as_deref())
                    .await
            };
            let resp = match result {
                Ok(r) => r,
                Err(e @ Error::Budget { .. }) => {
                    errors.push(e.to_string());
                    return out;
                }
                Err(e) => {
                    errors.push(format!("template {}: {e}", t.id));
                    continue;
                }
            };
            let Some(hits) = matches(req, &resp) else {
                continue;
            };
            let mut evidence = resp.evidence(hits.first().map(String::as_str));
            let extracted = extract(req, &resp);
            if !extracted.is_empty() {
                evidence.push_str(&format!("\nextracted: {}", extracted.join(", ")));
            }
            out.push(Finding {
                id: t.id.clone(),
                severity: t.severity,
                category: "template".into(),
                title_en: t.name.clone(),
                title_ja: t.name_ja.clone().unwrap_or_else(|| t.name.clone()),
                url: resp.url.clone(),
                evidence: bound(evidence),
                advice_en: if t.remediation.is_empty() {
                    t.description.clone()
                } else {
                    t.remediation.clone()
                },
                advice_ja: t.remediation_ja.clone().unwrap_or_else(|| {
                    if t.remediation.is_empty() {
                        t.description.clone()
                    } else {
                        t.remediation.clone()
                    }
                }),
            });
            if req.stop_at_first_match {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            url: "http://127.0.0.1/x".into(),
            request_line: "GET /x HTTP/1.1".into(),
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    const T: &str = r#"
id: test-template
info:
  name: Test
  severity: high
http:
  - method: GET
    path:
      - "{{BaseURL}}/x"
    matchers-condition: and
    matchers:
      - type: status
        status: [200]
      - type: word
        part: body
        words: ["secret", "token"]
        condition: and
      - type: word
        words: ["<html"]
        negative: true
    extractors:
      - type: regex
        regex: ["token=([a-z]+)"]
        group: 1
"#;

    #[test]
    fn matchers_conditions_and_negation() {
        let t = parse(T, Path::new("t.yaml")).unwrap();
        let r = &t.requests[0];
        assert!(matches(r, &resp(200, "secret token=abc")).is_some());
        assert!(matches(r, &resp(200, "secret only")).is_none());
        assert!(matches(r, &resp(404, "secret token=abc")).is_none());
        assert!(matches(r, &resp(200, "<html>secret token=abc")).is_none());
        assert_eq!(extract(r, &resp(200, "token=abc")), ["abc"]);
        assert_eq!(t.severity, Severity::High);
    }

    #[test]
    fn unsupported_features_are_named() {
        let dsl = T.replace(
            "type: status\n        status: [200]",
            "type: dsl\n        dsl: [\"true\"]",
        );
        let e = parse(&dsl, Path::new("t.yaml")).unwrap_err().to_string();
        assert!(e.contains("unsupported") && e.contains("dsl"), "{e}");
        let raw = "id: x\ninfo: {name: x, severity: low}\nhttp:\n  - raw: [\"GET / HTTP/1.1\"]\n";
        assert!(parse(raw, Path::new("r.yaml"))
            .unwrap_err()
            .to_string()
            .contains("raw"));
        let var = T.replace("{{BaseURL}}/x", "{{BaseURL}}/{{randstr}}");
        assert!(parse(&var, Path::new("v.yaml"))
            .unwrap_err()
            .to_string()
            .contains("randstr"));
        let net = "id: x\ninfo: {name: x}\ntcp:\n  - host: [\"{{Hostname}}\"]\n";
        assert!(parse(net, Path::new("n.yaml"))
            .unwrap_err()
            .to_string()
            .contains("tcp"));
        let alias = "id: &a x\ninfo: {name: *a}\nhttp: []\n";
        assert!(parse(alias, Path::new("a.yaml"))
            .unwrap_err()
            .to_string()
            .contains("alias"));
    }

    #[test]
    fn shipped_examples_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let set = load_dir(&dir).unwrap();
        assert_eq!(set.templates.len(), 3, "{:?}", set.skipped);
        assert!(set.skipped.is_empty());
    }
}
