//! `mail.nested_archive`: an archive inside an archive.
//!
//! Wrapping a ZIP in a ZIP (or an ISO in a ZIP) defeats scanners that open one level, and
//! no ordinary business document needs it.

use super::{has_extension, named_files, quoted};
use crate::content::magic::ARCHIVE_EXTENSIONS;
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.nested_archive";
const SCORE: f64 = 4.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(
        named_files(files)
            .filter(|f| f.kind.is_archive() || has_extension(f, ARCHIVE_EXTENSIONS))
            .filter(|f| files.parent(f).is_some_and(|p| p.kind.is_archive())),
    )?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("圧縮ファイルの中にさらに圧縮ファイル{ja}が入っています。ウイルス検査をすり抜けるための手口です。"),
        format!("An archive holds another archive ({en}), a way to slip past virus scanners."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::zip::tests::build;
    use crate::inbound::test_support::files;

    #[test]
    fn zip_in_zip_is_nested_but_docx_in_zip_is_not() {
        let inner = build(&[("x.txt", b"x", 0, 0)]);
        let outer = build(&[("inner.zip", &inner, 0, 0)]);
        let r = check(&files(&[("outer.zip", outer)]), &Policy::default()).expect("nested");
        assert!(r.message_en.contains("outer.zip/inner.zip"));
        let docx = build(&[("[Content_Types].xml", b"<Types/>", 0, 0)]);
        let outer = build(&[("report.docx", &docx, 0, 0)]);
        assert!(check(&files(&[("outer.zip", outer)]), &Policy::default()).is_none());
    }
}
