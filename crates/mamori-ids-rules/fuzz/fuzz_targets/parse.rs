//! Rule text → parser: never panics; every skipped rule names a line and a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids_rules::{parse_rules, Vars};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_rules(&text, "fuzz.rules", &Vars::default());
    for s in &parsed.skipped {
        assert!(s.line >= 1);
        assert!(!s.reason.is_empty());
        assert!(s.to_string().starts_with("fuzz.rules:"));
    }
});
