//! `mail.script`: files Windows runs through a script host or otherwise treats as code —
//! JavaScript, VBScript, PowerShell, batch, HTA, CHM, OneNote, `.url` and the like.

use super::{has_extension, named_files, quoted};
use crate::content::magic::SCRIPT_EXTENSIONS;
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.script";
const SCORE: f64 = 10.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(named_files(files).filter(|f| has_extension(f, SCRIPT_EXTENSIONS)))?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}はスクリプトなど、開くとプログラムが動く形式のファイルです。業務のメールで送られることはほとんどありません。"),
        format!("The attachment {en} is a script or similar file that runs code when opened; business mail hardly ever carries one."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::test_support::files;

    #[test]
    fn scripts_are_recognised_by_name() {
        let p = Policy::default();
        for name in [
            "invoice.js",
            "a.VBS",
            "run.ps1",
            "x.hta",
            "note.one",
            "a.wsf",
        ] {
            assert!(
                check(&files(&[(name, b"x".to_vec())]), &p).is_some(),
                "{name}"
            );
        }
        assert!(check(&files(&[("a.json", b"{}".to_vec())]), &p).is_none());
    }
}
