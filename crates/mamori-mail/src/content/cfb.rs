//! OLE compound files (CFB, MS-CFB): the container of DOC, XLS and PPT.
//!
//! Only the directory is read — the names of the storages and streams — because that is
//! where macros show: Word keeps them under `Macros/VBA` with a `_VBA_PROJECT` stream, Excel
//! under `_VBA_PROJECT_CUR/VBA`, PowerPoint and others in a `VBA` storage. Password
//! protected Office documents are a CFB with an `EncryptedPackage` stream. The sector chain
//! of the directory is followed through the FAT with a step limit, so loops and bogus
//! sector numbers end the walk instead of the process.

/// Why a compound file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ole: {reason} at byte offset {offset}")]
pub struct CfbError {
    pub offset: usize,
    pub reason: &'static str,
}

/// A directory entry: a storage (folder) or a stream (file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_storage: bool,
    pub size: u64,
}

const SIGNATURE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const FREE: u32 = 0xFFFF_FFFF;

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?))
}

fn err(offset: usize, reason: &'static str) -> CfbError {
    CfbError { offset, reason }
}

/// Lists the storages and streams of a compound file, at most `max_entries` of them.
pub fn entries(data: &[u8], max_entries: usize) -> Result<Vec<DirEntry>, CfbError> {
    if data.get(..8) != Some(SIGNATURE) {
        return Err(err(0, "not a compound file"));
    }
    let shift = u16_at(data, 0x1E).ok_or(err(0x1E, "truncated header"))?;
    if shift != 9 && shift != 12 {
        return Err(err(0x1E, "sector size is neither 512 nor 4096"));
    }
    let sector_size = 1usize << shift;
    let sectors = data.len() / sector_size;
    let offset_of = |sector: u32| -> Option<usize> {
        (sector as usize)
            .checked_add(1)?
            .checked_mul(sector_size)
            .filter(|o| o + sector_size <= data.len())
    };
    let num_fat = u32_at(data, 0x2C).ok_or(err(0x2C, "truncated header"))? as usize;
    let first_dir = u32_at(data, 0x30).ok_or(err(0x30, "truncated header"))?;
    let mut difat_next = u32_at(data, 0x44).ok_or(err(0x44, "truncated header"))?;

    // FAT sector numbers: 109 in the header, the rest in a chain of DIFAT sectors.
    let mut fat_sectors: Vec<u32> = (0..109)
        .filter_map(|i| u32_at(data, 0x4C + i * 4))
        .filter(|&s| s <= MAX_REGULAR_SECTOR)
        .take(num_fat.min(sectors))
        .collect();
    let mut steps = 0;
    while difat_next <= MAX_REGULAR_SECTOR && fat_sectors.len() < num_fat.min(sectors) {
        steps += 1;
        let Some(at) = offset_of(difat_next).filter(|_| steps <= sectors) else {
            break;
        };
        let per = sector_size / 4 - 1;
        for i in 0..per {
            if let Some(s) = u32_at(data, at + i * 4).filter(|&s| s <= MAX_REGULAR_SECTOR) {
                fat_sectors.push(s);
            }
        }
        difat_next = u32_at(data, at + per * 4).unwrap_or(FREE);
    }
    let mut fat: Vec<u32> = Vec::with_capacity(fat_sectors.len().min(sectors) * sector_size / 4);
    for s in fat_sectors {
        if let Some(at) = offset_of(s) {
            fat.extend((0..sector_size / 4).filter_map(|i| u32_at(data, at + i * 4)));
        }
    }

    let mut out = Vec::new();
    let mut sector = first_dir;
    let mut steps = 0;
    while sector <= MAX_REGULAR_SECTOR {
        steps += 1;
        if steps > sectors + 1 {
            return Err(err(0x30, "directory chain loops"));
        }
        let at = offset_of(sector).ok_or(err(0x30, "directory sector outside the file"))?;
        for i in 0..sector_size / 128 {
            let e = at + i * 128;
            let kind = data.get(e + 66).copied().unwrap_or(0);
            if !matches!(kind, 1 | 2 | 5) {
                continue;
            }
            let name_len = usize::from(u16_at(data, e + 64).unwrap_or(0)).min(64);
            let units: Vec<u16> = (0..name_len.saturating_sub(2) / 2)
                .filter_map(|k| u16_at(data, e + k * 2))
                .collect();
            out.push(DirEntry {
                name: String::from_utf16_lossy(&units),
                is_storage: kind != 2,
                size: u64_at(data, e + 120).unwrap_or(0),
            });
            if out.len() >= max_entries {
                return Ok(out);
            }
        }
        sector = fat.get(sector as usize).copied().unwrap_or(FREE);
    }
    if out.is_empty() {
        return Err(err(0x30, "empty directory"));
    }
    Ok(out)
}

