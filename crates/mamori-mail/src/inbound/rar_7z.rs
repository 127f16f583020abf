//! `mail.rar_7z`: RAR and 7-Zip archives.
//!
//! Legitimate Japanese business mail rarely uses them, malware campaigns often do, and this
//! gateway cannot open them to look inside — so their content is unknown.

use super::{has_extension, named_files, quoted};
use crate::content::{Files, Kind};
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.rar_7z";
const SCORE: f64 = 4.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(named_files(files).filter(|f| {
        matches!(f.kind, Kind::Rar | Kind::SevenZip) || has_extension(f, &["rar", "7z"])
    }))?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}は RAR/7z 形式の圧縮ファイルです。中身を検査できず、マルウェアの配布によく使われます。"),
        format!("The attachment {en} is a RAR/7z archive: its content cannot be inspected, and malware campaigns favour the format."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::test_support::files;

    #[test]
    fn rar_by_content_or_name() {
        let p = Policy::default();
        assert!(check(
            &files(&[("data.bin", b"Rar!\x1a\x07\x01\x00".to_vec())]),
            &p
        )
        .is_some());
        assert!(check(&files(&[("a.7z", b"junk".to_vec())]), &p).is_some());
        assert!(check(&files(&[("a.txt", b"plain".to_vec())]), &p).is_none());
    }
}
