//! `mail.disk_image`: ISO, IMG, VHD(X) and DMG images. Windows mounts them with a double
//! click, and the files inside escape the "downloaded from the internet" mark that
//! triggers macro blocking and SmartScreen.

use super::{has_extension, named_files, quoted};
use crate::content::magic::DISK_IMAGE_EXTENSIONS;
use crate::content::Files;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.disk_image";
const SCORE: f64 = 10.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let (ja, en) = quoted(
        named_files(files)
            .filter(|f| f.kind.is_disk_image() || has_extension(f, DISK_IMAGE_EXTENSIONS)),
    )?;
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}はディスクイメージ（ISO/IMG/VHD など）です。中のファイルは Windows の安全機能（マクロのブロックなど）を回避できるため、マルウェア配布に使われます。"),
        format!("The attachment {en} is a disk image (ISO/IMG/VHD): files inside it bypass Windows protections such as macro blocking."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::test_support::files;

    #[test]
    fn images_by_magic_and_name() {
        let p = Policy::default();
        let mut iso = vec![0u8; 0x8001 + 5];
        iso[0x8001..].copy_from_slice(b"CD001");
        assert!(check(&files(&[("scan.dat", iso)]), &p).is_some());
        assert!(check(&files(&[("a.img", b"x".to_vec())]), &p).is_some());
        assert!(check(&files(&[("a.png", b"\x89PNG".to_vec())]), &p).is_none());
    }
}
