//! What a file really is, from its first (and for disk images, last) bytes, and what its
//! name claims it is.
//!
//! Attackers rename files (`invoice.pdf` that is a program) and hide programs inside disk
//! images and archives; mail clients trust the name, so the checks compare the two. Only the
//! formats the checks care about are recognised; everything else is [`Kind::Text`] or
//! [`Kind::Unknown`].

use serde::Serialize;

/// A file format, as far as the mail checks are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Zip,
    /// A ZIP that holds `[Content_Types].xml`: DOCX, XLSX, PPTX and their macro variants.
    Ooxml,
    Rar,
    SevenZip,
    Gzip,
    Bzip2,
    Xz,
    Cab,
    Lzh,
    /// OLE compound file: DOC, XLS, PPT, MSI, MSG.
    Ole,
    Pdf,
    Rtf,
    /// Windows program (MZ).
    Pe,
    Elf,
    MachO,
    /// Windows shortcut.
    Lnk,
    /// ISO 9660 or UDF image.
    Iso,
    Vhd,
    Vhdx,
    Dmg,
    Html,
    Svg,
    Png,
    Jpeg,
    Gif,
    /// An RFC 5322 message.
    Mail,
    Text,
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Ooxml => "ooxml",
            Kind::Rar => "rar",
            Kind::SevenZip => "7z",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Cab => "cab",
            Kind::Lzh => "lzh",
            Kind::Ole => "ole",
            Kind::Pdf => "pdf",
            Kind::Rtf => "rtf",
            Kind::Pe => "pe",
            Kind::Elf => "elf",
            Kind::MachO => "macho",
            Kind::Lnk => "lnk",
            Kind::Iso => "iso",
            Kind::Vhd => "vhd",
            Kind::Vhdx => "vhdx",
            Kind::Dmg => "dmg",
            Kind::Html => "html",
            Kind::Svg => "svg",
            Kind::Png => "png",
            Kind::Jpeg => "jpeg",
            Kind::Gif => "gif",
            Kind::Mail => "mail",
            Kind::Text => "text",
            Kind::Unknown => "unknown",
        }
    }

    /// Containers of other files (not documents that happen to be ZIPs).
    pub fn is_archive(self) -> bool {
        matches!(
            self,
            Kind::Zip
                | Kind::Rar
                | Kind::SevenZip
                | Kind::Gzip
                | Kind::Bzip2
                | Kind::Xz
                | Kind::Cab
                | Kind::Lzh
                | Kind::Iso
                | Kind::Vhd
                | Kind::Vhdx
                | Kind::Dmg
        )
    }

    pub fn is_executable(self) -> bool {
        matches!(self, Kind::Pe | Kind::Elf | Kind::MachO)
    }

    pub fn is_disk_image(self) -> bool {
        matches!(self, Kind::Iso | Kind::Vhd | Kind::Vhdx | Kind::Dmg)
    }
}

fn at(data: &[u8], offset: usize, magic: &[u8]) -> bool {
    data.get(offset..offset + magic.len()) == Some(magic)
}

