//! The public corpora (mail-parser's `.eml` set, rspamd's functional-test messages) in
//! `shared/testdata/mail/`: every file must give a report or a clean error in both
//! directions, never a panic. Skipped with a note when the folder is absent; set
//! `MAMORI_MAIL_CORPUS` to point elsewhere.

mod common;

use mamori_mail::{check, CheckContext, Direction, Policy};
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    std::env::var_os("MAMORI_MAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mail")
        })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_message_gets_a_report_or_a_clean_error() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!("note: {} not found; corpus test skipped", dir.display());
        return;
    }
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let policy = Policy::default();
    let ctx = CheckContext {
        company_domains: vec!["example.com".into()],
        colleagues: vec![("John Doe".into(), "jdoe@example.com".into())],
        ..common::company()
    };
    let (mut reports, mut errors) = (0usize, Vec::new());
    for path in &files {
        let Ok(raw) = std::fs::read(path) else {
            continue;
        };
        for direction in [Direction::Inbound, Direction::Outbound] {
            let result = std::panic::catch_unwind(|| check(&raw, direction, &policy, &ctx));
            match result {
                Ok(Ok(report)) => {
                    reports += 1;
                    // The JSON must always serialise with the three required keys.
                    let json = report.to_json();
                    assert!(
                        json.get("verdict").is_some()
                            && json.get("score").is_some()
                            && json.get("reasons").is_some()
                    );
                }
                Ok(Err(e)) => errors.push(format!("{}: {e}", path.display())),
                Err(_) => panic!("check() panicked on {} ({direction:?})", path.display()),
            }
        }
    }
    eprintln!(
        "corpus: {} files, {reports} reports, {} errors",
        files.len(),
        errors.len()
    );
    for e in &errors {
        eprintln!("  {e}");
    }
    assert!(!files.is_empty());
    // Errors are allowed only for input that is not a mail at all (no header, empty).
    for e in &errors {
        assert!(e.contains("no header") || e.contains("empty"), "{e}");
    }
}
