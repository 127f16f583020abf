//! `mail.html_smuggling`: an HTML (or SVG) attachment that builds a file in the browser.
//!
//! The attachment carries the payload as a Base64 string and script that decodes it
//! (`atob`) into a Blob and saves it (`msSaveOrOpenBlob`, `createObjectURL` with a
//! `download` link). The gateway sees only text; the file appears on the PC. Fires when
//! decoding script meets a way to save, or when the page carries a large embedded binary
//! (a long Base64 run or a `data:application/…;base64` link).

use super::{has_extension, named_files, quoted};
use crate::content::text::decode;
use crate::content::{Files, Kind};
use crate::policy::Policy;
use crate::report::Reason;
use regex::bytes::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.html_smuggling";
const SCORE: f64 = 10.0;

static DECODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\batob\s*\(|Uint8Array|fromCharCode|base64ToArrayBuffer").expect("valid regex")
});
static SAVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)new\s+Blob\s*\(|msSaveOrOpenBlob|msSaveBlob|createObjectURL|\.download\s*=|\bdownload\s*=\s*["']"#)
        .expect("valid regex")
});
static EMBEDDED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)data:application/[a-z0-9.+\-]+;base64,|[A-Za-z0-9+/]{20000,}")
        .expect("valid regex")
});

const MAX_SCAN: usize = 8 * 1024 * 1024;

/// Whether an HTML document looks like it smuggles a file.
pub fn smuggles(html: &[u8]) -> bool {
    let html = &html[..html.len().min(MAX_SCAN)];
    let has_script = {
        let lower = decode(&html[..html.len().min(MAX_SCAN)]).to_ascii_lowercase();
        lower.contains("<script") || lower.contains("javascript:") || lower.contains("onload=")
    };
    (has_script && DECODE.is_match(html) && SAVE.is_match(html)) || EMBEDDED.is_match(html)
}

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(
        named_files(files)
            .filter(|f| {
                matches!(f.kind, Kind::Html | Kind::Svg)
                    || has_extension(f, &["htm", "html", "shtml", "xhtml", "svg", "mht", "mhtml"])
            })
            .filter(|f| smuggles(&f.data)),
    )?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付の HTML ファイル{ja}は、開くとブラウザーの中で別のファイルを組み立てて保存させる仕組み（HTML スマグリング）を持っています。メールの検査をすり抜けてマルウェアを届ける手口です。"),
        format!("The HTML attachment {en} assembles and saves another file inside the browser when opened (HTML smuggling), slipping malware past mail filters."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::test_support::files;

    #[test]
    fn blob_from_base64_is_smuggling() {
        let page = br#"<html><body><script>
            var b = atob("UEsDBAoAAAAAAA=="); var a = new Uint8Array(b.length);
            var blob = new Blob([a], {type: "application/zip"});
            var l = document.createElement("a"); l.href = URL.createObjectURL(blob);
            l.download = "invoice.zip"; l.click();
        </script></body></html>"#;
        let p = Policy::default();
        assert!(check(&files(&[("invoice.html", page.to_vec())]), &p).is_some());
        let plain = b"<html><body><p>Hello</p><script>console.log(1)</script></body></html>";
        assert!(check(&files(&[("page.html", plain.to_vec())]), &p).is_none());
        let mut big =
            b"<html><a href=\"data:application/x-msdownload;base64,TVqQ\">x</a></html>".to_vec();
        big.extend_from_slice(b"\n");
        assert!(check(&files(&[("a.htm", big)]), &p).is_some());
    }
}
