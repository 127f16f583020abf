//! Every `@rx`, `@pm` and `@pmFromFile` of the CRS copies on this machine compiles with
//! [`Operator::compile`]: CRS v4 from `../shared/testdata/waf/crs-v4/rules` (all on the
//! linear-time engine) and Debian's CRS 3.3.4 from `/usr/share/modsecurity-crs/rules` when
//! installed. Skips with a note when a copy is absent.
//!
//! The operator argument is taken from each `SecRule VARIABLES "OPERATOR" "ACTIONS"` with a
//! small quote-aware scan (lines joined on a trailing `\`), independent of the engine's
//! parser.

use mamori_waf::operator::Operator;
use std::path::{Path, PathBuf};

const CRS_V4: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/waf/crs-v4/rules"
);
const CRS_DEBIAN: &str = "/usr/share/modsecurity-crs/rules";

/// One operator found in a rule file.
struct Found {
    file: PathBuf,
    line: usize,
    name: String,
    arg: String,
}

/// Joins continuation lines, keeping the number of each logical line's first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        if cur.is_empty() {
            start = n + 1;
        }
        match line.strip_suffix('\\') {
            Some(head) => cur.push_str(head),
            None => {
                cur.push_str(line);
                out.push((start, std::mem::take(&mut cur)));
            }
        }
    }
    out
}

/// Splits a directive line into words: `"…"` (with `\"` escapes kept) or bare words.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'"') => {
                        w.push('"');
                        chars.next();
                    }
                    '"' => break,
                    _ => w.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    out
}

fn operators_in(dir: &Path, wanted: &[&str]) -> Vec<Found> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "conf"));
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (line, l) in logical_lines(&text) {
            let w = words(&l);
            if w.first().map(String::as_str) != Some("SecRule") {
                continue;
            }
            let Some(op) = w.get(2) else { continue };
            let op = op.strip_prefix('!').unwrap_or(op);
            let (name, arg) = match op.strip_prefix('@') {
                Some(rest) => match rest.split_once(' ') {
                    Some((n, a)) => (n.to_string(), a.to_string()),
                    None => (rest.to_string(), String::new()),
                },
                // No operator means @rx.
                None => ("rx".to_string(), op.to_string()),
            };
            if wanted.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                found.push(Found {
                    file: file.clone(),
                    line,
                    name,
                    arg,
                });
            }
        }
    }
    found
}

/// Compiles every wanted operator in `dir`; returns (count, compiled on the linear engine).
fn compile_all(dir: &Path) -> Option<(usize, usize)> {
    if !dir.is_dir() {
        println!("note: {} absent, skipping", dir.display());
        return None;
    }
    let found = operators_in(dir, &["rx", "pm", "pmFromFile", "pmf"]);
    let mut failures = Vec::new();
    let mut linear = 0;
    for f in &found {
        // Macros (`%{tx.…}`) are expanded per transaction by the engine; skip them here.
        if f.arg.contains("%{") {
            continue;
        }
        match Operator::compile(&f.name, &f.arg, dir) {
            Ok(op) => linear += usize::from(op.is_linear()),
            Err(e) => failures.push(format!("{}:{}: @{}: {e}", f.file.display(), f.line, f.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} operators do not compile:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Some((found.len(), linear))
}

#[test]
fn crs_v4_operators_all_compile_on_the_linear_engine() {
    let Some((n, linear)) = compile_all(Path::new(CRS_V4)) else {
        return;
    };
    let rx = operators_in(Path::new(CRS_V4), &["rx"]).len();
    println!("CRS v4: {n} operators compiled ({rx} @rx), {linear} on the linear-time engine");
    assert!(rx >= 300, "only {rx} @rx found: is the scan broken?");
    assert_eq!(
        linear, n,
        "every CRS v4 pattern runs on the linear-time engine"
    );
}

#[test]
fn crs_3_3_operators_all_compile() {
    let Some((n, linear)) = compile_all(Path::new(CRS_DEBIAN)) else {
        return;
    };
    println!(
        "CRS 3.3 (Debian): {n} operators compiled, {} need backtracking",
        n - linear
    );
    assert!(n > 100);
}

#[test]
fn scanner_reads_quoted_operator_arguments() {
    let lines = logical_lines("SecRule ARGS \"@rx a\\\"b c\" \\\n    \"id:1,\\\n    pass\"\n");
    assert_eq!(lines.len(), 1);
    let w = words(&lines[0].1);
    assert_eq!(w[2], "@rx a\"b c");
}

const CRS_V4_TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/waf/crs-v4/tests/regression/tests"
);

/// Request strings (`uri:` and `data:` values) of the CRS regression suite, decoded the way
/// most CRS rules decode them.
fn regression_payloads(dir: &Path, limit: usize) -> Vec<Vec<u8>> {
    use mamori_waf::transform::Transform;
    let mut stack = vec![dir.to_path_buf()];
    let mut out = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for line in text.lines() {
                let t = line.trim_start();
                let Some(v) = t.strip_prefix("uri:").or_else(|| t.strip_prefix("data:")) else {
                    continue;
                };
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                let raw = v.as_bytes().to_vec();
                let decoded = Transform::UrlDecodeUni.apply(&raw).into_owned();
                out.push(raw);
                out.push(decoded);
                if out.len() >= limit {
                    return out;
                }
            }
        }
    }
    out
}

