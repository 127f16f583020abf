//! `mail.encrypted_zip`: a password-protected ZIP.
//!
//! Encryption stops every scanner, which is why Emotet and others send password ZIPs with
//! the password in the same mail. An archive counts when any entry has the encryption flag
//! (bit 0) or uses WinZip AES (method 99), at any depth.

use super::{named_files, quote_paths};
use crate::content::{Files, Kind};
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.encrypted_zip";
const SCORE: f64 = 8.0;

/// Paths of the archives that hold encrypted entries.
pub fn encrypted_archives(files: &Files) -> Vec<&str> {
    let mut out: Vec<&str> = named_files(files)
        .filter(|f| f.encrypted)
        .filter_map(|f| files.parent(f))
        .filter(|p| p.kind == Kind::Zip)
        .map(|p| p.path.as_str())
        .collect();
    out.dedup();
    out
}

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let archives = encrypted_archives(files);
    if archives.is_empty() {
        return None;
    }
    let (ja, en) = quote_paths(archives);
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("添付ファイル{ja}はパスワード付き（暗号化）ZIP です。中身をウイルス検査できないため、Emotet などのマルウェアがよく使う手口です。同じメールにパスワードが書かれていても開かないでください。"),
        format!("The attachment {en} is a password-protected (encrypted) ZIP. Its content cannot be scanned, which is why Emotet and other malware use it; do not open it even if the password is in the mail."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::zip::tests::build;
    use crate::inbound::test_support::files;

    #[test]
    fn flag_bit_and_aes_method_both_count() {
        let p = Policy::default();
        let zipcrypto = build(&[("請求書.doc", b"xxxx", 1, 8)]);
        let aes = build(&[("a.xlsx", b"xxxx", 1, 99)]);
        let plain = build(&[("a.txt", b"xxxx", 0, 0)]);
        let r = check(&files(&[("請求書.zip", zipcrypto)]), &p).expect("encrypted");
        assert!(r.message_ja.contains("「請求書.zip」"), "{}", r.message_ja);
        assert!(check(&files(&[("a.zip", aes)]), &p).is_some());
        assert!(check(&files(&[("a.zip", plain)]), &p).is_none());
    }
}
