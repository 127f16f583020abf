//! What the attachments of a mail contain, opened up within limits.
//!
//! [`inspect_attachments`] turns each attachment into a [`File`] — its real [`Kind`] from
//! the bytes, what its name claims, whether it is encrypted — and opens ZIP archives and
//! OOXML documents into further files, archive inside archive up to
//! [`Limits::max_depth`](crate::Limits). OLE documents get their directory read for macro
//! storages. The result is a flat list in which each file knows its parent, so a check can
//! ask "an archive inside an archive?" or "a program inside a zip?" without parsing again.
//!
//! Unpacking shares one [`Budget`] of bytes per mail, so a zip bomb costs at most the
//! budget. Formats this crate cannot open (RAR, 7z, ISO) are listed, not opened.
//!
//! Parsers: [`zip`], [`cfb`], [`pdf`], [`text`] and [`magic`]; none does I/O.

pub mod cfb;
pub mod magic;
pub mod pdf;
pub mod text;
pub mod zip;

pub use magic::Kind;

use crate::mime::Attachment;
use crate::policy::Limits;

/// A count of bytes that unpacking may still produce for the current mail.
#[derive(Debug, Clone)]
pub struct Budget {
    remaining: usize,
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget { remaining: bytes }
    }

    pub fn remaining(&self) -> usize {
        self.remaining
    }

    pub fn spend(&mut self, bytes: usize) {
        self.remaining = self.remaining.saturating_sub(bytes);
    }

    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }
}

/// One attachment, or one file inside an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The name as given (attachment name or archive entry name).
    pub name: String,
    /// Where it sits: `請求書.zip/中身/doc.docm`.
    pub path: String,
    /// Declared MIME type of a top-level attachment.
    pub declared_type: Option<String>,
    pub kind: Kind,
    /// The bytes, unpacked; empty when the file is encrypted or could not be unpacked.
    pub data: Vec<u8>,
    /// Size as declared by the archive, or the attachment's length.
    pub size: u64,
    /// 0 for an attachment; 1 for a file in an attachment's archive, and so on.
    pub depth: usize,
    /// Index of the containing file in [`Files::files`].
    pub parent: Option<usize>,
    /// Encrypted inside its archive (ZIP flag bit 0 or AES method 99).
    pub encrypted: bool,
    /// Encrypted with WinZip AES.
    pub aes: bool,
    /// The bytes are incomplete (limit reached or damaged container).
    pub truncated: bool,
    /// OLE or OOXML with VBA macros.
    pub macros: bool,
    /// How deep the attachment sat inside attached messages.
    pub message_depth: usize,
}

impl File {
    pub fn extension(&self) -> Option<String> {
        magic::extension(&self.name)
    }
}

/// Every file found in a mail's attachments, parents before children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    pub files: Vec<File>,
    /// What was not inspected and why.
    pub notes: Vec<String>,
}

impl Files {
    pub fn parent(&self, file: &File) -> Option<&File> {
        file.parent.and_then(|p| self.files.get(p))
    }

    /// The attachments themselves (not what is inside them).
    pub fn top_level(&self) -> impl Iterator<Item = &File> {
        self.files.iter().filter(|f| f.parent.is_none())
    }
}

/// Opens every attachment within `limits`.
pub fn inspect_attachments(attachments: Vec<Attachment>, limits: &Limits) -> Files {
    let mut files = Files::default();
    let mut budget = Budget::new(limits.max_total_unpacked_bytes);
    for a in attachments {
        let name = if a.name.is_empty() {
            "(no name)".to_string()
        } else {
            a.name.clone()
        };
        let index = files.files.len();
        files.files.push(File {
            path: name.clone(),
            name,
            declared_type: a.content_type,
            kind: magic::sniff(&a.data),
            size: a.data.len() as u64,
            data: a.data,
            depth: 0,
            parent: None,
            encrypted: false,
            aes: false,
            truncated: false,
            macros: false,
            message_depth: a.depth,
        });
        open(&mut files, index, limits, &mut budget);
    }
    files
}

