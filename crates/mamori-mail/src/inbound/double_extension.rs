//! `mail.double_extension`: a name built to hide what the file is.
//!
//! `請求書.pdf.exe` shows as `請求書.pdf` when Windows hides known extensions; padding with
//! spaces (`doc.pdf          .exe`) pushes the real extension out of view; a right-to-left
//! override character (U+202E) turns `invoice[RLO]fdp.exe` into `invoiceexe.pdf` on screen.

use super::{named_files, quoted};
use crate::content::magic::{
    extension, DISK_IMAGE_EXTENSIONS, DOCUMENT_EXTENSIONS, EXECUTABLE_EXTENSIONS,
    SCRIPT_EXTENSIONS, SHORTCUT_EXTENSIONS,
};
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.double_extension";
const SCORE: f64 = 8.0;

fn dangerous(ext: &str) -> bool {
    [
        EXECUTABLE_EXTENSIONS,
        SCRIPT_EXTENSIONS,
        SHORTCUT_EXTENSIONS,
        DISK_IMAGE_EXTENSIONS,
    ]
    .iter()
    .any(|list| list.contains(&ext))
}

/// Whether a file name disguises its real type.
pub fn disguised(name: &str) -> bool {
    if name
        .chars()
        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'))
    {
        return true;
    }
    let Some(last) = extension(name) else {
        return false;
    };
    if !dangerous(&last) {
        return false;
    }
    let trimmed = name.trim_end_matches(['.', ' ']);
    let Some((stem, _)) = trimmed.rsplit_once('.') else {
        return false;
    };
    if stem.ends_with("    ") || stem.ends_with('\u{3000}') {
        return true;
    }
    extension(stem).is_some_and(|inner| DOCUMENT_EXTENSIONS.contains(&inner.as_str()))
}

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(named_files(files).filter(|f| disguised(&f.name)))?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}は、拡張子を二重にしたり特殊な文字を使ったりして、本当のファイルの種類を隠しています。文書に見えてもプログラムです。"),
        format!("The attachment {en} hides its real type behind a double extension or special characters; it looks like a document but is not."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disguised_names() {
        assert!(disguised("請求書.pdf.exe"));
        assert!(disguised("Invoice.DOCX.js"));
        assert!(disguised("doc.pdf            .scr"));
        assert!(disguised("invoice\u{202E}fdp.exe"));
        assert!(!disguised("archive.tar.gz"));
        assert!(!disguised("report.v2.pdf"));
        assert!(!disguised("setup.exe"));
    }
}
