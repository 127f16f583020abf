//! `mamori waf test`: go-ftw regression tests through the real proxy and the rules.

use anyhow::{bail, Context, Result};
use mamori_waf::ftw;
use std::io::Write;
use std::path::PathBuf;

pub async fn run(rules: Option<PathBuf>, files: Vec<PathBuf>) -> Result<std::process::ExitCode> {
    let rules = match rules.or_else(mamori_waf::proxy::default_rules) {
        Some(r) => r,
        None => bail!("no rules given and Debian's CRS is not installed (pass --rules DIR)"),
    };
    let paths = ftw::test_files(&files);
    if paths.is_empty() {
        bail!("no .yaml test files in {files:?}");
    }
    let mut runner = ftw::Runner::start(&rules)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("starting the WAF with {}", rules.display()))?;
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for path in paths {
        let tests = match ftw::load(&path) {
            Ok(t) => t,
            Err(e) => {
                failed += 1;
                let line = serde_json::json!({"test_id": path.display().to_string(), "rule_id": 0, "passed": false, "reason": e});
                writeln!(out, "{line}")?;
                continue;
            }
        };
        for t in tests {
            let outcome = runner.run(&t).await;
            if outcome.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            writeln!(out, "{}", serde_json::to_string(&outcome)?)?;
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
