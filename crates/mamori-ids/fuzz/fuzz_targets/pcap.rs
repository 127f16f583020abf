//! The capture reader over arbitrary bytes: every packet it yields lies inside the input and
//! an error names the packet that failed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_ids::capture::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader(data) else {
        return;
    };
    let mut count = 0u64;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                assert!(p.data.len() <= data.len());
                assert_eq!(p.index, count);
                count += 1;
            }
            Ok(None) => break,
            Err(e) => {
                assert_eq!(e.index(), Some(count));
                break;
            }
        }
    }
});
