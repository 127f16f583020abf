//! Printing the report's HTML to PDF with headless Chromium (Debian's `chromium` package).
//!
//! Chromium runs with a fresh, throw-away profile, no network services, no sandbox (it is
//! often run as root in containers and on appliances, where the sandbox cannot start) and a
//! time limit after which it is killed. The page has no external resources, so nothing is
//! fetched. When Chromium is not installed the caller gets [`PdfOutcome::NoChromium`] with a
//! message saying what to install, and keeps the HTML.

use crate::error::ReportError;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable naming the Chromium to use: a path, or a program name looked up
/// on `PATH`.
pub const CHROMIUM_ENV: &str = "MAMORI_CHROMIUM";

/// Program names tried on `PATH`, in order.
const CANDIDATES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How much of Chromium's stderr an error quotes.
const STDERR_TAIL_LINES: usize = 15;

#[derive(Debug, Clone)]
pub struct PdfOptions {
    /// The browser to run; `None` looks for one with [`find_chromium`].
    pub chromium: Option<PathBuf>,
    /// How long Chromium may take before it is killed.
    pub timeout: Duration,
}

impl Default for PdfOptions {
    fn default() -> PdfOptions {
        PdfOptions {
            chromium: None,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfOutcome {
    Written,
    /// No Chromium to print with; the message says what was looked for and what to install.
    NoChromium(String),
}

/// The Chromium to print with: `MAMORI_CHROMIUM` when set (a path or a name on `PATH`),
/// else the first of chromium, chromium-browser, google-chrome, google-chrome-stable on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(CHROMIUM_ENV).filter(|v| !v.is_empty()) {
        let found = resolve(Path::new(&v));
        if found.is_none() {
            tracing::warn!(env = CHROMIUM_ENV, value = ?v, "the configured Chromium was not found");
        }
        return found;
    }
    CANDIDATES.iter().find_map(|name| resolve(Path::new(name)))
}

/// A path with a directory part is taken as it is; a bare name is looked up on `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

fn no_chromium_message(pdf: &Path) -> String {
    format!(
        "no Chromium found ({CHROMIUM_ENV} unset or not found; looked for {} on PATH), so {} was not written; the HTML report is complete and can be printed from a browser. To get the PDF, install Debian's chromium package (and fonts-noto-cjk or fonts-ipafont-gothic for Japanese), or set {CHROMIUM_ENV} to the browser's path.",
        CANDIDATES.join(", "),
        pdf.display()
    )
}

/// Prints `html` to `pdf`. A missing Chromium is an outcome, not an error; a Chromium that
/// fails, hangs or writes nothing is an error quoting the end of its stderr.
pub fn to_pdf(html: &Path, pdf: &Path, opts: &PdfOptions) -> Result<PdfOutcome, ReportError> {
    let program = match &opts.chromium {
        Some(p) => resolve(p),
        None => find_chromium(),
    };
    let Some(program) = program else {
        let message = no_chromium_message(pdf);
        tracing::warn!(pdf = %pdf.display(), "{message}");
        return Ok(PdfOutcome::NoChromium(message));
    };
    let html = std::path::absolute(html).map_err(|source| ReportError::Prepare {
        path: html.to_path_buf(),
        source,
    })?;
    let pdf_abs = std::path::absolute(pdf).map_err(|source| ReportError::Prepare {
        path: pdf.to_path_buf(),
        source,
    })?;
    // An old PDF left in place would look like success if Chromium writes nothing.
    remove_if_present(&pdf_abs)?;
    let profile = Profile::create()?;

    let started = Instant::now();
    let mut command = Command::new(&program);
    // Its own process group, so that on timeout the renderer and helper processes it
    // started are killed with it and do not keep the stderr pipe open.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(flag("--user-data-dir=", profile.path()))
        .arg(flag("--print-to-pdf=", &pdf_abs))
        .arg(file_url(&html))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ReportError::ChromiumStart {
            program: program.clone(),
            source,
        })?;
    // Read stderr on a thread: a chatty Chromium would otherwise fill the pipe and stall.
    // The thread sends what it read when the pipe closes; a leftover process holding the
    // pipe open must not hang the report, hence the bounded wait for it.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    if let Some(mut s) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    let stderr_tail = || {
        rx.recv_timeout(Duration::from_secs(2))
            .map(|b| tail(&String::from_utf8_lossy(&b), STDERR_TAIL_LINES))
            .unwrap_or_else(|_| "(not available)".to_string())
    };

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= opts.timeout => {
                kill_group(&mut child);
                tracing::error!(program = %program.display(), timeout_s = opts.timeout.as_secs(), "Chromium timed out and was killed");
                return Err(ReportError::ChromiumTimeout {
                    program,
                    seconds: opts.timeout.as_secs(),
                    stderr_tail: stderr_tail(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(source) => {
                kill_group(&mut child);
                return Err(ReportError::ChromiumStart { program, source });
            }
        }
    };
    let stderr_tail = stderr_tail();
    if !status.success() {
        return Err(ReportError::ChromiumFailed {
            program,
            html,
            status: status.to_string(),
            stderr_tail,
        });
    }
    if !looks_like_pdf(&pdf_abs) {
        return Err(ReportError::NoPdfWritten {
            program,
            pdf: pdf_abs,
            stderr_tail,
        });
    }
    tracing::info!(
        pdf = %pdf_abs.display(),
        program = %program.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report printed to PDF"
    );
    Ok(PdfOutcome::Written)
}

/// Kills the child and every process in its group, then reaps the child.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads
        // (it was started with process_group(0)); no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut f = OsString::from(name);
    f.push(path.as_os_str());
    f
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), ReportError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ReportError::Prepare {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn looks_like_pdf(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"%PDF-")
        .unwrap_or(false)
}

