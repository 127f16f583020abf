//! Sigma rule documents (YAML, one or several per file separated by `---`) → compiled
//! detection rules ([`Rule`]) and correlation definitions ([`CorrelationDef`]).
//!
//! Pure: no I/O (the caller reads files), no panics on any input; every problem is a
//! `String` reason the loader reports with the file. Selections become a [`Node`] tree of
//! field tests; the condition expression (see `condition.rs`) decides how they combine. The
//! old aggregation tail (`| count() by X > N`) becomes an aggregation the correlator runs.

use super::condition::{self, Expr};
use super::logsource::{self, Target};
use super::value::{self, Matcher, Modifiers, Scalar};
use crate::detection::Level;
use yaml_rust2::yaml::Hash;
use yaml_rust2::Yaml;

/// Most values one field test may list, and most nodes one rule may build (bounds).
const MAX_VALUES: usize = 10_000;
const MAX_NODES: usize = 100_000;

/// One field test: `Image|endswith: [a, b]`.
#[derive(Debug, Clone)]
pub(crate) struct FieldCond {
    /// The field as the rule spells it (shown in details).
    pub name: String,
    /// Interned lowercase field name (see `Interner`).
    pub fid: usize,
    /// One group of alternative matchers per listed value.
    pub values: Vec<Vec<Matcher>>,
    /// `|all`: every value must match (otherwise any).
    pub all: bool,
}

/// A compiled detection expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Field(FieldCond),
    /// Keyword search: any field value matches one of the groups (or all of them with `all`).
    Keywords {
        values: Vec<Vec<Matcher>>,
        all: bool,
    },
    Const(bool),
}

/// Field names interned to small ids, so an event's fields are looked up once per event.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pub ids: std::collections::HashMap<String, usize, FnvBuild>,
    pub names: Vec<String>,
}

impl Interner {
    pub(crate) fn id(&mut self, name: &str) -> usize {
        let lower = normalize_field(name);
        if let Some(id) = self.ids.get(&lower) {
            return *id;
        }
        let id = self.names.len();
        self.names.push(lower.clone());
        self.ids.insert(lower, id);
        id
    }
}

/// FNV-1a: field and channel names are short, and hashing them is on the per-event path.
/// Only rule-defined keys are ever inserted, so flooding is not a concern.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FnvBuild;

pub(crate) struct Fnv(u64);

impl std::hash::BuildHasher for FnvBuild {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// How field names compare: case-insensitively and ignoring spaces, because some providers
/// name EventData items with spaces (Defender's `Threat Name`) while rules write `ThreatName`.
pub(crate) fn normalize_field(name: &str) -> String {
    name.chars()
        .filter(|c| *c != ' ')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The old `condition: sel | count(F) by G > N` aggregation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aggregation {
    pub field: Option<String>,
    pub group_by: Option<String>,
    pub cmp: CountCond,
}

/// A count condition: `gte: 10`, `range: 1..5`...
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CountCond {
    Gt(u64),
    Gte(u64),
    Lt(u64),
    Lte(u64),
    Eq(u64),
    Range(u64, u64),
}

impl CountCond {
    pub(crate) fn holds(&self, n: u64) -> bool {
        match *self {
            CountCond::Gt(x) => n > x,
            CountCond::Gte(x) => n >= x,
            CountCond::Lt(x) => n < x,
            CountCond::Lte(x) => n <= x,
            CountCond::Eq(x) => n == x,
            CountCond::Range(a, b) => n >= a && n <= b,
        }
    }

    /// Whether the condition can become true as more events arrive (then it is checked on
    /// every event); otherwise it is decided when the window closes.
    pub(crate) fn grows(&self) -> bool {
        matches!(self, CountCond::Gt(_) | CountCond::Gte(_))
    }
}

/// Metadata shared by rules and correlations.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub id: String,
    pub name: Option<String>,
    pub title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub meta: Meta,
    pub target: Target,
    /// `product/category/service` as written, for the coverage report.
    pub logsource: String,
    pub node: Node,
    /// Fields the detection names, in order (for details), original spelling.
    pub fields: Vec<String>,
    pub aggregation: Option<Aggregation>,
    /// `timeframe:` of an aggregation, ms.
    pub timeframe_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CorrKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

#[derive(Debug, Clone)]
pub(crate) struct CorrelationDef {
    pub meta: Meta,
    pub kind: CorrKind,
    /// Referenced rules, by id or name, in order.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub cond: Option<CountCond>,
    /// `value_count`'s field.
    pub field: Option<String>,
    pub generate: bool,
    /// alias → (rule ref → field).
    pub aliases: Vec<(String, Vec<(String, String)>)>,
}

/// One YAML document of a rule file.
#[derive(Debug)]
pub(crate) enum Doc {
    Rule(Box<Rule>),
    Correlation(Box<CorrelationDef>),
}

fn get<'a>(h: &'a Hash, k: &str) -> Option<&'a Yaml> {
    h.get(&Yaml::String(k.to_string()))
}

