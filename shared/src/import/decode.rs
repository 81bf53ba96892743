//! Turning the bytes of an uploaded file into text: UTF-8 (with or without BOM), UTF-16
//! with BOM, otherwise GB18030/GBK, which is what Chinese Windows saves as "ANSI".

use super::ImportError;
use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8};

/// Decodes an uploaded report into text, detecting its encoding.
///
/// A byte-order mark decides (UTF-8, UTF-16LE, UTF-16BE). Without one the bytes must be
/// valid UTF-8, or else valid GB18030 (a superset of GBK and GB2312); nothing is ever
/// replaced by U+FFFD. Files with NUL bytes, bytes that fit neither encoding, or many
/// control characters are rejected as [`ImportError::Binary`]. The empty file decodes to
/// the empty string ([`super::parse`] then reports [`ImportError::Empty`]).
pub fn decode(bytes: &[u8]) -> Result<String, ImportError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with_bom(encoding, bom_len, bytes);
    }
    // Without a BOM the encoding is ASCII-compatible (UTF-8 or GB18030), where bytes below
    // 0x20 are always characters of their own, so the raw bytes can be checked first.
    // Bytes from 0x80 up are parts of multi-byte characters, never control characters.
    let ascii = bytes
        .iter()
        .map(|&b| if b < 0x80 { char::from(b) } else { '\u{fffd}' });
    if let Some(offset) = binary_offset(ascii.enumerate()) {
        return Err(ImportError::Binary { offset });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        // Valid UTF-8 with Chinese text, cut in the middle of its last character: a
        // truncated file, not GB18030 (which would not decode as UTF-8 that far).
        Err(err) if err.error_len().is_none() && !bytes[..err.valid_up_to()].is_ascii() => {
            Err(ImportError::CutCharacter {
                offset: err.valid_up_to(),
            })
        }
        Err(_) => decode_gb18030(bytes),
    }
}

fn decode_with_bom(
    encoding: &'static Encoding,
    bom_len: usize,
    bytes: &[u8],
) -> Result<String, ImportError> {
    let body = &bytes[bom_len..];
    let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(body) else {
        let offset = bom_len + malformed_offset(encoding, body);
        return Err(ImportError::Binary { offset });
    };
    // Byte offsets of the decoded characters in the file, for the error message.
    let unit = if encoding == UTF_8 { None } else { Some(2) };
    let mut position = bom_len;
    let chars = text.chars().map(|c| {
        let at = position;
        position += match unit {
            None => c.len_utf8(),
            Some(width) => width * c.len_utf16(),
        };
        (at, c)
    });
    match binary_offset(chars) {
        Some(offset) => Err(ImportError::Binary { offset }),
        None => Ok(text.into_owned()),
    }
}

fn decode_gb18030(bytes: &[u8]) -> Result<String, ImportError> {
    match GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok(text.into_owned()),
        None => Err(ImportError::Binary {
            offset: malformed_offset(GB18030, bytes),
        }),
    }
}

/// Where the first malformed byte sequence of `bytes` starts in `encoding`.
fn malformed_offset(encoding: &'static Encoding, bytes: &[u8]) -> usize {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut consumed = 0;
    let mut buffer = [0u8; 4096];
    loop {
        let input = &bytes[consumed..];
        let (result, read, _written) =
            decoder.decode_to_utf8_without_replacement(input, &mut buffer, true);
        match result {
            DecoderResult::Malformed(bad, extra) => {
                return (consumed + read).saturating_sub(usize::from(bad) + usize::from(extra));
            }
            DecoderResult::InputEmpty => return bytes.len(),
            // The buffer always has room for a character, so a full buffer means progress.
            DecoderResult::OutputFull if read > 0 => consumed += read,
            DecoderResult::OutputFull => return consumed,
        }
    }
}

/// The offset of the first sign of binary data: a NUL, or the first control character
/// when control characters are more than 1 in 20 of all characters. A few stray control
/// characters in a text file are left to the parser, which drops them with a warning.
fn binary_offset(chars: impl Iterator<Item = (usize, char)>) -> Option<usize> {
    let mut total = 0usize;
    let mut controls = 0usize;
    let mut first_control = None;
    for (offset, c) in chars {
        total += 1;
        if c == '\0' {
            return Some(offset);
        }
        if is_binary_control(c) {
            controls += 1;
            first_control.get_or_insert(offset);
        }
    }
    first_control.filter(|_| controls * 20 > total)
}

/// Control characters that do not occur in text files (tab, line breaks and form feed do).
pub(super) fn is_binary_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')
}