/// `file://` URL of an absolute path, percent-encoding everything but unreserved characters
/// and `/`, so spaces and Japanese directory names survive.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = all.len().saturating_sub(lines);
    if all.is_empty() {
        "(nothing)".to_string()
    } else {
        all[start..].join("\n")
    }
}

/// A Chromium profile directory of its own, removed when dropped.
struct Profile(PathBuf);

impl Profile {
    fn create() -> Result<Profile, ReportError> {
        let base = std::env::temp_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last_err = None;
        for attempt in 0..16u32 {
            let dir = base.join(format!(
                "mamori-report-chromium-{}-{nanos:08x}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Profile(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(source) => return Err(ReportError::Prepare { path: dir, source }),
            }
        }
        Err(ReportError::Prepare {
            path: base,
            source: last_err.unwrap_or_else(|| std::io::Error::other("no free directory name")),
        })
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove Chromium's temporary profile");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_encode_spaces_and_japanese_names() {
        assert_eq!(
            file_url(Path::new("/tmp/月次 レポート/report.html")),
            "file:///tmp/%E6%9C%88%E6%AC%A1%20%E3%83%AC%E3%83%9D%E3%83%BC%E3%83%88/report.html"
        );
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 3), "(nothing)");
    }

    #[test]
    fn a_missing_browser_is_an_outcome_with_advice_not_an_error() {
        let dir = mamori_core::scratch::dir("report-nochrome");
        let opts = PdfOptions {
            chromium: Some(PathBuf::from("/nonexistent/chromium")),
            ..PdfOptions::default()
        };
        let out = to_pdf(&dir.join("report.html"), &dir.join("report.pdf"), &opts).unwrap();
        match out {
            PdfOutcome::NoChromium(m) => {
                assert!(m.contains("chromium") && m.contains(CHROMIUM_ENV), "{m}")
            }
            other => panic!("expected NoChromium, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_browser_is_an_error_quoting_its_stderr() {
        use std::os::unix::fs::PermissionsExt;
        let dir = mamori_core::scratch::dir("report-failchrome");
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("fake-chromium");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'ERROR: cannot open display' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let html = dir.join("report.html");
        std::fs::write(&html, "<p>x</p>").unwrap();
        let opts = PdfOptions {
            chromium: Some(fake.clone()),
            ..PdfOptions::default()
        };
        let err = to_pdf(&html, &dir.join("report.pdf"), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot open display") && err.contains("failed"),
            "{err}"
        );

        std::fs::write(&fake, "#!/bin/sh\nsleep 30\n").unwrap();
        let opts = PdfOptions {
            chromium: Some(fake),
            timeout: Duration::from_millis(300),
        };
        let started = Instant::now();
        let err = to_pdf(&html, &dir.join("report.pdf"), &opts).unwrap_err();
        assert!(matches!(err, ReportError::ChromiumTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