/// What a compound file's directory says about macros and encryption.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    pub macros: bool,
    pub encrypted: bool,
}

/// Reads the directory; when it is damaged, falls back to looking for the stream names in
/// UTF-16 anywhere in the file (Office repairs such files and runs the macros anyway).
pub fn inspect(data: &[u8], max_entries: usize) -> Findings {
    match entries(data, max_entries) {
        Ok(list) => Findings {
            macros: list.iter().any(|e| {
                e.name.eq_ignore_ascii_case("_VBA_PROJECT")
                    || e.name.eq_ignore_ascii_case("_VBA_PROJECT_CUR")
                    || (e.is_storage
                        && (e.name.eq_ignore_ascii_case("VBA")
                            || e.name.eq_ignore_ascii_case("Macros")))
            }),
            encrypted: list.iter().any(|e| e.name == "EncryptedPackage"),
        },
        Err(_) => Findings {
            macros: contains_utf16(data, "_VBA_PROJECT"),
            encrypted: contains_utf16(data, "EncryptedPackage"),
        },
    }
}

fn contains_utf16(data: &[u8], name: &str) -> bool {
    let needle: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    data.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal 512-byte-sector compound file: header, one FAT sector, and directory
    /// sectors holding the given (name, type) entries after the root (type 1 storage,
    /// 2 stream).
    pub(crate) fn build(entries: &[(&str, u8)]) -> Vec<u8> {
        let mut all = vec![("Root Entry", 5u8)];
        all.extend_from_slice(entries);
        let dir_sectors = all.len().div_ceil(4);
        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(SIGNATURE);
        header[0x18..0x1A].copy_from_slice(&0x3Eu16.to_le_bytes());
        header[0x1A..0x1C].copy_from_slice(&3u16.to_le_bytes());
        header[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
        header[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
        header[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
        header[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes());
        header[0x30..0x34].copy_from_slice(&1u32.to_le_bytes());
        header[0x38..0x3C].copy_from_slice(&4096u32.to_le_bytes());
        header[0x3C..0x40].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        header[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        for i in 0..109 {
            let v: u32 = if i == 0 { 0 } else { FREE };
            header[0x4C + i * 4..0x50 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        let mut fat = vec![0u8; 512];
        let mut put = |i: usize, v: u32| fat[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        for i in 0..128 {
            put(i, FREE);
        }
        put(0, 0xFFFF_FFFD);
        for s in 0..dir_sectors {
            let next = if s + 1 == dir_sectors {
                0xFFFF_FFFE
            } else {
                (s + 2) as u32
            };
            put(s + 1, next);
        }
        let mut dir = vec![0u8; dir_sectors * 512];
        for (i, (name, kind)) in all.iter().enumerate() {
            let e = i * 128;
            let units: Vec<u16> = name.encode_utf16().collect();
            for (k, u) in units.iter().enumerate() {
                dir[e + k * 2..e + k * 2 + 2].copy_from_slice(&u.to_le_bytes());
            }
            let len = ((units.len() + 1) * 2) as u16;
            dir[e + 64..e + 66].copy_from_slice(&len.to_le_bytes());
            dir[e + 66] = *kind;
            for field in [68, 72, 76] {
                dir[e + field..e + field + 4].copy_from_slice(&FREE.to_le_bytes());
            }
        }
        let mut out = header;
        out.extend(fat);
        out.extend(dir);
        out
    }

    #[test]
    fn finds_vba_streams_in_a_word_document() {
        let doc = build(&[
            ("WordDocument", 2),
            ("Macros", 1),
            ("VBA", 1),
            ("_VBA_PROJECT", 2),
            ("dir", 2),
        ]);
        let names: Vec<String> = entries(&doc, 100)
            .expect("reads")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.contains(&"_VBA_PROJECT".to_string()), "{names:?}");
        assert!(inspect(&doc, 100).macros);
    }

    #[test]
    fn a_plain_document_has_no_macros() {
        let doc = build(&[("WordDocument", 2), ("\u{5}SummaryInformation", 2)]);
        assert_eq!(inspect(&doc, 100), Findings::default());
        let enc = build(&[("EncryptionInfo", 2), ("EncryptedPackage", 2)]);
        assert!(inspect(&enc, 100).encrypted);
    }

    #[test]
    fn damaged_directories_fall_back_to_a_name_scan() {
        let mut doc = build(&[("Macros", 1), ("_VBA_PROJECT", 2)]);
        doc[0x30..0x34].copy_from_slice(&9999u32.to_le_bytes());
        assert!(entries(&doc, 100).is_err());
        assert!(inspect(&doc, 100).macros);
        // A directory chain that points at itself ends.
        let mut looped = build(&[("WordDocument", 2)]);
        looped[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        assert!(entries(&looped, 100).is_err());
        for cut in 0..doc.len() {
            let _ = inspect(&doc[..cut], 100);
        }
    }
}
