//! `mail.executable`: programs, by content (MZ, ELF, Mach-O) or by name (`.exe`, `.scr`,
//! `.msi`, `.jar`, …), at any depth — also inside encrypted archives, where only the
//! name is visible.

use super::{has_extension, named_files, quoted};
use crate::content::magic::EXECUTABLE_EXTENSIONS;
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.executable";
const SCORE: f64 = 12.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(
        named_files(files)
            .filter(|f| f.kind.is_executable() || has_extension(f, EXECUTABLE_EXTENSIONS)),
    )?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}は実行ファイル（プログラム）です。開くとパソコンでプログラムが動き、感染の原因になります。"),
        format!("The attachment {en} is a program; opening it runs code on the PC."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::zip::tests::build;
    use crate::inbound::test_support::files;

    #[test]
    fn programs_by_content_and_by_name_inside_archives() {
        let p = Policy::default();
        assert!(check(&files(&[("photo.jpg", b"MZ\x90\x00\x03".to_vec())]), &p).is_some());
        let z = build(&[("setup.exe", b"xx", 1, 0)]);
        let r = check(&files(&[("a.zip", z)]), &p).expect("exe");
        assert!(r.message_en.contains("a.zip/setup.exe"));
        assert!(check(&files(&[("a.pdf", b"%PDF-1.4".to_vec())]), &p).is_none());
    }
}