/// Recognises a file by its content.
pub fn sniff(data: &[u8]) -> Kind {
    if at(data, 0, b"PK\x03\x04") || at(data, 0, b"PK\x05\x06") || at(data, 0, b"PK\x07\x08") {
        return Kind::Zip;
    }
    if at(data, 0, b"Rar!\x1a\x07") {
        return Kind::Rar;
    }
    if at(data, 0, b"7z\xbc\xaf\x27\x1c") {
        return Kind::SevenZip;
    }
    if at(data, 0, b"\x1f\x8b") {
        return Kind::Gzip;
    }
    if at(data, 0, b"BZh") && data.len() > 10 {
        return Kind::Bzip2;
    }
    if at(data, 0, b"\xfd7zXZ\x00") {
        return Kind::Xz;
    }
    if at(data, 0, b"MSCF\x00\x00\x00\x00") {
        return Kind::Cab;
    }
    if at(data, 2, b"-lh") && data.get(6) == Some(&b'-') {
        return Kind::Lzh;
    }
    if at(data, 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Kind::Ole;
    }
    if at(data, 0, b"MZ") {
        return Kind::Pe;
    }
    if at(data, 0, b"\x7fELF") {
        return Kind::Elf;
    }
    if at(data, 0, b"\xfe\xed\xfa\xce")
        || at(data, 0, b"\xfe\xed\xfa\xcf")
        || at(data, 0, b"\xce\xfa\xed\xfe")
        || at(data, 0, b"\xcf\xfa\xed\xfe")
    {
        return Kind::MachO;
    }
    if at(data, 0, b"\x4c\x00\x00\x00\x01\x14\x02\x00") {
        return Kind::Lnk;
    }
    for offset in [0x8001, 0x8801, 0x9001] {
        if at(data, offset, b"CD001") || at(data, offset, b"BEA01") || at(data, offset, b"NSR02") {
            return Kind::Iso;
        }
    }
    if at(data, 0, b"conectix") || (data.len() >= 512 && at(data, data.len() - 512, b"conectix")) {
        return Kind::Vhd;
    }
    if at(data, 0, b"vhdxfile") {
        return Kind::Vhdx;
    }
    if data.len() >= 512 && at(data, data.len() - 512, b"koly") {
        return Kind::Dmg;
    }
    if at(data, 0, b"\x89PNG") {
        return Kind::Png;
    }
    if at(data, 0, b"\xff\xd8\xff") {
        return Kind::Jpeg;
    }
    if at(data, 0, b"GIF8") {
        return Kind::Gif;
    }
    if at(data, 0, b"{\\rtf") {
        return Kind::Rtf;
    }
    let head = &data[..data.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Kind::Pdf;
    }
    if head.contains(&0) {
        // UTF-16 text has NULs too; treat it as text when it starts with a BOM.
        if at(data, 0, b"\xff\xfe") || at(data, 0, b"\xfe\xff") {
            return Kind::Text;
        }
        return Kind::Unknown;
    }
    let lower: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == 0xef || **b == 0xbb || **b == 0xbf)
        .take(512)
        .map(u8::to_ascii_lowercase)
        .collect();
    for tag in [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<body",
        b"<script",
        b"<meta",
        b"<iframe",
        b"<!--",
    ] {
        if lower.starts_with(tag) {
            return Kind::Html;
        }
    }
    if lower.starts_with(b"<svg")
        || (lower.starts_with(b"<?xml") && find(&lower, b"<svg").is_some())
    {
        return Kind::Svg;
    }
    if looks_like_mail(head) {
        return Kind::Mail;
    }
    let printable = head
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace() || **b >= 0x80)
        .count();
    if !head.is_empty() && printable * 100 >= head.len() * 95 {
        return Kind::Text;
    }
    Kind::Unknown
}

fn looks_like_mail(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let headers = [
        "from:",
        "received:",
        "return-path:",
        "message-id:",
        "mime-version:",
    ];
    text.lines()
        .take(20)
        .filter(|l| headers.iter().any(|h| l.starts_with(h)))
        .count()
        >= 2
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last extension of a file name, lower-cased, without trailing dots or spaces
/// (Windows ignores those, attackers pad with them).
pub fn extension(name: &str) -> Option<String> {
    let name = name.trim_end_matches(['.', ' ', '\u{3000}']);
    let leaf = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (_, ext) = leaf.rsplit_once('.')?;
    let ext = ext.trim().to_lowercase();
    if ext.is_empty() || ext.len() > 12 {
        None
    } else {
        Some(ext)
    }
}

/// Extensions of Windows, macOS and Linux programs (and installers).
pub const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "cpl",
    "msi",
    "msp",
    "mst",
    "dll",
    "ocx",
    "sys",
    "jar",
    "app",
    "appx",
    "appxbundle",
    "msix",
    "msixbundle",
    "xll",
    "gadget",
    "application",
    "apk",
    "elf",
    "bin",
    "run",
    "deb",
    "rpm",
    "pkg",
];