#[test]
fn crs_v4_prefilters_never_hide_a_match() {
    let rules = Path::new(CRS_V4);
    let tests = Path::new(CRS_V4_TESTS);
    if !rules.is_dir() || !tests.is_dir() {
        println!("note: CRS v4 rules or regression tests absent, skipping");
        return;
    }
    let payloads = regression_payloads(tests, 3000);
    let ops: Vec<Operator> = operators_in(rules, &["rx"])
        .iter()
        .filter(|f| !f.arg.contains("%{"))
        .filter_map(|f| Operator::compile(&f.name, &f.arg, rules).ok())
        .collect();
    let with_prefilter = ops.iter().filter(|o| o.prefilter().is_some()).count();
    let (mut evaluations, mut skipped, mut matches) = (0usize, 0usize, 0usize);
    let mut violations = Vec::new();
    for op in &ops {
        for p in &payloads {
            evaluations += 1;
            let may = op.prefilter().is_none_or(|f| f.may_match(p));
            if !may {
                skipped += 1;
            }
            if op.eval(p, false).is_some() {
                matches += 1;
                if !may {
                    violations.push(format!(
                        "{:?} on {:?}",
                        op.prefilter(),
                        String::from_utf8_lossy(p)
                    ));
                }
            }
        }
    }
    println!(
        "prefilters: {with_prefilter}/{} @rx have one; {skipped}/{evaluations} evaluations skipped; {matches} matches",
        ops.len()
    );
    assert!(
        violations.is_empty(),
        "prefilter hid matches:\n{}",
        violations.join("\n")
    );
}

/// Speed check of CRS v4's `@rx` patterns and the common transforms over typical short
/// values. Run in release: `cargo test --release -p mamori-waf --test crs_regex_compile --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn crs_v4_operator_speed() {
    use mamori_waf::transform::Transform;
    use std::time::Instant;
    let rules = Path::new(CRS_V4);
    if !rules.is_dir() {
        println!("note: {} absent, skipping", rules.display());
        return;
    }
    let ops: Vec<Operator> = operators_in(rules, &["rx"])
        .iter()
        .filter(|f| !f.arg.contains("%{"))
        .filter_map(|f| Operator::compile(&f.name, &f.arg, rules).ok())
        .collect();
    let inputs: [&[u8]; 8] = [
        b"123",
        b"john.doe@example.com",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        b"/shop/index.php?page=about&lang=en",
        b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        b"The quick brown fox jumps over the lazy dog, twice.",
        b"1' OR '1'='1' -- ",
        b"<script>alert(document.cookie)</script>",
    ];
    let rounds = 200;
    let start = Instant::now();
    let mut hits = 0usize;
    for _ in 0..rounds {
        for input in &inputs {
            for op in &ops {
                hits += usize::from(op.eval(input, false).is_some());
            }
        }
    }
    let evals = rounds * inputs.len() * ops.len();
    let el = start.elapsed();
    println!(
        "@rx: {} patterns x {} inputs x {rounds}: {:.0} ns per evaluation, {:.1} µs per value for all patterns ({hits} hits)",
        ops.len(),
        inputs.len(),
        el.as_nanos() as f64 / evals as f64,
        el.as_nanos() as f64 / (rounds * inputs.len()) as f64 / 1000.0
    );
    let start = Instant::now();
    let (mut skipped, mut hits_filtered) = (0usize, 0usize);
    for _ in 0..rounds {
        for input in &inputs {
            for op in &ops {
                if op.prefilter().is_some_and(|p| !p.may_match(input)) {
                    skipped += 1;
                } else {
                    hits_filtered += usize::from(op.eval(input, false).is_some());
                }
            }
        }
    }
    let el = start.elapsed();
    assert_eq!(hits_filtered, hits, "prefilters change no result");
    println!(
        "@rx behind per-rule prefilters: {:.1} µs per value, {:.0}% of evaluations skipped",
        el.as_nanos() as f64 / (rounds * inputs.len()) as f64 / 1000.0,
        skipped as f64 * 100.0 / evals as f64
    );
    let chain = [
        Transform::UrlDecodeUni,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::CssDecode,
        Transform::Utf8ToUnicode,
        Transform::RemoveNulls,
        Transform::CmdLine,
        Transform::Lowercase,
        Transform::CompressWhitespace,
        Transform::NormalizePath,
    ];
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds * 10 {
        for input in &inputs {
            for t in chain {
                bytes += t.apply(input).len();
            }
        }
    }
    let n = rounds * 10 * inputs.len() * chain.len();
    println!(
        "transforms: {:.0} ns per transform on these values ({bytes} bytes out)",
        start.elapsed().as_nanos() as f64 / n as f64
    );
}
