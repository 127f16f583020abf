//! A ZIP reader written for inspection, not for faithful extraction.
//!
//! It lists entries from the central directory (ZIP64 included), and falls back to walking
//! local headers when the directory is missing or damaged — attackers truncate archives on
//! purpose, and an encrypted entry must still be seen. For each entry it reports the
//! general-purpose flags (bit 0: traditional PKWARE encryption) and the method (99: WinZip
//! AES, with the real method in extra field 0x9901). Stored and deflated entries can be
//! unpacked up to a byte limit; everything else is listed only.
//!
//! Names without the UTF-8 flag are decoded as UTF-8 when valid and as Shift_JIS otherwise,
//! which is what Japanese Windows writes.

use miniz_oxide::inflate::{decompress_to_vec_with_limit, TINFLStatus};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;

/// Why an archive could not be read as far as wanted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("zip: {reason} at byte offset {offset}")]
pub struct ZipError {
    pub offset: usize,
    pub reason: &'static str,
}

/// One entry of an archive, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub flags: u16,
    /// Compression method; 99 means WinZip AES (see `aes_method` for the inner one).
    pub method: u16,
    pub aes_method: Option<u16>,
    pub compressed_size: u64,
    pub size: u64,
    pub local_offset: u64,
}

impl Entry {
    /// Traditional encryption (flag bit 0) or AES (method 99).
    pub fn is_encrypted(&self) -> bool {
        self.flags & 1 != 0 || self.method == 99
    }

    pub fn is_aes(&self) -> bool {
        self.method == 99
    }

    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/') || self.name.ends_with('\\')
    }
}

/// The listing of one archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    pub entries: Vec<Entry>,
    /// Entries beyond the limit, or a damaged directory: the listing may be incomplete.
    pub truncated: bool,
}

/// Bytes unpacked from one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub data: Vec<u8>,
    /// The entry was longer than the limit or damaged; `data` holds what came out.
    pub truncated: bool,
}

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?))
}

fn err(offset: usize, reason: &'static str) -> ZipError {
    ZipError { offset, reason }
}

/// Lists the entries of an archive, at most `max_entries` of them.
pub fn list(data: &[u8], max_entries: usize) -> Result<Archive, ZipError> {
    match list_central(data, max_entries) {
        Ok(archive) if !archive.entries.is_empty() || local_headers_absent(data) => Ok(archive),
        Ok(_) | Err(_) => list_local(data, max_entries),
    }
}

fn local_headers_absent(data: &[u8]) -> bool {
    u32_at(data, 0) != Some(LOCAL)
}

fn find_end(data: &[u8]) -> Option<usize> {
    if data.len() < 22 {
        return None;
    }
    let lowest = data.len().saturating_sub(22 + 65_535);
    (lowest..=data.len() - 22)
        .rev()
        .find(|&i| u32_at(data, i) == Some(END))
}

