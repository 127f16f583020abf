//! `mail.office_macro`: Word, Excel or PowerPoint files with VBA macros.
//!
//! Macros were Emotet's way in for years: a document asks to "enable content" and the macro
//! downloads the malware. Found through the OLE directory (`_VBA_PROJECT`, `VBA`,
//! `Macros` storages) for DOC/XLS/PPT and the `vbaProject.bin` part for DOCM/XLSM/PPTM,
//! also inside archives.

use super::{named_files, quoted};
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.office_macro";
const SCORE: f64 = 8.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(named_files(files).filter(|f| f.macros))?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}にはマクロ（VBA）が含まれています。「コンテンツの有効化」を押すとマルウェアに感染する恐れがあります。"),
        format!("The attachment {en} contains VBA macros; clicking \"Enable content\" may install malware."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{cfb, zip};
    use crate::inbound::test_support::files;

    #[test]
    fn ole_and_ooxml_macros_are_found() {
        let p = Policy::default();
        let doc = cfb::tests::build(&[
            ("WordDocument", 2),
            ("Macros", 1),
            ("VBA", 1),
            ("_VBA_PROJECT", 2),
        ]);
        assert!(check(&files(&[("a.doc", doc)]), &p).is_some());
        let docm = zip::tests::build(&[
            ("[Content_Types].xml", b"<Types/>", 0, 0),
            ("word/vbaProject.bin", b"x", 0, 0),
        ]);
        assert!(check(&files(&[("a.docm", docm)]), &p).is_some());
        let plain = cfb::tests::build(&[("WordDocument", 2)]);
        assert!(check(&files(&[("a.doc", plain)]), &p).is_none());
    }
}
