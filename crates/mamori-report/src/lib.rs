//! # mamori-report
//!
//! The monthly report for one tenant, for the company's management: what happened, what was
//! blocked, what to do next. Japanese by default, English on request.
//!
//! Input is [`ReportData`], plain figures the caller has already gathered from the store
//! (the `mamori report` command does that; this crate does no store access and no alert
//! counting). Output is one self-contained HTML document ([`render_html`]: inline CSS, inline
//! SVG charts, no scripts, nothing fetched) laid out for A4, and a PDF of it printed by
//! Debian's headless Chromium ([`to_pdf`]) when that is installed.
//!
//! - [`data`]: the report's data, field by field, as written to `report.json`.
//! - [`recommend`]: the headline verdict and the rules that turn figures into recommended
//!   actions, each with its reason and the figure behind it.
//! - [`html`]: the six pages (summary, charts, incidents, website diagnosis, training,
//!   recommendations); [`chart`]: the SVG charts they use.
//! - [`i18n`]: every word in both languages, numbers (`181,536`) and months (`2026年10月`).
//! - [`pdf`]: running Chromium with a fresh profile and a time limit.

pub mod chart;
pub mod data;
mod error;
pub mod html;
pub mod i18n;
pub mod pdf;
pub mod recommend;

pub use data::{
    BySeverity, CampaignResult, Counts, DailyCount, DepartmentResult, FindingStatus, IncidentLine,
    Month, ReportData, ScanFinding, ScanSection, TrainingSection,
};
pub use error::ReportError;
pub use html::render_html;
pub use i18n::Lang;
pub use pdf::{find_chromium, to_pdf, PdfOptions, PdfOutcome};
pub use recommend::{recommendations, Priority, Recommendation, Verdict};

use std::path::{Path, PathBuf};

/// The files one report run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.html`, always written.
    pub html: PathBuf,
    /// `report.json`: the data the report was made from.
    pub json: PathBuf,
    /// `report.pdf`, when Chromium was available.
    pub pdf: Option<PathBuf>,
    /// Why there is no PDF, to show the user, when there is none.
    pub pdf_missing: Option<String>,
}

/// Writes `report.html` and `report.json` into `out_dir` (created if needed), then prints
/// `report.pdf` with Chromium when one is found. Without Chromium the result says why in
/// `pdf_missing` (and a `report.pdf` from an earlier run is removed); a Chromium that fails
/// or times out is an error, after the HTML and JSON were written. See [`write_report_with`]
/// to choose the browser or the time limit.
pub fn write_report(
    data: &ReportData,
    lang: Lang,
    out_dir: &Path,
) -> Result<ReportFiles, ReportError> {
    write_report_with(data, lang, out_dir, &PdfOptions::default())
}

pub fn write_report_with(
    data: &ReportData,
    lang: Lang,
    out_dir: &Path,
    pdf_options: &PdfOptions,
) -> Result<ReportFiles, ReportError> {
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let html = out_dir.join("report.html");
    let json = out_dir.join("report.json");
    let pdf = out_dir.join("report.pdf");
    write_file(&html, render_html(data, lang).as_bytes())?;
    write_file(&json, &serde_json::to_vec_pretty(data)?)?;
    tracing::info!(
        tenant = %data.tenant,
        month = %data.month,
        lang = %lang,
        html = %html.display(),
        "report written"
    );
    match to_pdf(&html, &pdf, pdf_options)? {
        PdfOutcome::Written => Ok(ReportFiles {
            html,
            json,
            pdf: Some(pdf),
            pdf_missing: None,
        }),
        PdfOutcome::NoChromium(message) => {
            // A PDF from an earlier run would contradict the new HTML.
            pdf::remove_if_present(&pdf)?;
            Ok(ReportFiles {
                html,
                json,
                pdf: None,
                pdf_missing: Some(message),
            })
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
