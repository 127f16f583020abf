//! A small ZIP writer for evidence exports.
//!
//! The evidence export hands an insurer or the police one file they can open anywhere, so the
//! archive sticks to the part of PKWARE's APPNOTE every reader knows: for each file a local
//! file header and its data, then the central directory and the end-of-central-directory
//! record. Data is raw deflate (method 8) when that makes it smaller, else stored (method 0).
//! Names are UTF-8 (general purpose bit 11); every entry carries the same modification time,
//! the export time in UTC, as a DOS date and time and as an Info-ZIP extended timestamp
//! (extra field `0x5455`) so that unzipped files get the exact instant.
//!
//! What it does not do: ZIP64, encryption, directories, streaming. The caller hands whole
//! files in memory; the total input is capped ([`MAX_INPUT`]), and more than
//! [`MAX_ENTRIES`] entries or an archive that would pass 4 GiB is refused with an error
//! rather than written in a form some readers misread.

use crate::ConsoleError;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// The most input (uncompressed bytes of all entries together) one archive takes.
pub const MAX_INPUT: u64 = 256 * 1024 * 1024;

/// The most entries: the end-of-central-directory record counts them in 16 bits, and the
/// all-ones value 0xFFFF means "see the ZIP64 record" to some readers, so it is not used.
pub const MAX_ENTRIES: usize = 0xFFFE;

/// Longest entry name in bytes; the format allows 65,535, nothing we write comes close.
const MAX_NAME: usize = 1024;

/// Data shorter than this is stored: deflate's block overhead leaves little to gain, and a
/// compressor costs a few hundred kilobytes to set up.
const MIN_DEFLATE: usize = 64;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Info-ZIP's extended timestamp extra field.
const EXTENDED_TIMESTAMP: u16 = 0x5455;
/// Version 2.0: what deflate needs, and what readers expect with bit 11.
const VERSION_NEEDED: u16 = 20;
/// Made by: UNIX (3) in the high byte, so the external attributes carry a file mode.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// General purpose bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
/// `-rw-r--r--` regular file, in the high 16 bits of the external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as ZIP stores it for each entry.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// MS-DOS `(time, date)` of an instant, read as a wall-clock time in its own offset.
/// DOS dates run from 1980 to 2107; instants outside are clamped to the nearest end.
pub fn dos_date_time(at: OffsetDateTime) -> (u16, u16) {
    let year = at.year();
    if year < 1980 {
        return (0, (1 << 5) | 1);
    }
    if year > 2107 {
        return ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31);
    }
    let time =
        (u16::from(at.hour()) << 11) | (u16::from(at.minute()) << 5) | (u16::from(at.second()) / 2);
    // 0 ..= 127 after the range check above.
    let years = (year - 1980) as u16;
    let date = (years << 9) | (u16::from(u8::from(at.month())) << 5) | u16::from(at.day());
    (time, date)
}

/// Builds one archive in memory. Add every file, then [`finish`](ZipWriter::finish).
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    names: BTreeSet<String>,
    dos_time: u16,
    dos_date: u16,
    /// Seconds since 1970 for the extended timestamp, when it fits in a signed 32-bit field.
    unix_time: Option<u32>,
    input: u64,
    max_input: u64,
}

impl ZipWriter {
    /// An empty archive whose entries are all dated `modified` (taken in UTC).
    pub fn new(modified: OffsetDateTime) -> ZipWriter {
        let utc = modified.to_offset(time::UtcOffset::UTC);
        let (dos_time, dos_date) = dos_date_time(utc);
        let unix_time = i32::try_from(utc.unix_timestamp())
            .ok()
            .and_then(|t| u32::try_from(t).ok());
        ZipWriter {
            out: Vec::new(),
            central: Vec::new(),
            names: BTreeSet::new(),
            dos_time,
            dos_date,
            unix_time,
            input: 0,
            max_input: MAX_INPUT,
        }
    }

    /// Lowers (or raises) the cap on the total input from [`MAX_INPUT`].
    pub fn with_input_limit(mut self, max_input: u64) -> ZipWriter {
        self.max_input = max_input;
        self
    }

