//! Fuzzes the DATA decoder: any bytes, fed in any split, give the same result; the result
//! never holds more than the size limit; and a message that `encode` prepared decodes
//! back to itself (for CRLF text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_smtp::data::{encode, DataDecoder};

fuzz_target!(|input: (u8, &[u8])| {
    let (split, data) = input;
    let limit = 4096u64;
    let mut whole = DataDecoder::new(100, limit);
    let used_whole = whole.feed(data);
    let mut pieces = DataDecoder::new(100, limit);
    let mut used_pieces = 0;
    for chunk in data.chunks(usize::from(split).max(1)) {
        used_pieces += pieces.feed(chunk);
        if pieces.is_done() {
            break;
        }
    }
    assert_eq!(whole.is_done(), pieces.is_done());
    assert_eq!(used_whole, used_pieces);
    let (whole, pieces) = (whole.finish(), pieces.finish());
    assert_eq!(whole, pieces);
    assert!(whole.message.len() as u64 <= limit);

    // Round trip for messages whose lines all end in CRLF: the input's LFs become CRLF.
    let mut message = Vec::with_capacity(data.len() * 2 + 2);
    for &byte in data.iter().filter(|&&b| b != b'\r') {
        if byte == b'\n' {
            message.push(b'\r');
        }
        message.push(byte);
    }
    message.extend_from_slice(b"\r\n");
    let mut decoder = DataDecoder::new(usize::MAX, u64::MAX);
    let encoded = encode(&message);
    assert_eq!(decoder.feed(&encoded), encoded.len());
    assert!(decoder.is_done());
    assert_eq!(decoder.finish().message, message);
});