/// Looks inside one file: lists a ZIP's entries as children (recursing), reads an OLE
/// directory.
fn open(files: &mut Files, index: usize, limits: &Limits, budget: &mut Budget) {
    let Some(file) = files.files.get(index) else {
        return;
    };
    match file.kind {
        Kind::Ole => {
            let found = cfb::inspect(&file.data, limits.max_archive_entries);
            if let Some(f) = files.files.get_mut(index) {
                f.macros = found.macros;
                f.encrypted |= found.encrypted;
            }
        }
        Kind::Zip => open_zip(files, index, limits, budget),
        _ => {}
    }
}

fn open_zip(files: &mut Files, index: usize, limits: &Limits, budget: &mut Budget) {
    let Some(f) = files.files.get_mut(index) else {
        return;
    };
    let (data, depth, path, message_depth) = (
        std::mem::take(&mut f.data),
        f.depth,
        f.path.clone(),
        f.message_depth,
    );
    let archive = match zip::list(&data, limits.max_archive_entries) {
        Ok(a) => a,
        Err(e) => {
            files.notes.push(format!("{path}: {e}"));
            files.files[index].data = data;
            return;
        }
    };
    if archive.truncated {
        files.notes.push(format!(
            "{path}: archive directory damaged or too long; listing may be incomplete"
        ));
        files.files[index].truncated = true;
    }
    let is_ooxml = archive
        .entries
        .iter()
        .any(|e| e.name.eq_ignore_ascii_case("[Content_Types].xml"));
    if is_ooxml {
        files.files[index].kind = Kind::Ooxml;
        files.files[index].macros = archive
            .entries
            .iter()
            .any(|e| e.name.to_ascii_lowercase().ends_with("vbaproject.bin"));
    }
    if depth >= limits.max_depth {
        files.notes.push(format!(
            "{path}: archive nested deeper than {}: contents not listed",
            limits.max_depth
        ));
        files.files[index].data = data;
        return;
    }
    for entry in archive.entries.iter().filter(|e| !e.is_dir()) {
        // In OOXML only the parts that carry text or code are worth unpacking.
        let wanted = !is_ooxml || ooxml_part_wanted(&entry.name);
        let (bytes, truncated) = if entry.is_encrypted() || !wanted || budget.exhausted() {
            (Vec::new(), !entry.is_encrypted() && wanted)
        } else {
            let limit = limits.max_entry_bytes.min(budget.remaining());
            match zip::unpack(&data, entry, limit) {
                Ok(u) => {
                    budget.spend(u.data.len());
                    (u.data, u.truncated)
                }
                Err(e) => {
                    files.notes.push(format!("{path}/{}: {e}", entry.name));
                    (Vec::new(), true)
                }
            }
        };
        let leaf = entry
            .name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&entry.name)
            .to_string();
        let child = files.files.len();
        files.files.push(File {
            name: leaf,
            path: format!("{path}/{}", entry.name),
            declared_type: None,
            kind: if bytes.is_empty() {
                kind_from_name(&entry.name)
            } else {
                magic::sniff(&bytes)
            },
            data: bytes,
            size: entry.size,
            depth: depth + 1,
            parent: Some(index),
            encrypted: entry.is_encrypted(),
            aes: entry.is_aes(),
            truncated,
            macros: false,
            message_depth,
        });
        open(files, child, limits, budget);
    }
    files.files[index].data = data;
}

fn ooxml_part_wanted(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".bin")
        || n == "word/document.xml"
        || n.starts_with("word/header")
        || n.starts_with("word/footer")
        || n == "xl/sharedstrings.xml"
        || (n.starts_with("xl/worksheets/") && n.ends_with(".xml"))
        || (n.starts_with("ppt/slides/") && n.ends_with(".xml"))
        || n.starts_with("word/embeddings/")
        || n.starts_with("xl/embeddings/")
        || n.starts_with("ppt/embeddings/")
}

/// A guess from the name when the bytes cannot be read (encrypted entries).
fn kind_from_name(name: &str) -> Kind {
    match magic::extension(name).as_deref() {
        Some("zip") => Kind::Zip,
        Some("rar") => Kind::Rar,
        Some("7z") => Kind::SevenZip,
        Some("exe" | "scr" | "dll" | "com") => Kind::Pe,
        Some("lnk") => Kind::Lnk,
        Some("iso" | "img") => Kind::Iso,
        Some("pdf") => Kind::Pdf,
        Some("doc" | "xls" | "ppt") => Kind::Ole,
        Some("docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm") => Kind::Ooxml,
        _ => Kind::Unknown,
    }
}