    /// Entries added so far.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Adds one file. `name` is a relative path with `/` between folders.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ConsoleError> {
        check_name(name)?;
        if self.names.contains(name) {
            return Err(zip_error(format!(
                "the name {name:?} is already in the archive"
            )));
        }
        if self.names.len() >= MAX_ENTRIES {
            return Err(zip_error(format!(
                "more than {MAX_ENTRIES} entries would need ZIP64, which is not written"
            )));
        }
        let input = self.input.saturating_add(data.len() as u64);
        if input > self.max_input {
            return Err(zip_error(format!(
                "the files add up to more than {} MiB ({name:?} passes the limit)",
                self.max_input / (1024 * 1024)
            )));
        }

        let crc = crc32(data);
        let deflated = if data.len() >= MIN_DEFLATE {
            Some(miniz_oxide::deflate::compress_to_vec(data, 6)).filter(|d| d.len() < data.len())
        } else {
            None
        };
        let (method, body) = match &deflated {
            Some(d) => (METHOD_DEFLATED, d.as_slice()),
            None => (METHOD_STORED, data),
        };
        let compressed_size = u32_field(body.len(), "compressed size")?;
        let size = u32_field(data.len(), "size")?;
        let offset = u32_field(self.out.len(), "offset")?;
        // Both were checked against MAX_NAME and the extra field is at most 9 bytes.
        let name_len = name.len() as u16;
        let extra_len: u16 = if self.unix_time.is_some() { 9 } else { 0 };
        // Checked before writing so that a refused entry leaves the archive as it was.
        let end = self.out.len() + 30 + name.len() + usize::from(extra_len) + body.len();
        u32_field(end, "archive size")?;

        let out = &mut self.out;
        put32(out, LOCAL_HEADER);
        put16(out, VERSION_NEEDED);
        put16(out, FLAG_UTF8);
        put16(out, method);
        put16(out, self.dos_time);
        put16(out, self.dos_date);
        put32(out, crc);
        put32(out, compressed_size);
        put32(out, size);
        put16(out, name_len);
        put16(out, extra_len);
        out.extend_from_slice(name.as_bytes());
        if let Some(t) = self.unix_time {
            put_timestamp(out, t);
        }
        out.extend_from_slice(body);

        let c = &mut self.central;
        put32(c, CENTRAL_HEADER);
        put16(c, VERSION_MADE_BY);
        put16(c, VERSION_NEEDED);
        put16(c, FLAG_UTF8);
        put16(c, method);
        put16(c, self.dos_time);
        put16(c, self.dos_date);
        put32(c, crc);
        put32(c, compressed_size);
        put32(c, size);
        put16(c, name_len);
        put16(c, extra_len);
        put16(c, 0); // comment length
        put16(c, 0); // disk number start
        put16(c, 0); // internal attributes
        put32(c, EXTERNAL_ATTRIBUTES);
        put32(c, offset);
        c.extend_from_slice(name.as_bytes());
        if let Some(t) = self.unix_time {
            put_timestamp(c, t);
        }

        self.input = input;
        self.names.insert(name.to_string());
        Ok(())
    }

    /// Appends the central directory and the end record, and answers the archive's bytes.
    pub fn finish(self) -> Result<Vec<u8>, ConsoleError> {
        let ZipWriter {
            mut out,
            central,
            names,
            ..
        } = self;
        let directory_offset = u32_field(out.len(), "central directory offset")?;
        let directory_size = u32_field(central.len(), "central directory size")?;
        u32_field(out.len() + central.len() + 22, "archive size")?;
        // At most MAX_ENTRIES, checked in `add`.
        let entries = names.len() as u16;
        out.extend_from_slice(&central);
        put32(&mut out, END_OF_CENTRAL_DIRECTORY);
        put16(&mut out, 0); // this disk
        put16(&mut out, 0); // disk with the central directory
        put16(&mut out, entries);
        put16(&mut out, entries);
        put32(&mut out, directory_size);
        put32(&mut out, directory_offset);
        put16(&mut out, 0); // comment length
        Ok(out)
    }
}

/// Names a recipient's unzip can write safely: relative, no `..`, no backslashes or NULs.
fn check_name(name: &str) -> Result<(), ConsoleError> {
    let bad = |why: &str| Err(zip_error(format!("entry name {name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_NAME {
        return bad(&format!("is longer than {MAX_NAME} bytes"));
    }
    if name.contains(['\\', '\0']) || name.chars().any(char::is_control) {
        return bad("contains a backslash or a control character");
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return bad("must be a relative file path without empty, `.` or `..` parts");
    }
    Ok(())
}

fn u32_field(value: usize, what: &str) -> Result<u32, ConsoleError> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v != u32::MAX)
        .ok_or_else(|| zip_error(format!("the {what} passes 4 GiB, which would need ZIP64")))
}

