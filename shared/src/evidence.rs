//! Evidence files: their identity (the SHA-256 of the stored bytes), what kinds are accepted,
//! safe names, and the upload protocol's bodies. Client and server both use these, so a file
//! the client prepares is a file the server accepts.
//!
//! The protocol (documented in `docs/evidence.md`):
//! - `GET /api/files`: the limits and the caller's quota ([`FileSettings`]).
//! - `POST /api/uploads` with an [`UploadRequest`]: starts or resumes an upload and answers
//!   with an [`UploadStatus`]. A file the server already has is `complete` at once.
//! - `PATCH /api/uploads/{sha256}` with the header [`UPLOAD_OFFSET`] and the next bytes: the
//!   server keeps what arrives even if the connection drops. The last byte triggers the hash
//!   check; a mismatch is refused and the partial file discarded.
//! - `GET /api/files/{sha256}` and `…/thumbnail`: for users who may read an item that
//!   references the file.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The request header carrying the offset a `PATCH` continues from.
pub const UPLOAD_OFFSET: &str = "upload-offset";

/// Longest side of an image after the device downscales it, unless the server says otherwise.
pub const DEFAULT_IMAGE_MAX_SIDE: u32 = 1600;
/// JPEG quality (0–1) the device re-encodes images with.
pub const DEFAULT_IMAGE_QUALITY: f64 = 0.82;
/// Largest file accepted, unless the server says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// The lowercase hex SHA-256 of `bytes`: a file's identity.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// An incremental SHA-256, for files read in pieces.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish_hex(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Is `s` a SHA-256 in lowercase hex (64 characters)? Anything else is refused before it
/// reaches a path or a query.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The kinds of evidence accepted. The server decides the kind from the bytes, never from
/// the name or the type the client claims, and serves the file with this kind's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Jpeg,
    Png,
    Webp,
    Pdf,
    /// `.docx`, `.xlsx`, `.pptx` (a zip; told apart by the name's extension).
    OfficeOpenXml,
    /// `.doc`, `.xls`, `.ppt` (an OLE compound file).
    OfficeLegacy,
    /// HEIC/HEIF photos (iPhones), which most browsers cannot draw.
    Heic,
}

impl FileKind {
    /// The kind of `bytes`, from their first bytes, or `None` when the kind is not accepted
    /// (HTML, SVG, scripts, executables, anything unknown).
    pub fn sniff(bytes: &[u8]) -> Option<FileKind> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            Some(FileKind::Png)
        } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            Some(FileKind::Webp)
        } else if starts(b"%PDF-") {
            Some(FileKind::Pdf)
        } else if starts(b"PK\x03\x04") {
            Some(FileKind::OfficeOpenXml)
        } else if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            Some(FileKind::OfficeLegacy)
        } else if bytes.get(4..8) == Some(b"ftyp")
            && matches!(
                bytes.get(8..12),
                Some(b"heic" | b"heix" | b"mif1" | b"msf1" | b"heim" | b"heis")
            )
        {
            Some(FileKind::Heic)
        } else {
            None
        }
    }

    /// The `Content-Type` to serve a file of this kind with; `name` picks among the office
    /// formats that share one container.
    pub fn mime(self, name: &str) -> &'static str {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match self {
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
            FileKind::Webp => "image/webp",
            FileKind::Pdf => "application/pdf",
            FileKind::Heic => "image/heic",
            FileKind::OfficeOpenXml => match ext.as_str() {
                "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "pptx" => {
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation"
                }
                _ => "application/zip",
            },
            FileKind::OfficeLegacy => match ext.as_str() {
                "doc" => "application/msword",
                "xls" => "application/vnd.ms-excel",
                "ppt" => "application/vnd.ms-powerpoint",
                _ => "application/octet-stream",
            },
        }
    }

    /// Can a browser draw it (and so the device downscale it, the server thumbnail it)?
    pub fn is_drawable_image(self) -> bool {
        matches!(self, FileKind::Jpeg | FileKind::Png | FileKind::Webp)
    }

    /// May a browser show it inline? Images and PDFs only; everything else is a download.
    pub fn inline(self) -> bool {
        matches!(
            self,
            FileKind::Jpeg | FileKind::Png | FileKind::Webp | FileKind::Pdf
        )
    }
}

