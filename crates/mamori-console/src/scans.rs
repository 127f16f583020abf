//! Website diagnosis for the service: each tenant's registered sites (`DATA/scan-sites.json`),
//! every scan kept as JSON (`DATA/scans/TENANT/SITE/UNIX_MS.json`) so the console can show the
//! difference from the previous one, findings stored as alerts on the website asset, and the
//! monthly report's section. The scanning itself is `mamori-scan`'s.

use crate::ConsoleError;
use mamori_report::{FindingStatus, Month, ScanFinding, ScanSection};
use mamori_scan::{ScanConfig, ScanReport, Scanner};
use mamori_store::DynStore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Scans kept per site (the oldest are deleted).
const KEEP: usize = 60;

fn io(e: std::io::Error, what: &Path) -> ConsoleError {
    ConsoleError::Internal(format!("{}: {e}", what.display()))
}

fn sites_file(data: &Path) -> PathBuf {
    data.join("scan-sites.json")
}

/// Every tenant's registered sites.
pub fn all_sites(data: &Path) -> BTreeMap<String, Vec<String>> {
    std::fs::read(sites_file(data))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The sites registered for `tenant`.
pub fn sites(data: &Path, tenant: &str) -> Vec<String> {
    all_sites(data).remove(tenant).unwrap_or_default()
}

/// Registers `url` for `tenant` (normalised; at most 50 sites per tenant).
pub fn register(data: &Path, tenant: &str, url: &str) -> Result<String, ConsoleError> {
    let parsed = mamori_scan::parse_target(url, true)
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    let url = parsed.to_string();
    let mut all = all_sites(data);
    let list = all.entry(tenant.to_string()).or_default();
    if !list.contains(&url) {
        if list.len() >= 50 {
            return Err(ConsoleError::BadRequest(
                "at most 50 sites per tenant".into(),
            ));
        }
        list.push(url.clone());
    }
    write_json(&sites_file(data), &all)?;
    Ok(url)
}

/// Removes `url` from `tenant`'s sites (its scans stay).
pub fn unregister(data: &Path, tenant: &str, url: &str) -> Result<(), ConsoleError> {
    let mut all = all_sites(data);
    if let Some(list) = all.get_mut(tenant) {
        list.retain(|u| u != url);
    }
    write_json(&sites_file(data), &all)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), ConsoleError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    }
    let tmp = path.with_extension("tmp");
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| io(e, &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| io(e, path))
}

/// A site's directory name: its host and port, in safe characters.
pub fn site_key(url: &str) -> String {
    let key: String = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    if key.is_empty() {
        "site".into()
    } else {
        key
    }
}

fn site_dir(data: &Path, tenant: &str, url: &str) -> PathBuf {
    data.join("scans").join(tenant).join(site_key(url))
}

/// Keeps a scan, deleting the oldest beyond [`KEEP`].
pub fn save(data: &Path, tenant: &str, report: &ScanReport) -> Result<PathBuf, ConsoleError> {
    let dir = site_dir(data, tenant, &report.target);
    let path = dir.join(format!("{}.json", mamori_core::unix_ms(report.finished)));
    write_json(&path, report)?;
    let old = history_files(&dir);
    for p in old.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(p);
    }
    Ok(path)
}

/// Scan files of a site, newest first.
fn history_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort_by(|a, b| b.cmp(a));
    files
}

/// A site's scans, newest first (at most `limit`).
pub fn history(data: &Path, tenant: &str, url: &str, limit: usize) -> Vec<ScanReport> {
    history_files(&site_dir(data, tenant, url))
        .into_iter()
        .take(limit)
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// Scans `url` for `tenant`: keeps the report and stores its findings as alerts on the
/// website. A scan from the console or the schedule must be of a registered site.
pub async fn scan_and_keep(
    store: &DynStore,
    data: &Path,
    tenant: &str,
    url: &str,
    config: ScanConfig,
    window: time::Duration,
    progress: impl FnMut(mamori_scan::Progress) + Send,
) -> Result<ScanReport, ConsoleError> {
    let scanner = Scanner::new(config).map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    let report = scanner.scan(url, progress).await;
    save(data, tenant, &report)?;
    let site = site_key(&report.target);
    let alerts: Vec<mamori_core::Alert> = report
        .findings
        .iter()
        .map(|f| f.to_alert(tenant, &site))
        .collect();
    if !alerts.is_empty() {
        store.ingest(&alerts, window).await?;
    }
    Ok(report)
}

/// The monthly report's website section: the month's last scan of each site (new, still
/// open, fixed against the scan before it) and open findings per month for half a year.
pub fn report_section(
    data: &Path,
    tenant: &str,
    month: Month,
    to: time::OffsetDateTime,
) -> Option<ScanSection> {
    let mut section = ScanSection::default();
    let mut trend: BTreeMap<String, u64> = BTreeMap::new();
    for url in sites(data, tenant) {
        let scans = history(data, tenant, &url, KEEP);
        let in_month: Vec<&ScanReport> = scans.iter().filter(|s| s.finished < to).collect();
        let Some(last) = in_month.first() else {
            continue;
        };
        if last.finished.to_offset(time::macros::offset!(+9)).month() as u8 != month.month() {
            continue;
        }
        section.sites.push(url.clone());
        let status_of = match in_month.get(1) {
            Some(prev) => mamori_scan::diff(prev, last),
            None => mamori_scan::Diff {
                new: last.findings.clone(),
                ..Default::default()
            },
        };
        for (list, status) in [
            (&status_of.new, FindingStatus::New),
            (&status_of.still_open, FindingStatus::Open),
            (&status_of.fixed, FindingStatus::Fixed),
        ] {
            for f in list {
                section.findings.push(ScanFinding {
                    id: f.id.clone(),
                    severity: f.severity,
                    title: f.title_ja.clone(),
                    url: f.url.clone(),
                    status,
                });
            }
        }
        // The last scan of each month for the trend.
        let mut seen = std::collections::HashSet::new();
        for s in &in_month {
            let d = s.finished.to_offset(time::macros::offset!(+9));
            let label = format!("{:04}-{:02}", d.year(), d.month() as u8);
            if seen.insert(label.clone()) {
                *trend.entry(label).or_default() += s.findings.len() as u64;
            }
        }
    }
    if section.sites.is_empty() {
        return None;
    }
    let n = trend.len();
    section.trend = trend.into_iter().skip(n.saturating_sub(6)).collect();
    Some(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_keys_are_safe_directory_names() {
        assert_eq!(
            site_key("https://shop.example.co.jp/"),
            "shop.example.co.jp"
        );
        assert_eq!(
            site_key("http://127.0.0.1:8443/../x"),
            "127.0.0.1_8443_.._x"
        );
        assert_eq!(site_key(""), "site");
    }
}
