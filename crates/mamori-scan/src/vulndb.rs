//! The vulnerability data: products (WordPress core, plugins, themes, servers) with their
//! known vulnerable version ranges. A sample is embedded; `update_db` replaces it with a
//! provider's file after validating every entry.

use crate::error::Error;
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::Path;

/// The sample shipped in the binary.
pub const EMBEDDED: &str = include_str!("../data/vulndb.json");

/// What kind of software a product entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Wordpress,
    Plugin,
    Theme,
    Server,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vuln {
    pub cves: Vec<String>,
    pub title: String,
    /// First affected version; every version before `fixed` when absent.
    #[serde(default)]
    pub introduced: Option<String>,
    pub fixed: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub kind: Kind,
    pub slug: String,
    pub name: String,
    /// A current release; older versions are "outdated" even without known flaws.
    #[serde(default)]
    pub latest: Option<String>,
    #[serde(default)]
    pub vulns: Vec<Vuln>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VulnDb {
    pub format: u32,
    #[serde(default)]
    pub sample: bool,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub updated: String,
    pub products: Vec<Product>,
}

/// A dotted version compared numerically; `5.3` equals `5.3.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Vec<u64>);

impl Version {
    /// Parses `5.3.2`, `6.4.0.1`, `2.4.29-ubuntu` (the numeric prefix), refusing text
    /// without a leading number.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let mut parts = Vec::new();
        for p in s.split('.') {
            let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() || digits.len() > 12 {
                break;
            }
            parts.push(digits.parse().ok()?);
            if digits.len() != p.len() {
                break;
            }
        }
        if parts.is_empty() || parts.len() > 8 {
            return None;
        }
        while parts.len() > 1 && parts.last() == Some(&0) {
            parts.pop();
        }
        Some(Version(parts))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }
}

/// How a detected version compares with the data.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<'a> {
    Vulnerable(&'a Product, Vec<&'a Vuln>),
    Outdated(&'a Product),
    Current,
    Unknown,
}

impl VulnDb {
    /// The embedded sample.
    pub fn embedded() -> VulnDb {
        // The embedded file is validated by a unit test; a broken build still scans.
        VulnDb::parse(EMBEDDED, "embedded vulndb.json").unwrap_or(VulnDb {
            format: 1,
            sample: true,
            note: String::new(),
            updated: String::new(),
            products: Vec::new(),
        })
    }