fn zip_error(message: String) -> ConsoleError {
    ConsoleError::Internal(format!("zip: {message}"))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The extended timestamp with the modification time only (flag bit 0), 9 bytes in all.
fn put_timestamp(out: &mut Vec<u8>, unix_time: u32) {
    put16(out, EXTENDED_TIMESTAMP);
    put16(out, 5);
    out.push(1);
    put32(out, unix_time);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hex;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use time::macros::datetime;

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn dos_time_has_two_second_steps_and_clamps_to_1980_and_2107() {
        let (t, d) = dos_date_time(datetime!(2024-05-06 12:34:57 UTC));
        assert_eq!(t >> 11, 12);
        assert_eq!((t >> 5) & 0x3f, 34);
        assert_eq!((t & 0x1f) * 2, 56);
        assert_eq!((d >> 9) + 1980, 2024);
        assert_eq!((d >> 5) & 0xf, 5);
        assert_eq!(d & 0x1f, 6);
        assert_eq!(
            dos_date_time(datetime!(1970-01-01 00:00 UTC)),
            (0, (1 << 5) | 1)
        );
        let (_, late) = dos_date_time(datetime!(2200-01-01 00:00 UTC));
        assert_eq!((late >> 9) + 1980, 2107);
    }

    #[test]
    fn stored_and_deflated_entries_read_back_in_python_and_unzip() {
        let at = datetime!(2025-03-04 05:06:08 +09:00);
        let text = "alert 01J… 10.0.0.5 → 203.0.113.9\n".repeat(500);
        let noise = pseudo_random(4096);
        let mut zip = ZipWriter::new(at);
        zip.add("text.txt", text.as_bytes()).unwrap();
        zip.add("noise.bin", &noise).unwrap();
        zip.add("empty.txt", b"").unwrap();
        zip.add("short.txt", b"hi").unwrap();
        zip.add("証拠/メール.txt", "件名: 請求書".as_bytes())
            .unwrap();
        assert_eq!(zip.len(), 5);
        let bytes = zip.finish().unwrap();
        assert!(
            bytes.len() < text.len(),
            "repetitive text is deflated: {} bytes",
            bytes.len()
        );

        let dir = temp_dir("roundtrip");
        let path = dir.join("t.zip");
        std::fs::write(&path, &bytes).unwrap();
        if let Some(listing) = python_read(&path) {
            assert_eq!(listing["bad"], serde_json::Value::Null, "testzip()");
            let e = &listing["entries"];
            assert_eq!(e["text.txt"]["compress_type"], 8);
            assert_eq!(e["text.txt"]["data"], hex(text.as_bytes()));
            assert_eq!(e["noise.bin"]["compress_type"], 0, "noise does not deflate");
            assert_eq!(e["noise.bin"]["data"], hex(&noise));
            assert_eq!(e["empty.txt"]["file_size"], 0);
            assert_eq!(e["short.txt"]["data"], hex(b"hi"));
            let utf8 = &e["証拠/メール.txt"];
            assert_eq!(utf8["data"], hex("件名: 請求書".as_bytes()));
            assert_eq!(utf8["flag_bits"].as_u64().unwrap() & 0x800, 0x800);
            // The DOS time is the UTC wall clock: 05:06:08 +09:00 is 20:06:08 the day before.
            assert_eq!(
                e["text.txt"]["date_time"],
                serde_json::json!([2025, 3, 3, 20, 6, 8])
            );
        }
        if let Some(out) = unzip(&["-t", path.to_str().unwrap()]) {
            assert!(out.contains("No errors detected"), "{out}");
        }
        if let Some(out) = unzip(&["-p", path.to_str().unwrap(), "text.txt"]) {
            assert_eq!(out, text);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_archive_with_no_entries_is_a_valid_empty_zip() {
        let bytes = ZipWriter::new(OffsetDateTime::UNIX_EPOCH).finish().unwrap();
        assert_eq!(bytes.len(), 22);
        assert_eq!(&bytes[..4], &END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        let dir = temp_dir("empty");
        let path = dir.join("e.zip");
        std::fs::write(&path, &bytes).unwrap();
        if let Some(listing) = python_read(&path) {
            assert_eq!(listing["entries"], serde_json::json!({}));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn thousands_of_entries_are_all_listed() {
        let mut zip = ZipWriter::new(datetime!(2025-01-01 00:00 UTC));
        for i in 0..3000 {
            zip.add(&format!("d/{i:05}.txt"), i.to_string().as_bytes())
                .unwrap();
        }
        let bytes = zip.finish().unwrap();
        let dir = temp_dir("many");
        let path = dir.join("m.zip");
        std::fs::write(&path, &bytes).unwrap();
        if let Some(listing) = python_read(&path) {
            let entries = listing["entries"].as_object().unwrap();
            assert_eq!(entries.len(), 3000);
            assert_eq!(entries["d/02999.txt"]["data"], hex(b"2999"));
        }
        if let Some(out) = unzip(&["-t", path.to_str().unwrap()]) {
            assert!(out.contains("No errors detected"), "{out}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn more_entries_than_the_end_record_can_count_are_refused() {
        let mut zip = ZipWriter::new(datetime!(2025-01-01 00:00 UTC));
        for i in 0..MAX_ENTRIES {
            zip.add(&format!("{i}"), b"").unwrap();
        }
        let err = zip.add("one-too-many", b"").unwrap_err().to_string();
        assert!(err.contains("ZIP64"), "{err}");
        assert_eq!(zip.len(), MAX_ENTRIES);
        let bytes = zip.finish().unwrap();
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(&end[..4], &END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 0xFFFE);
    }

    #[test]
    fn input_past_the_cap_is_refused_with_the_limit_named() {
        let mut zip =
            ZipWriter::new(datetime!(2025-01-01 00:00 UTC)).with_input_limit(2 * 1024 * 1024);
        zip.add("a", &vec![0u8; 1024 * 1024]).unwrap();
        zip.add("b", &vec![0u8; 1024 * 1024]).unwrap();
        let err = zip.add("c", b"x").unwrap_err().to_string();
        assert!(err.contains("more than 2 MiB"), "{err}");
        assert!(err.contains("\"c\""), "{err}");
    }

    #[test]
    fn names_that_could_escape_the_folder_or_repeat_are_refused() {
        let mut zip = ZipWriter::new(datetime!(2025-01-01 00:00 UTC));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(zip.add(bad, b"x").is_err(), "{bad:?} accepted");
        }
        zip.add("a/b.txt", b"x").unwrap();
        let err = zip.add("a/b.txt", b"y").unwrap_err().to_string();
        assert!(err.contains("already"), "{err}");
        assert!(zip.add(&"x".repeat(MAX_NAME + 1), b"").is_err());
    }

    fn pseudo_random(n: usize) -> Vec<u8> {
        let mut x: u32 = 0x1234_5678;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        mamori_core::scratch::dir(&format!("zip-{tag}"))
    }

    /// A tool the round trips need: skipped with a message locally, required on CI.
    fn tool_missing(tool: &str) -> bool {
        let present = Command::new(tool)
            .arg(if tool == "unzip" { "-v" } else { "--version" })
            .output()
            .is_ok();
        if !present {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{tool} is required on CI (apt-get install {tool})"
            );
            eprintln!("skipping the {tool} check: {tool} is not installed");
        }
        !present
    }

    /// What Python's `zipfile` reads: `testzip()` and, per entry, its header fields and data.
    fn python_read(path: &Path) -> Option<serde_json::Value> {
        if tool_missing("python3") {
            return None;
        }
        const SCRIPT: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    out = {"bad": z.testzip(), "entries": {}}
    for i in z.infolist():
        out["entries"][i.filename] = {
            "compress_type": i.compress_type, "flag_bits": i.flag_bits,
            "date_time": list(i.date_time), "file_size": i.file_size,
            "crc": i.CRC, "data": z.read(i).hex(),
        }
print(json.dumps(out))
"#;
        let out = Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python zipfile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }

    fn unzip(args: &[&str]) -> Option<String> {
        if tool_missing("unzip") {
            return None;
        }
        let out = Command::new("unzip").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "unzip {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
