//! Signed one-time links: HMAC-SHA256 (RFC 2104) over what the link may do.
//!
//! The mail gateway mails a sender a link to release or cancel a held message; the console
//! checks the signature before showing the confirmation. The secret lives in the data
//! directory and never leaves it; a link names one message and one action, and stops working
//! once the message is no longer held.

use sha2::{Digest, Sha256};

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The signature of a mail action link (`release` or `cancel` of message `id`), as hex.
pub fn mail_action_signature(secret: &[u8], id: &str, action: &str) -> String {
    hmac_sha256(secret, format!("mail-action\n{id}\n{action}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a link's signature in constant time.
pub fn verify_mail_action(secret: &[u8], id: &str, action: &str, signature: &str) -> bool {
    let expected = mail_action_signature(secret, id, action);
    expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231_test_cases() {
        // Test case 1 and 2 of RFC 4231.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_link_signs_one_message_and_one_action() {
        let s = mail_action_signature(b"secret", "01J", "release");
        assert!(verify_mail_action(b"secret", "01J", "release", &s));
        assert!(!verify_mail_action(b"secret", "01J", "cancel", &s));
        assert!(!verify_mail_action(b"secret", "01K", "release", &s));
        assert!(!verify_mail_action(b"other", "01J", "release", &s));
    }
}