    pub fn load(path: &Path) -> Result<VulnDb, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
        })?;
        VulnDb::parse(&text, &path.display().to_string())
    }

    /// Parses and validates; errors name the entry (`products[3] (contact-form-7)`).
    pub fn parse(text: &str, origin: &str) -> Result<VulnDb, Error> {
        let err = |entry: String, reason: String| Error::VulnDb {
            path: origin.to_string(),
            entry,
            reason,
        };
        let db: VulnDb = serde_json::from_str(text).map_err(|e| {
            err(
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        if db.format != 1 {
            return Err(err(
                "format".into(),
                format!("unsupported format {}", db.format),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in db.products.iter().enumerate() {
            let entry = format!("products[{i}] ({})", p.slug);
            if p.slug.is_empty()
                || p.slug.len() > 100
                || !p
                    .slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
            {
                return Err(err(
                    entry,
                    "slug must be lowercase letters, digits, - _ .".into(),
                ));
            }
            if !seen.insert((p.kind, p.slug.clone())) {
                return Err(err(entry, "listed twice".into()));
            }
            if let Some(l) = &p.latest {
                Version::parse(l)
                    .ok_or_else(|| err(entry.clone(), format!("latest {l:?} is not a version")))?;
            }
            for (j, v) in p.vulns.iter().enumerate() {
                let ve = format!("{entry} vulns[{j}]");
                let fixed = Version::parse(&v.fixed).ok_or_else(|| {
                    err(ve.clone(), format!("fixed {:?} is not a version", v.fixed))
                })?;
                if let Some(intro) = &v.introduced {
                    let intro = Version::parse(intro).ok_or_else(|| {
                        err(ve.clone(), format!("introduced {intro:?} is not a version"))
                    })?;
                    if intro >= fixed {
                        return Err(err(ve, "introduced is not before fixed".into()));
                    }
                }
                if v.cves.is_empty() {
                    return Err(err(ve, "no CVE id".into()));
                }
                for c in &v.cves {
                    if !valid_cve(c) {
                        return Err(err(ve, format!("{c:?} is not a CVE id")));
                    }
                }
            }
        }
        Ok(db)
    }

    pub fn product(&self, kind: Kind, slug: &str) -> Option<&Product> {
        self.products
            .iter()
            .find(|p| p.kind == kind && p.slug == slug)
    }

    /// Judges `version` of `kind`/`slug`.
    pub fn verdict(&self, kind: Kind, slug: &str, version: &str) -> Verdict<'_> {
        let (Some(p), Some(v)) = (self.product(kind, slug), Version::parse(version)) else {
            return Verdict::Unknown;
        };
        let hits: Vec<&Vuln> = p
            .vulns
            .iter()
            .filter(|vu| {
                let fixed = Version::parse(&vu.fixed);
                let intro = vu.introduced.as_deref().and_then(Version::parse);
                fixed.is_some_and(|f| v < f) && intro.is_none_or(|i| v >= i)
            })
            .collect();
        if !hits.is_empty() {
            return Verdict::Vulnerable(p, hits);
        }
        match p.latest.as_deref().and_then(Version::parse) {
            Some(latest) if v < latest => Verdict::Outdated(p),
            _ => Verdict::Current,
        }
    }
}

fn valid_cve(c: &str) -> bool {
    let mut parts = c.splitn(3, '-');
    parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.len() <= 8 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates `src` and atomically replaces `dest` with it (write beside, fsync, rename).
pub fn update_db(src: &Path, dest: &Path) -> Result<VulnDb, Error> {
    let text = std::fs::read_to_string(src).map_err(|source| Error::File {
        path: src.to_path_buf(),
        source,
    })?;
    let db = VulnDb::parse(&text, &src.display().to_string())?;
    let tmp = dest.with_extension("json.tmp");
    let io = |source| Error::File {
        path: tmp.clone(),
        source,
    };
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, dest).map_err(|source| Error::File {
        path: dest.to_path_buf(),
        source,
    })?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_sample_is_valid_and_marked_as_sample() {
        let db = VulnDb::parse(EMBEDDED, "embedded").unwrap();
        assert!(db.sample);
        assert!(db.products.len() >= 12);
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("5.10") > v("5.9.9"));
        assert_eq!(v("5.3"), v("5.3.0"));
        assert!(v("2.4.29-ubuntu") < v("2.4.30"));
        assert!(Version::parse("trunk").is_none());
    }

    #[test]
    fn vulnerable_outdated_and_current_are_distinct() {
        let db = VulnDb::embedded();
        assert!(matches!(
            db.verdict(Kind::Plugin, "contact-form-7", "5.3.1"),
            Verdict::Vulnerable(_, ref v) if v.iter().any(|v| v.cves[0] == "CVE-2020-35489")
        ));
        assert!(matches!(
            db.verdict(Kind::Plugin, "contact-form-7", "5.9.8"),
            Verdict::Outdated(_)
        ));
        assert_eq!(
            db.verdict(Kind::Plugin, "contact-form-7", "6.0"),
            Verdict::Current
        );
        // Before the introducing version is not affected.
        assert_eq!(
            db.verdict(Kind::Plugin, "wp-file-manager", "5.9"),
            Verdict::Current
        );
        assert_eq!(
            db.verdict(Kind::Plugin, "unknown-plugin", "1.0"),
            Verdict::Unknown
        );
    }

    #[test]
    fn validation_names_the_entry() {
        let bad = EMBEDDED.replacen("\"fixed\": \"5.3.2\"", "\"fixed\": \"soon\"", 1);
        let e = VulnDb::parse(&bad, "x.json").unwrap_err().to_string();
        assert!(e.contains("contact-form-7") && e.contains("soon"), "{e}");
        let bad = EMBEDDED.replacen("CVE-2020-35489", "CVE-20-1", 1);
        assert!(VulnDb::parse(&bad, "x.json").is_err());
    }

    #[test]
    fn update_replaces_only_valid_files() {
        let dir = mamori_core::scratch::dir("vulndb");
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("vulndb.json");
        std::fs::write(&dest, EMBEDDED).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            "{\"format\": 1, \"products\": [{\"kind\": \"plugin\"}]}",
        )
        .unwrap();
        assert!(update_db(&bad, &dest).is_err());
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), EMBEDDED);
        let good = dir.join("good.json");
        std::fs::write(&good, "{\"format\": 1, \"products\": []}").unwrap();
        update_db(&good, &dest).unwrap();
        assert!(VulnDb::load(&dest).unwrap().products.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