/// Text of a file for the personal-data scan: plain text and CSV decoded, HTML and the
/// text-bearing OOXML parts stripped of tags, PDF strings. `None` for everything else.
pub fn extract_text(
    files: &Files,
    file: &File,
    limits: &Limits,
    budget: &mut Budget,
) -> Option<String> {
    if file.data.is_empty() {
        return None;
    }
    let in_ooxml = files.parent(file).is_some_and(|p| p.kind == Kind::Ooxml);
    let text = match file.kind {
        Kind::Pdf => pdf::text(&file.data, limits.max_entry_bytes, budget),
        Kind::Html | Kind::Svg => text::strip_tags(&text::decode(&file.data)),
        Kind::Text if in_ooxml || file.name.to_ascii_lowercase().ends_with(".xml") => {
            text::strip_tags(&text::decode(&file.data))
        }
        Kind::Text | Kind::Mail => text::decode(&file.data),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(name: &str, data: Vec<u8>) -> Attachment {
        Attachment {
            name: name.into(),
            content_type: None,
            data,
            depth: 0,
        }
    }

    #[test]
    fn nested_archives_are_opened_with_parents() {
        let inner = zip::tests::build(&[("run.exe", b"MZ\x90\x00", 0, 0)]);
        let outer = zip::tests::build(&[("inner.zip", &inner, 0, 0), ("pw.txt", b"x", 1, 0)]);
        let files = inspect_attachments(vec![attachment("outer.zip", outer)], &Limits::default());
        let paths: Vec<&str> = files.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "outer.zip",
                "outer.zip/inner.zip",
                "outer.zip/inner.zip/run.exe",
                "outer.zip/pw.txt"
            ]
        );
        let exe = &files.files[2];
        assert_eq!(exe.kind, Kind::Pe);
        assert_eq!(exe.depth, 2);
        assert_eq!(
            files.parent(exe).map(|p| p.name.as_str()),
            Some("inner.zip")
        );
        assert!(files.files[3].encrypted);
    }

    #[test]
    fn depth_limit_stops_unpacking() {
        let mut z = zip::tests::build(&[("x.txt", b"deep", 0, 0)]);
        for i in 0..10 {
            z = zip::tests::build(&[(&format!("l{i}.zip"), &z, 0, 0)]);
        }
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let files = inspect_attachments(vec![attachment("bomb.zip", z)], &limits);
        assert!(files.files.iter().all(|f| f.depth <= 3));
        assert!(files.notes.iter().any(|n| n.contains("nested deeper")));
    }

    #[test]
    fn budget_caps_the_bytes_unpacked() {
        let big = miniz_oxide::deflate::compress_to_vec(&vec![b'0'; 4_000_000], 9);
        let z = zip::tests::build(&[
            ("a.txt", &big, 0, 8),
            ("b.txt", &big, 0, 8),
            ("c.txt", &big, 0, 8),
        ]);
        let limits = Limits {
            max_total_unpacked_bytes: 5_000_000,
            ..Limits::default()
        };
        let files = inspect_attachments(vec![attachment("bomb.zip", z)], &limits);
        let total: usize = files.files.iter().skip(1).map(|f| f.data.len()).sum();
        assert!(total <= 5_000_000, "{total}");
        assert!(files.files.iter().any(|f| f.truncated));
    }

    #[test]
    fn docm_macros_are_seen_from_the_part_name() {
        let z = zip::tests::build(&[
            ("[Content_Types].xml", b"<Types/>", 0, 0),
            ("word/document.xml", b"<w:p><w:t>hi</w:t></w:p>", 0, 0),
            (
                "word/vbaProject.bin",
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
                0,
                0,
            ),
        ]);
        let files = inspect_attachments(vec![attachment("a.docm", z)], &Limits::default());
        assert_eq!(files.files[0].kind, Kind::Ooxml);
        assert!(files.files[0].macros);
        let mut budget = Budget::new(1 << 20);
        let doc = files
            .files
            .iter()
            .find(|f| f.name == "document.xml")
            .expect("part");
        assert_eq!(
            extract_text(&files, doc, &Limits::default(), &mut budget).as_deref(),
            Some("hi\n")
        );
    }
}