fn list_central(data: &[u8], max_entries: usize) -> Result<Archive, ZipError> {
    let end = find_end(data).ok_or(err(data.len(), "no end of central directory"))?;
    let mut count = u64::from(u16_at(data, end + 10).unwrap_or(0));
    let mut cd_size = u64::from(u32_at(data, end + 12).unwrap_or(0));
    let mut cd_offset = u64::from(u32_at(data, end + 16).unwrap_or(0));
    if cd_offset == 0xFFFF_FFFF || count == 0xFFFF {
        if let Some(loc) = end
            .checked_sub(20)
            .filter(|&l| u32_at(data, l) == Some(LOCATOR64))
        {
            let e64 = u64_at(data, loc + 8).unwrap_or(u64::MAX) as usize;
            if u32_at(data, e64) == Some(END64) {
                count = u64_at(data, e64 + 32).unwrap_or(0);
                cd_size = u64_at(data, e64 + 40).unwrap_or(0);
                cd_offset = u64_at(data, e64 + 48).unwrap_or(0);
            }
        }
    }
    // Data prepended to the archive (self-extractors, junk) shifts every offset; the
    // directory then ends where the end record starts.
    let mut base = 0u64;
    if u32_at(data, cd_offset as usize) != Some(CENTRAL) {
        let guess = (end as u64).saturating_sub(cd_size);
        if u32_at(data, guess as usize) == Some(CENTRAL) {
            base = guess.saturating_sub(cd_offset);
            cd_offset = guess;
        } else if count > 0 {
            return Err(err(
                cd_offset as usize,
                "central directory not where the end record says",
            ));
        }
    }
    let mut archive = Archive::default();
    let mut pos = cd_offset as usize;
    while u32_at(data, pos) == Some(CENTRAL) {
        if archive.entries.len() >= max_entries {
            archive.truncated = true;
            break;
        }
        let flags = u16_at(data, pos + 8).ok_or(err(pos, "truncated central header"))?;
        let method = u16_at(data, pos + 10).ok_or(err(pos, "truncated central header"))?;
        let mut csize =
            u64::from(u32_at(data, pos + 20).ok_or(err(pos, "truncated central header"))?);
        let mut size =
            u64::from(u32_at(data, pos + 24).ok_or(err(pos, "truncated central header"))?);
        let name_len =
            usize::from(u16_at(data, pos + 28).ok_or(err(pos, "truncated central header"))?);
        let extra_len =
            usize::from(u16_at(data, pos + 30).ok_or(err(pos, "truncated central header"))?);
        let comment_len =
            usize::from(u16_at(data, pos + 32).ok_or(err(pos, "truncated central header"))?);
        let mut local =
            u64::from(u32_at(data, pos + 42).ok_or(err(pos, "truncated central header"))?);
        let name_bytes = data
            .get(pos + 46..pos + 46 + name_len)
            .ok_or(err(pos + 46, "entry name runs past the end"))?;
        let extra = data
            .get(pos + 46 + name_len..pos + 46 + name_len + extra_len)
            .unwrap_or_default();
        let mut aes_method = None;
        for (id, body) in extra_fields(extra) {
            match id {
                0x0001 => {
                    let mut o = 0;
                    for field in [&mut size, &mut csize, &mut local] {
                        if *field == 0xFFFF_FFFF {
                            if let Some(v) = u64_at(body, o) {
                                *field = v;
                                o += 8;
                            }
                        }
                    }
                }
                0x9901 => aes_method = u16_at(body, 5),
                _ => {}
            }
        }
        archive.entries.push(Entry {
            name: decode_name(name_bytes, flags),
            flags,
            method,
            aes_method,
            compressed_size: csize,
            size,
            local_offset: local.saturating_add(base),
        });
        pos += 46 + name_len + extra_len + comment_len;
    }
    if (archive.entries.len() as u64) < count.min(max_entries as u64) {
        archive.truncated = true;
    }
    Ok(archive)
}

/// Walks local headers from the start; used when the central directory is unusable.
fn list_local(data: &[u8], max_entries: usize) -> Result<Archive, ZipError> {
    let mut archive = Archive {
        entries: Vec::new(),
        truncated: true,
    };
    let mut pos = 0usize;
    while u32_at(data, pos) == Some(LOCAL) {
        if archive.entries.len() >= max_entries {
            break;
        }
        let (Some(flags), Some(method), Some(csize), Some(size), Some(name_len), Some(extra_len)) = (
            u16_at(data, pos + 6),
            u16_at(data, pos + 8),
            u32_at(data, pos + 18),
            u32_at(data, pos + 22),
            u16_at(data, pos + 26),
            u16_at(data, pos + 28),
        ) else {
            break;
        };
        let name_start = pos + 30;
        let name_end = name_start + usize::from(name_len);
        let Some(name_bytes) = data.get(name_start..name_end) else {
            break;
        };
        let extra = data
            .get(name_end..name_end + usize::from(extra_len))
            .unwrap_or_default();
        let aes_method = extra_fields(extra)
            .find(|(id, _)| *id == 0x9901)
            .and_then(|(_, body)| u16_at(body, 5));
        archive.entries.push(Entry {
            name: decode_name(name_bytes, flags),
            flags,
            method,
            aes_method,
            compressed_size: u64::from(csize),
            size: u64::from(size),
            local_offset: pos as u64,
        });
        let data_start = name_end + usize::from(extra_len);
        let next = if flags & 0x08 != 0 && csize == 0 {
            // Sizes follow the data in a descriptor: look for the next header instead.
            let rest = data.get(data_start..).unwrap_or_default();
            match rest
                .windows(4)
                .position(|w| w == b"PK\x03\x04" || w == b"PK\x01\x02")
            {
                Some(p) => data_start + p,
                None => break,
            }
        } else {
            data_start.saturating_add(csize as usize)
        };
        if next <= pos {
            break;
        }
        pos = next;
    }
    if archive.entries.is_empty() {
        return Err(err(0, "no zip entries found"));
    }
    Ok(archive)
}

