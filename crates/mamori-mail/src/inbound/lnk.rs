//! `mail.lnk`: Windows shortcuts, by content or name. A shortcut can start PowerShell with
//! any command line while its icon looks like a document — a favourite since macros were
//! blocked.

use super::{has_extension, named_files, quoted};
use crate::content::magic::SHORTCUT_EXTENSIONS;
use crate::content::{Files, Kind};
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.lnk";
const SCORE: f64 = 12.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(
        named_files(files).filter(|f| f.kind == Kind::Lnk || has_extension(f, SHORTCUT_EXTENSIONS)),
    )?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}は Windows のショートカット（LNK）です。文書のように見せかけて、開くと不正なコマンドを実行させる手口です。"),
        format!("The attachment {en} is a Windows shortcut (LNK): it poses as a document and runs a command when opened."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::test_support::files;

    #[test]
    fn shortcuts_by_magic_and_name() {
        let p = Policy::default();
        let lnk = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00".to_vec();
        assert!(check(&files(&[("請求書.pdf", lnk)]), &p).is_some());
        assert!(check(&files(&[("a.LNK", b"x".to_vec())]), &p).is_some());
        assert!(check(&files(&[("a.txt", b"x".to_vec())]), &p).is_none());
    }
}
