//! The MIME walker over arbitrary bytes: a parsed mail or a clean error, never a panic, and
//! never more parts or attachment bytes than the limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_mail::mime::Mail;
use mamori_mail::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(mail) = Mail::parse(data, &limits) {
        assert!(mail.attachments.len() <= limits.max_attachments);
        let _ = mamori_mail::mime::header_end(data);
    }
});
