//! `mail.type_mismatch`: the extension says one format, the bytes another.
//!
//! A "PDF" that is a ZIP, a "JPEG" that is an OLE document: renaming is done to get past
//! extension filters and to make people open the file in the wrong program. Only clear
//! contradictions count — a recognised binary format that the extension does not allow
//! (Word's `.doc` may be RTF or HTML, so those are allowed).

use super::{named_files, quote_paths};
use crate::content::magic::expected_kinds;
use crate::content::{Files, Kind};
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.type_mismatch";
const SCORE: f64 = 6.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let mut found = Vec::new();
    for f in named_files(files) {
        if f.data.is_empty() || matches!(f.kind, Kind::Text | Kind::Unknown | Kind::Mail) {
            continue;
        }
        let Some(ext) = f.extension() else { continue };
        let Some(allowed) = expected_kinds(&ext) else {
            continue;
        };
        if !allowed.contains(&f.kind) {
            found.push((f.path.as_str(), ext, f.kind.as_str()));
        }
    }
    let (path, ext, real) = found.first().cloned()?;
    let (ja, en) = quote_paths(found.iter().map(|(p, _, _)| *p));
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}は拡張子と中身が一致しません（「{path}」は .{ext} ですが、中身は {real} 形式です）。種類を偽装したファイルです。"),
        format!("The attachment {en} does not match its extension ({path} says .{ext} but contains {real}): a disguised file."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::zip::tests::build;
    use crate::inbound::test_support::files;

    #[test]
    fn renamed_formats_are_caught() {
        let p = Policy::default();
        let zip = build(&[("a.txt", b"x", 0, 0)]);
        let r = check(&files(&[("invoice.pdf", zip)]), &p).expect("mismatch");
        assert!(
            r.message_en.contains(".pdf but contains zip"),
            "{}",
            r.message_en
        );
        assert!(check(&files(&[("a.pdf", b"%PDF-1.7".to_vec())]), &p).is_none());
        assert!(check(&files(&[("a.doc", b"{\\rtf1 hello}".to_vec())]), &p).is_none());
        assert!(check(&files(&[("a.csv", b"a,b\n1,2\n".to_vec())]), &p).is_none());
    }
}