fn extra_fields(extra: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let id = u16_at(extra, pos)?;
        let len = usize::from(u16_at(extra, pos + 2)?);
        let body = extra.get(pos + 4..pos + 4 + len)?;
        pos += 4 + len;
        Some((id, body))
    })
}

fn decode_name(bytes: &[u8], flags: u16) -> String {
    if flags & 0x0800 != 0 {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::SHIFT_JIS
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Unpacks one entry, at most `max_bytes` of it. Encrypted entries and methods other than
/// stored (0) and deflate (8) are refused.
pub fn unpack(data: &[u8], entry: &Entry, max_bytes: usize) -> Result<Unpacked, ZipError> {
    let at = entry.local_offset as usize;
    if entry.is_encrypted() {
        return Err(err(at, "entry is encrypted"));
    }
    if u32_at(data, at) != Some(LOCAL) {
        return Err(err(at, "no local header where the directory says"));
    }
    let name_len = usize::from(u16_at(data, at + 26).ok_or(err(at, "truncated local header"))?);
    let extra_len = usize::from(u16_at(data, at + 28).ok_or(err(at, "truncated local header"))?);
    let start = at + 30 + name_len + extra_len;
    let available = data.len().saturating_sub(start);
    let want = usize::try_from(entry.compressed_size).unwrap_or(usize::MAX);
    let short = want > available;
    let raw = data
        .get(start..start + want.min(available))
        .ok_or(err(start, "entry data outside the archive"))?;
    match entry.method {
        0 => {
            let truncated = short || raw.len() > max_bytes;
            Ok(Unpacked {
                data: raw[..raw.len().min(max_bytes)].to_vec(),
                truncated,
            })
        }
        8 => match decompress_to_vec_with_limit(raw, max_bytes) {
            Ok(out) => Ok(Unpacked {
                data: out,
                truncated: short,
            }),
            Err(e) if e.status == TINFLStatus::HasMoreOutput || !e.output.is_empty() => {
                Ok(Unpacked {
                    data: e.output,
                    truncated: true,
                })
            }
            Err(_) => Err(err(start, "deflate data is damaged")),
        },
        _ => Err(err(at, "compression method not supported for inspection")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ZIP the way the tests need it: (name, data, flags, method) per entry, data
    /// stored as given (the tests pass deflated bytes themselves when method is 8).
    pub(crate) fn build(entries: &[(&str, &[u8], u16, u16)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, flags, method) in entries {
            let offset = out.len() as u32;
            let extra: Vec<u8> = if *method == 99 {
                let mut e = vec![0x01, 0x99, 7, 0, 2, 0, b'A', b'E', 3];
                e.extend_from_slice(&8u16.to_le_bytes());
                e
            } else {
                Vec::new()
            };
            let header = |sig: u32, central: bool| {
                let mut h = Vec::new();
                h.extend_from_slice(&sig.to_le_bytes());
                if central {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                h.extend_from_slice(&20u16.to_le_bytes());
                h.extend_from_slice(&flags.to_le_bytes());
                h.extend_from_slice(&method.to_le_bytes());
                h.extend_from_slice(&[0; 8]); // time, date, crc
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                if central {
                    h.extend_from_slice(&[0; 10]); // comment len, disk, attributes
                    h.extend_from_slice(&offset.to_le_bytes());
                }
                h.extend_from_slice(name.as_bytes());
                h.extend_from_slice(&extra);
                h
            };
            out.extend(header(LOCAL, false));
            out.extend_from_slice(data);
            central.extend(header(CENTRAL, true));
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&END.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out
    }

    #[test]
    fn lists_entries_with_encryption_flags() {
        let z = build(&[
            ("a.txt", b"hello", 0, 0),
            ("secret.docx", b"xxxx", 1, 0),
            ("aes.pdf", b"yyyy", 1, 99),
        ]);
        let a = list(&z, 100).expect("lists");
        assert_eq!(a.entries.len(), 3);
        assert!(!a.entries[0].is_encrypted());
        assert!(a.entries[1].is_encrypted() && !a.entries[1].is_aes());
        assert!(a.entries[2].is_aes());
        assert_eq!(a.entries[2].aes_method, Some(8));
        let u = unpack(&z, &a.entries[0], 100).expect("unpacks");
        assert_eq!(u.data, b"hello");
        assert!(unpack(&z, &a.entries[1], 100).is_err());
    }

    #[test]
    fn truncated_archive_is_listed_from_local_headers() {
        let z = build(&[("a.txt", b"hello", 0, 0), ("b.exe", b"MZ", 1, 0)]);
        let cut = &z[..z.len() - 30];
        let a = list(cut, 100).expect("lists");
        assert!(a.truncated);
        assert_eq!(a.entries.len(), 2);
        assert!(a.entries[1].is_encrypted());
    }

    #[test]
    fn deflate_is_unpacked_within_the_limit() {
        let plain = vec![b'a'; 100_000];
        let packed = miniz_oxide::deflate::compress_to_vec(&plain, 6);
        let z = build(&[("big.txt", &packed, 0, 8)]);
        let a = list(&z, 10).expect("lists");
        let u = unpack(&z, &a.entries[0], 1000).expect("unpacks");
        assert_eq!(u.data.len(), 1000);
        assert!(u.truncated);
        let u = unpack(&z, &a.entries[0], 1_000_000).expect("unpacks");
        assert_eq!(u.data, plain);
    }

    #[test]
    fn shift_jis_names_are_decoded() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("請求書.xlsx");
        let name = String::from_utf8_lossy(&sjis).into_owned();
        // Build with raw bytes: replace the name bytes after building with a placeholder.
        let mut z = build(&[("XXXXXXXXXXX", b"x", 0, 0)]);
        let placeholder = b"XXXXXXXXXXX";
        assert_eq!(sjis.len(), placeholder.len(), "{name}");
        while let Some(p) = z.windows(placeholder.len()).position(|w| w == placeholder) {
            z[p..p + placeholder.len()].copy_from_slice(&sjis);
        }
        let a = list(&z, 10).expect("lists");
        assert_eq!(a.entries[0].name, "請求書.xlsx");
    }

    #[test]
    fn garbage_never_panics() {
        let z = build(&[("a.txt", b"hello", 0, 8), ("b", b"", 8, 0)]);
        for cut in 0..z.len() {
            if let Ok(a) = list(&z[..cut], 10) {
                for e in &a.entries {
                    let _ = unpack(&z[..cut], e, 100);
                }
            }
        }
        let mut seed = 7u32;
        for _ in 0..500 {
            let mut b = z.clone();
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = (seed >> 8) as usize % b.len();
            b[at] = (seed >> 24) as u8;
            if let Ok(a) = list(&b, 10) {
                for e in &a.entries {
                    let _ = unpack(&b, e, 100);
                }
            }
        }
    }
}
