//! Fuzzes the client's reply parser with what a hostile next hop might send: no panic,
//! bounded lines, and replies that format and parse back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_smtp::ReplyParser;

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::new(10);
    for line in data.split(|&b| b == b'\n') {
        match parser.push_line(line) {
            Ok(Some(reply)) => {
                assert!(reply.lines.len() <= 10);
                let bytes = reply.to_bytes();
                let mut again = ReplyParser::new(10);
                let mut parsed = None;
                for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    parsed = again.push_line(line).expect("own output parses");
                }
                let parsed = parsed.expect("complete reply");
                assert_eq!(parsed.code, reply.code);
                assert_eq!(parsed.lines.len(), reply.lines.len());
            }
            Ok(None) => {}
            Err(_) => parser = ReplyParser::new(10),
        }
    }
});