/// Extensions that Windows runs through a script host or treats as code.
pub const SCRIPT_EXTENSIONS: &[&str] = &[
    "js",
    "jse",
    "vbs",
    "vbe",
    "wsf",
    "wsh",
    "wsc",
    "ps1",
    "psm1",
    "psd1",
    "bat",
    "cmd",
    "hta",
    "sct",
    "vb",
    "reg",
    "inf",
    "chm",
    "one",
    "iqy",
    "slk",
    "url",
    "settingcontent-ms",
    "scf",
    "msc",
    "mht",
    "mhtml",
    "xsl",
    "py",
    "pyw",
    "sh",
    "applescript",
];

pub const SHORTCUT_EXTENSIONS: &[&str] = &["lnk"];

pub const DISK_IMAGE_EXTENSIONS: &[&str] = &["iso", "img", "vhd", "vhdx", "dmg", "udf"];

pub const ARCHIVE_EXTENSIONS: &[&str] = &[
    "zip", "zipx", "rar", "7z", "gz", "tgz", "bz2", "xz", "cab", "lzh", "lha", "tar", "ace", "arj",
    "z", "r00", "r01", "001",
];

/// Extensions people open without a second thought: the decoy half of a double extension.
pub const DOCUMENT_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "txt", "csv", "rtf", "jpg",
    "jpeg", "png", "gif", "bmp", "tif", "tiff", "mp3", "mp4", "wav", "avi", "mov", "html", "htm",
    "zip", "jtd",
];

/// The content kinds a file with this extension may have; `None` when the extension says
/// nothing checkable.
pub fn expected_kinds(ext: &str) -> Option<&'static [Kind]> {
    Some(match ext {
        "pdf" => &[Kind::Pdf],
        "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm" | "dotx" | "dotm" | "xltx" | "xltm"
        | "potx" | "potm" | "ppsx" | "ppsm" | "xlam" | "ppam" => &[Kind::Ooxml, Kind::Zip],
        "doc" | "dot" => &[Kind::Ole, Kind::Rtf, Kind::Html, Kind::Text, Kind::Mail],
        "xls" | "xlt" => &[Kind::Ole, Kind::Html, Kind::Text, Kind::Mail],
        "ppt" | "pps" | "pot" => &[Kind::Ole],
        "zip" => &[Kind::Zip, Kind::Ooxml],
        "rar" => &[Kind::Rar],
        "7z" => &[Kind::SevenZip],
        "gz" | "tgz" => &[Kind::Gzip],
        "png" => &[Kind::Png],
        "jpg" | "jpeg" => &[Kind::Jpeg],
        "gif" => &[Kind::Gif],
        "rtf" => &[Kind::Rtf],
        "txt" | "csv" => &[Kind::Text, Kind::Unknown],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_formats_the_checks_need() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Kind::Zip);
        assert_eq!(sniff(b"Rar!\x1a\x07\x01\x00"), Kind::Rar);
        assert_eq!(sniff(b"7z\xbc\xaf\x27\x1c\x00\x04"), Kind::SevenZip);
        assert_eq!(sniff(b"MZ\x90\x00"), Kind::Pe);
        assert_eq!(sniff(b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00"), Kind::Lnk);
        assert_eq!(sniff(b"%PDF-1.7\n"), Kind::Pdf);
        assert_eq!(sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), Kind::Ole);
        assert_eq!(sniff(b"  <!DOCTYPE html><html>"), Kind::Html);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg xmlns="), Kind::Svg);
        assert_eq!(
            sniff("氏名,電話\n山田,03-1234-5678\n".as_bytes()),
            Kind::Text
        );
        let mut iso = vec![0u8; 0x8001 + 5];
        iso[0x8001..].copy_from_slice(b"CD001");
        assert_eq!(sniff(&iso), Kind::Iso);
        assert_eq!(
            sniff(b"From: a@b\r\nMessage-ID: <x@y>\r\n\r\nhi"),
            Kind::Mail
        );
    }

    #[test]
    fn extension_ignores_padding_and_case() {
        assert_eq!(extension("Invoice.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("a.pdf.exe. . ").as_deref(), Some("exe"));
        assert_eq!(extension("dir/file.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("README"), None);
    }
}