fn get_str(h: &Hash, k: &str) -> Option<String> {
    match get(h, k)? {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar(y: &Yaml) -> Option<Scalar> {
    Some(match y {
        Yaml::String(s) => Scalar::Str(s.clone()),
        Yaml::Integer(i) => Scalar::Num(i.to_string()),
        Yaml::Real(r) => Scalar::Num(r.clone()),
        Yaml::Boolean(b) => Scalar::Bool(*b),
        Yaml::Null => Scalar::Null,
        _ => return None,
    })
}

fn meta(h: &Hash) -> Meta {
    let tags = match get(h, "tags") {
        Some(Yaml::Array(a)) => a
            .iter()
            .filter_map(|t| match t {
                Yaml::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    };
    Meta {
        id: get_str(h, "id").unwrap_or_default(),
        name: get_str(h, "name"),
        title: get_str(h, "title").unwrap_or_default(),
        level: get_str(h, "level")
            .and_then(|l| Level::from_sigma(&l))
            .unwrap_or(Level::Medium),
        tags,
        status: get_str(h, "status"),
    }
}

/// Parses one YAML document; `Ok(None)` for documents that are neither a detection rule nor
/// a correlation (e.g. an empty document).
pub(crate) fn parse_doc(doc: &Yaml, interner: &mut Interner) -> Result<Option<Doc>, String> {
    let h = match doc {
        Yaml::Hash(h) => h,
        Yaml::Null => return Ok(None),
        _ => return Err("document is not a mapping".into()),
    };
    if let Some(c) = get(h, "correlation") {
        return parse_correlation(h, c).map(|c| Some(Doc::Correlation(Box::new(c))));
    }
    if let Some(a) = get_str(h, "action") {
        return Err(format!(
            "rule collections (`action: {a}`) are not supported"
        ));
    }
    if get(h, "filter").is_some() && get(h, "detection").is_none() {
        return Err("meta filters (`filter:`) are not supported".into());
    }
    let Some(Yaml::Hash(det)) = get(h, "detection") else {
        return Err("no `detection` mapping".into());
    };
    let meta = meta(h);
    if meta.id.is_empty() && meta.title.is_empty() {
        return Err("rule has neither `id` nor `title`".into());
    }
    let (product, category, service) = match get(h, "logsource") {
        Some(Yaml::Hash(ls)) => (
            get_str(ls, "product"),
            get_str(ls, "category"),
            get_str(ls, "service"),
        ),
        _ => (None, None, None),
    };
    let target = logsource::target(product.as_deref(), category.as_deref(), service.as_deref());
    let logsource = [product, category, service]
        .iter()
        .map(|p| p.clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/");

    // Selections in definition order.
    let mut names = Vec::new();
    let mut sels = Vec::new();
    let mut fields = Vec::new();
    let mut budget = MAX_NODES;
    for (k, v) in det {
        let Yaml::String(name) = k else {
            return Err("selection name is not a string".into());
        };
        if name == "condition" || name == "timeframe" {
            continue;
        }
        let node = selection(v, interner, &mut fields, &mut budget)
            .map_err(|e| format!("selection `{name}`: {e}"))?;
        names.push(name.clone());
        sels.push(node);
    }
    let conds: Vec<String> = match get(det, "condition") {
        Some(Yaml::String(s)) => vec![s.clone()],
        Some(Yaml::Array(a)) => a
            .iter()
            .map(|c| match c {
                Yaml::String(s) => Ok(s.clone()),
                _ => Err("condition list item is not a string".to_string()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("no `condition`".into()),
    };
    let mut aggregation = None;
    let mut roots = Vec::new();
    for c in &conds {
        let (expr, agg) = match c.split_once('|') {
            Some((e, a)) => (e, Some(parse_aggregation(a)?)),
            None => (c.as_str(), None),
        };
        if agg.is_some() {
            if conds.len() > 1 {
                return Err("an aggregation in a list of conditions is not supported".into());
            }
            aggregation = agg;
        }
        let e = condition::parse(expr, &names)?;
        roots.push(substitute(&e, &names, &sels));
    }
    let node = if roots.len() == 1 {
        roots.remove(0)
    } else {
        Node::Or(roots)
    };
    let timeframe_ms = match get_str(det, "timeframe") {
        Some(t) => Some(parse_timespan(&t)?),
        None => None,
    };
    Ok(Some(Doc::Rule(Box::new(Rule {
        meta,
        target,
        logsource,
        node,
        fields,
        aggregation,
        timeframe_ms,
    }))))
}

/// Replaces selection names by their compiled trees.
fn substitute(e: &Expr, names: &[String], sels: &[Node]) -> Node {
    match e {
        Expr::And(v) => Node::And(v.iter().map(|x| substitute(x, names, sels)).collect()),
        Expr::Or(v) => Node::Or(v.iter().map(|x| substitute(x, names, sels)).collect()),
        Expr::Not(x) => Node::Not(Box::new(substitute(x, names, sels))),
        Expr::Sel(n) => names
            .iter()
            .position(|m| m == n)
            .and_then(|i| sels.get(i))
            .cloned()
            .unwrap_or(Node::Const(false)),
    }
}

fn spend(budget: &mut usize, n: usize) -> Result<(), String> {
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| "rule too large".to_string())?;
    Ok(())
}

/// A selection: a map (AND of fields), a list of maps (OR), or keywords.
fn selection(
    v: &Yaml,
    interner: &mut Interner,
    fields: &mut Vec<String>,
    budget: &mut usize,
) -> Result<Node, String> {
    spend(budget, 1)?;
    match v {
        Yaml::Hash(h) => {
            let mut items = Vec::with_capacity(h.len());
            for (k, val) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    _ => return Err("field name is not a string".into()),
                };
                items.push(field_cond(&key, val, interner, fields, budget)?);
            }
            Ok(Node::And(items))
        }
        Yaml::Array(a) => {
            let mut items = Vec::with_capacity(a.len());
            let mut keywords = Vec::new();
            for item in a {
                match item {
                    Yaml::Hash(_) => items.push(selection(item, interner, fields, budget)?),
                    other => {
                        let s = scalar(other).ok_or("list item is not a value or a map")?;
                        spend(budget, 1)?;
                        keywords.push(keyword_values(&s)?);
                    }
                }
            }
            if !keywords.is_empty() {
                items.push(Node::Keywords {
                    values: keywords,
                    all: false,
                });
            }
            Ok(Node::Or(items))
        }
        other => {
            let s = scalar(other).ok_or("selection is not a map, list or value")?;
            if s == Scalar::Null {
                return Err("empty selection".into());
            }
            Ok(Node::Keywords {
                values: vec![keyword_values(&s)?],
                all: false,
            })
        }
    }
}

/// Keywords match anywhere in a value (Sigma's full-text search).
fn keyword_values(s: &Scalar) -> Result<Vec<Matcher>, String> {
    let mods = Modifiers {
        anchor: Some(value::Anchor::Contains),
        ..Modifiers::default()
    };
    value::compile(s, &mods)
}

fn field_cond(
    key: &str,
    val: &Yaml,
    interner: &mut Interner,
    fields: &mut Vec<String>,
    budget: &mut usize,
) -> Result<Node, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("").trim().to_string();
    let mods = Modifiers::parse(parts).map_err(|e| format!("field `{key}`: {e}"))?;
    let raw_values: Vec<Scalar> = match val {
        Yaml::Array(a) => {
            if a.len() > MAX_VALUES {
                return Err(format!("field `{key}`: too many values"));
            }
            a.iter()
                .map(|x| scalar(x).ok_or_else(|| format!("field `{key}`: value is not a scalar")))
                .collect::<Result<_, _>>()?
        }
        other => {
            vec![scalar(other).ok_or_else(|| format!("field `{key}`: value is not a scalar"))?]
        }
    };
    spend(budget, raw_values.len().max(1))?;
    let mut values = Vec::with_capacity(raw_values.len());
    for v in &raw_values {
        let group = value::compile(v, &mods).map_err(|e| format!("field `{key}`: {e}"))?;
        for m in &group {
            if let Matcher::FieldRef { field, .. } = m {
                // The referenced field must be looked up in events too.
                interner.id(field);
            }
        }
        values.push(group);
    }
    if name.is_empty() {
        // `|contains: x` without a field: keyword search with modifiers.
        return Ok(Node::Keywords {
            values,
            all: mods.all,
        });
    }
    if !fields.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
        fields.push(name.clone());
    }
    if values.is_empty() {
        // `Field: []` lists nothing to match.
        return Ok(Node::Const(false));
    }
    Ok(Node::Field(FieldCond {
        fid: interner.id(&name),
        name,
        values,
        all: mods.all,
    }))
}

/// `count() by G > N`, `count(F) by G >= N`, `count() > N`.
fn parse_aggregation(s: &str) -> Result<Aggregation, String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("count(")
        .ok_or_else(|| format!("unsupported aggregation `{s}`"))?;
    let (field, rest) = rest
        .split_once(')')
        .ok_or_else(|| format!("unsupported aggregation `{s}`"))?;
    let field = Some(field.trim().to_string()).filter(|f| !f.is_empty());
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let mut group_by = None;
    if words.first() == Some(&"by") {
        group_by = words.get(1).map(|g| g.to_string());
        words.drain(..words.len().min(2));
    }
    let (op, n) = match words.as_slice() {
        [op, n] => (*op, *n),
        _ => return Err(format!("unsupported aggregation `{s}`")),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("aggregation count `{n}` is not a number"))?;
    let cmp = match op {
        ">" => CountCond::Gt(n),
        ">=" => CountCond::Gte(n),
        "<" => CountCond::Lt(n),
        "<=" => CountCond::Lte(n),
        "=" | "==" => CountCond::Eq(n),
        _ => return Err(format!("unsupported aggregation operator `{op}`")),
    };
    Ok(Aggregation {
        field,
        group_by,
        cmp,
    })
}

/// `30s`, `5m`, `1h`, `2d`, `1w`, `1M` (30 days), `1y` (365 days) → ms.
pub(crate) fn parse_timespan(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("timespan `{s}` has no unit"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("timespan `{s}` is not a number"))?;
    let mult: i64 = match unit.trim() {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        u => return Err(format!("timespan unit `{u}` unknown")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("timespan `{s}` too large"))
}

fn parse_count_cond(h: &Hash) -> Result<Option<CountCond>, String> {
    let num = |k: &str| -> Result<Option<u64>, String> {
        match get(h, k) {
            None => Ok(None),
            Some(Yaml::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(_) => Err(format!("condition `{k}` is not a non-negative number")),
        }
    };
    if let Some(n) = num("gte")? {
        return Ok(Some(CountCond::Gte(n)));
    }
    if let Some(n) = num("gt")? {
        return Ok(Some(CountCond::Gt(n)));
    }
    if let Some(n) = num("lte")? {
        return Ok(Some(CountCond::Lte(n)));
    }
    if let Some(n) = num("lt")? {
        return Ok(Some(CountCond::Lt(n)));
    }
    if let Some(n) = num("eq")? {
        return Ok(Some(CountCond::Eq(n)));
    }
    if let Some(r) = get_str(h, "range") {
        let (a, b) = r
            .split_once("..")
            .ok_or_else(|| format!("range `{r}` is not `a..b`"))?;
        let a = a.trim().parse().map_err(|_| format!("range `{r}`"))?;
        let b = b.trim().parse().map_err(|_| format!("range `{r}`"))?;
        return Ok(Some(CountCond::Range(a, b)));
    }
    Ok(None)
}

fn string_list(y: Option<&Yaml>) -> Vec<String> {
    match y {
        Some(Yaml::String(s)) => vec![s.clone()],
        Some(Yaml::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Yaml::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn parse_correlation(h: &Hash, c: &Yaml) -> Result<CorrelationDef, String> {
    let Yaml::Hash(c) = c else {
        return Err("`correlation` is not a mapping".into());
    };
    let kind = match get_str(c, "type").as_deref() {
        Some("event_count") => CorrKind::EventCount,
        Some("value_count") => CorrKind::ValueCount,
        Some("temporal") => CorrKind::Temporal,
        Some("temporal_ordered") => CorrKind::TemporalOrdered,
        Some(t) => return Err(format!("correlation type `{t}` is not supported")),
        None => return Err("correlation has no `type`".into()),
    };
    let rules = string_list(get(c, "rules"));
    if rules.is_empty() {
        return Err("correlation lists no `rules`".into());
    }
    let timespan_ms = match get_str(c, "timespan").or_else(|| get_str(c, "timeframe")) {
        Some(t) => parse_timespan(&t)?,
        None => return Err("correlation has no `timespan`".into()),
    };
    let (cond, field) = match get(c, "condition") {
        Some(Yaml::Hash(ch)) => (parse_count_cond(ch)?, get_str(ch, "field")),
        None => (None, None),
        Some(_) => return Err("correlation `condition` is not a mapping".into()),
    };
    match kind {
        CorrKind::EventCount | CorrKind::ValueCount if cond.is_none() => {
            return Err("count correlation has no `condition`".into())
        }
        CorrKind::ValueCount if field.is_none() => {
            return Err("value_count correlation has no `condition.field`".into())
        }
        _ => {}
    }
    let mut aliases = Vec::new();
    if let Some(Yaml::Hash(a)) = get(c, "aliases") {
        for (k, v) in a {
            let (Yaml::String(alias), Yaml::Hash(m)) = (k, v) else {
                return Err("correlation `aliases` entry is not `alias: {rule: field}`".into());
            };
            let map = m
                .iter()
                .filter_map(|(r, f)| match (r, f) {
                    (Yaml::String(r), Yaml::String(f)) => Some((r.clone(), f.clone())),
                    _ => None,
                })
                .collect();
            aliases.push((alias.clone(), map));
        }
    }
    let generate = matches!(get(c, "generate"), Some(Yaml::Boolean(true)))
        || matches!(get(h, "generate"), Some(Yaml::Boolean(true)));
    Ok(CorrelationDef {
        meta: meta(h),
        kind,
        rules,
        group_by: string_list(get(c, "group-by")),
        timespan_ms,
        cond,
        field,
        generate,
        aliases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    fn one(src: &str) -> Result<Option<Doc>, String> {
        let docs = YamlLoader::load_from_str(src).map_err(|e| e.to_string())?;
        parse_doc(&docs[0], &mut Interner::default())
    }

    #[test]
    fn a_rule_compiles_with_its_logsource_and_fields() {
        let d = one(
            "title: t\nid: x-1\nlevel: high\nlogsource: {product: windows, category: process_creation}\n\
             detection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains|all: [a, b]\n  condition: sel\n",
        )
        .unwrap();
        let Some(Doc::Rule(r)) = d else { panic!() };
        assert_eq!(r.meta.level, Level::High);
        assert_eq!(r.fields, vec!["Image", "CommandLine"]);
        assert!(matches!(r.target, Target::Channels(_)));
    }

    #[test]
    fn broken_rules_say_why() {
        let e = one("title: t\ndetection:\n  sel: {A|nosuch: 1}\n  condition: sel\n").unwrap_err();
        assert!(e.contains("nosuch"), "{e}");
        let e = one("title: t\ndetection:\n  sel: {A: 1}\n").unwrap_err();
        assert!(e.contains("condition"), "{e}");
        let e =
            one("title: t\ndetection:\n  sel: {A: 1}\n  condition: sel | near x\n").unwrap_err();
        assert!(e.contains("aggregation"), "{e}");
    }

    #[test]
    fn old_aggregations_parse() {
        assert_eq!(
            parse_aggregation(" count(TargetUserName) by IpAddress > 10").unwrap(),
            Aggregation {
                field: Some("TargetUserName".into()),
                group_by: Some("IpAddress".into()),
                cmp: CountCond::Gt(10)
            }
        );
        assert_eq!(
            parse_aggregation("count() > 3").unwrap().cmp,
            CountCond::Gt(3)
        );
    }

    #[test]
    fn correlations_parse_with_conditions_and_timespans() {
        let d = one(
            "title: c\nid: c-1\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [IpAddress]\n  timespan: 5m\n  condition: {gte: 3, field: TargetUserName}\n",
        )
        .unwrap();
        let Some(Doc::Correlation(c)) = d else {
            panic!()
        };
        assert_eq!(c.kind, CorrKind::ValueCount);
        assert_eq!(c.timespan_ms, 300_000);
        assert_eq!(c.cond, Some(CountCond::Gte(3)));
        assert_eq!(c.field.as_deref(), Some("TargetUserName"));
        assert!(parse_timespan("5x").is_err());
    }
}
