//! `mamori waf test`: go-ftw regression tests through the real proxy.

use anyhow::{bail, Result};
use std::path::PathBuf;

pub async fn run(_rules: Option<PathBuf>, _files: Vec<PathBuf>) -> Result<std::process::ExitCode> {
    bail!("not wired yet")
}