/// A file name safe to show and to put in `Content-Disposition`: the last path component,
/// without control characters or leading dots, at most [`MAX_NAME_CHARS`] characters
/// (keeping the extension). Never empty.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let cleaned = if cleaned.chars().count() > MAX_NAME_CHARS {
        let (stem, ext) = match cleaned.rsplit_once('.') {
            Some((stem, ext)) if ext.chars().count() <= 8 => (stem, Some(ext)),
            _ => (cleaned, None),
        };
        let keep = MAX_NAME_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
        let stem: String = stem.chars().take(keep).collect();
        match ext {
            Some(ext) => format!("{stem}.{ext}"),
            None => stem,
        }
    } else {
        cleaned.to_owned()
    };
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

/// The size an image of `width` × `height` is scaled to so that its longest side is at most
/// `max_side` (never enlarged).
pub fn scaled_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side || longest == 0 {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest))
            .max(1) as u32
    };
    (scale(width), scale(height))
}

/// `GET /api/files`: what the server accepts, and how much of the caller's quota is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSettings {
    pub max_file_bytes: u64,
    pub image_max_side: u32,
    pub image_quality: f64,
    pub quota_bytes: u64,
    pub used_bytes: u64,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            image_max_side: DEFAULT_IMAGE_MAX_SIDE,
            image_quality: DEFAULT_IMAGE_QUALITY,
            quota_bytes: 0,
            used_bytes: 0,
        }
    }
}

/// `POST /api/uploads` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRequest {
    pub sha256: String,
    pub size: u64,
    pub name: String,
}

/// The state of an upload: how many bytes the server holds, and whether the file is complete
/// (stored and checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub sha256: String,
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut h = Hasher::default();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish_hex(), sha256_hex(b"abc"));
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex(&sha256_hex(b"").to_uppercase()));
        assert!(!is_sha256_hex("../../etc/passwd"));
    }

    #[test]
    fn sniffing() {
        let cases: &[(&[u8], Option<FileKind>)] = &[
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some(FileKind::Jpeg)),
            (b"\x89PNG\r\n\x1a\n....", Some(FileKind::Png)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(FileKind::Webp)),
            (b"%PDF-1.7\n", Some(FileKind::Pdf)),
            (b"PK\x03\x04\x14\0", Some(FileKind::OfficeOpenXml)),
            (b"\0\0\0\x18ftypheic", Some(FileKind::Heic)),
            (b"<!DOCTYPE html><script>", None),
            (b"<svg xmlns=", None),
            (b"<?xml version", None),
            (b"MZ\x90\0", None),
            (b"", None),
        ];
        for (bytes, kind) in cases {
            assert_eq!(
                FileKind::sniff(bytes),
                *kind,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            FileKind::OfficeOpenXml.mime("台账.XLSX"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(!FileKind::OfficeOpenXml.inline());
    }

    #[test]
    fn safe_names() {
        let cases = [
            ("食堂台账.jpg", "食堂台账.jpg"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\照片.png", "照片.png"),
            (".htaccess", "htaccess"),
            ("a\u{0}b\nc.pdf", "abc.pdf"),
            ("\"><script>.jpg", "script.jpg"),
            ("", "file"),
            ("../", "file"),
            ("..", "file"),
        ];
        for (input, expected) in cases {
            assert_eq!(safe_file_name(input), expected, "{input:?}");
        }
        let long = format!("{}.jpeg", "长".repeat(300));
        let safe = safe_file_name(&long);
        assert_eq!(safe.chars().count(), MAX_NAME_CHARS);
        assert!(safe.ends_with(".jpeg"));
    }

    #[test]
    fn scaling_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(scaled_size(4000, 3000, 1600), (1600, 1200));
        assert_eq!(scaled_size(3000, 4000, 1600), (1200, 1600));
        assert_eq!(scaled_size(800, 600, 1600), (800, 600));
        assert_eq!(scaled_size(10000, 1, 1600), (1600, 1));
        assert_eq!(scaled_size(0, 0, 1600), (0, 0));
    }
}
