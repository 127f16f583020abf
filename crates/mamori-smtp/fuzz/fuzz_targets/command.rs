//! Fuzzes the SMTP command parser: no input may panic it, and every command it accepts
//! must print (`Display`) as a line that parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_smtp::{Command, ParseContext};

fuzz_target!(|data: &[u8]| {
    for smtputf8 in [false, true] {
        let context = ParseContext {
            max_line: 1024,
            smtputf8,
        };
        let Ok(command) = Command::parse(data, &context) else {
            continue;
        };
        let _ = command.clone();
        let line = command.to_string();
        let reparsed = Command::parse(
            line.as_bytes(),
            &ParseContext {
                max_line: usize::MAX,
                smtputf8,
            },
        );
        assert_eq!(reparsed.as_ref(), Ok(&command), "line {line:?}");
    }
    // Error replies are always well-formed single replies.
    if let Err(error) = Command::parse(data, &ParseContext::default()) {
        let reply = error.reply();
        assert!((500..600).contains(&reply.code));
        assert!(reply.to_bytes().ends_with(b"\r\n"));
    }
});
