//! `.docx` (WordprocessingML) in and out.
//!
//! - [`extract_text`] reads the text of an uploaded report, one line per paragraph, for the
//!   importer (`rectify_shared::import::parse`).
//! - [`write_report`] writes the public report as a Word document with the same content, in
//!   the same order, as the text report (`rectify_shared::report::text::build`), so that
//!   `extract_text(write_report(r))` reads back as that text.
//!
//! Uploaded files are untrusted: sizes and entry counts are capped before anything is
//! decompressed, and no input makes these functions panic.

use quick_xml::events::{BytesRef, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use rectify_shared::import::cjk_numeral;
use rectify_shared::report::{Item, PartContent, Report, text};
use std::io::{Cursor, Read, Write};
use zip::ZipArchive;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;

/// The part that holds the document's body.
const DOCUMENT_PART: &str = "word/document.xml";
/// More entries than any real report has: refuse the archive before reading it.
const MAX_ENTRIES: usize = 10_000;
/// Uncompressed size limit of `word/document.xml` (a zip bomb guard). A long report's
/// document part is a few MiB.
const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Far deeper than Word nests elements (tables in tables included); bounds the memory a
/// hostile file can make the reader use.
const MAX_DEPTH: usize = 1_000;

/// The WordprocessingML namespace, transitional and strict.
const W_NAMESPACES: [&str; 2] = [
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
];
/// Markup compatibility: `mc:Fallback` repeats the content of `mc:Choice` (text boxes).
const MC_NAMESPACE: &str = "http://schemas.openxmlformats.org/markup-compatibility/2006";

/// Why a `.docx` file could not be read or written. The messages are for the person who
/// uploaded the file: what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocxError {
    #[error("this is not a .docx file (not a ZIP archive); save the report as .docx or .txt")]
    NotZip,
    #[error(
        "this is an old Word .doc file or a password-protected document, not a .docx: \
         open it in Word or WPS and save it as .docx (without a password) or as .txt"
    )]
    LegacyDoc,
    #[error(
        "the .docx file is damaged ({detail}): open it in Word or WPS and save it again, \
         or save the report as .txt"
    )]
    Damaged { detail: String },
    #[error(
        "the file has no word/document.xml, so it is not a Word document; it may be an old \
         .doc file renamed to .docx: open it in Word or WPS and save it as .docx"
    )]
    NoDocument,
    #[error(
        "the .docx file has {entries} parts, more than the {max} a report can have: \
         save the report as .txt and import that"
    )]
    TooManyEntries { entries: usize, max: usize },
    #[error(
        "the document's text is larger than {max_mib} MiB uncompressed, far more than a report: \
         check that this is the right file, or save the report as .txt"
    )]
    TooLarge { max_mib: u64 },
    #[error(
        "word/document.xml is not valid XML at line {line}, column {column} (byte {offset}): \
         {detail}; open the file in Word or WPS and save it again"
    )]
    MalformedXml {
        offset: u64,
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("could not write the .docx file: {detail}")]
    Write { detail: String },
}

impl DocxError {
    /// The same message in Chinese, for the office (the English is the `Display`).
    pub fn in_chinese(&self) -> String {
        match self {
            DocxError::NotZip => {
                "这不是 .docx 文件（不是 ZIP 压缩包）：请把报告另存为 .docx 或 .txt".to_owned()
            }
            DocxError::LegacyDoc => "这是旧版 Word .doc 文件或加了密码的文档，不是 .docx：\
                 请用 Word 或 WPS 打开，另存为 .docx（不设密码）或 .txt"
                .to_owned(),
            DocxError::Damaged { detail } => format!(
                "这个 .docx 文件已损坏（{detail}）：请用 Word 或 WPS 打开后重新保存，或把报告另存为 .txt"
            ),
            DocxError::NoDocument => "文件中没有 word/document.xml，所以不是 Word 文档；\
                 可能是改了扩展名的旧版 .doc 文件：请用 Word 或 WPS 打开，另存为 .docx"
                .to_owned(),
            DocxError::TooManyEntries { entries, max } => format!(
                "这个 .docx 文件有{entries}个部件，超过报告最多的{max}个：请把报告另存为 .txt 再导入"
            ),
            DocxError::TooLarge { max_mib } => format!(
                "文档解压后的文字超过{max_mib} MiB，远大于一份报告：请确认是否选对了文件，或把报告另存为 .txt"
            ),
            DocxError::MalformedXml {
                line,
                column,
                detail,
                ..
            } => format!(
                "word/document.xml 在第{line}行第{column}列不是有效的 XML（{detail}）：\
                 请用 Word 或 WPS 打开后重新保存"
            ),
            DocxError::Write { detail } => format!("无法写出 .docx 文件：{detail}"),
        }
    }
}

/// The text of a `.docx` file: one line per paragraph (`w:p`), table cells included.
///
/// Text runs (`w:t`) are concatenated, `w:tab` becomes `\t`, `w:br`/`w:cr` a line break.
/// Deleted text (`w:delText`), field instructions (`w:instrText`) and the fallback copy of
/// text boxes (`mc:Fallback`) are left out. Every line ends with `\n`.
pub fn extract_text(bytes: &[u8]) -> Result<String, DocxError> {
    extract_text_limited(bytes, MAX_DOCUMENT_BYTES)
}

fn extract_text_limited(bytes: &[u8], max_document_bytes: u64) -> Result<String, DocxError> {
    let xml = read_document_part(bytes, max_document_bytes)?;
    paragraphs_text(&decode_xml(&xml)?)
}

/// Reads `word/document.xml`, refusing archives that are too big to be a report.
fn read_document_part(bytes: &[u8], max_bytes: u64) -> Result<Vec<u8>, DocxError> {
    // An OLE compound file: a .doc, or a .docx encrypted with a password.
    const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if bytes.starts_with(OLE_MAGIC) {
        return Err(DocxError::LegacyDoc);
    }
    if !bytes.starts_with(b"PK") {
        return Err(DocxError::NotZip);
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|error| match error {
        ZipError::InvalidArchive(_) => DocxError::NotZip,
        other => damaged(&other),
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(DocxError::TooManyEntries {
            entries: archive.len(),
            max: MAX_ENTRIES,
        });
    }
    let too_large = DocxError::TooLarge {
        max_mib: max_bytes.div_ceil(1024 * 1024),
    };
    let part = match archive.by_name(DOCUMENT_PART) {
        Ok(part) => part,
        Err(ZipError::FileNotFound) => return Err(DocxError::NoDocument),
        Err(error) => return Err(damaged(&error)),
    };
    // The declared size can lie: check it, then also stop reading past the limit.
    if part.size() > max_bytes {
        return Err(too_large);
    }
    let capacity = usize::try_from(part.size()).unwrap_or(0);
    let mut xml = Vec::with_capacity(capacity);
    part.take(max_bytes + 1)
        .read_to_end(&mut xml)
        .map_err(|error| damaged(&error))?;
    if xml.len() as u64 > max_bytes {
        return Err(too_large);
    }
    Ok(xml)
}

fn damaged(error: &dyn std::error::Error) -> DocxError {
    DocxError::Damaged {
        detail: error.to_string(),
    }
}

/// The XML as a string: UTF-8 (Word's choice, with or without a byte-order mark), or
/// UTF-16 with a byte-order mark.
fn decode_xml(xml: &[u8]) -> Result<String, DocxError> {
    match xml {
        [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, u16::from_be_bytes),
        _ => {
            let body = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
            std::str::from_utf8(body)
                .map(str::to_owned)
                .map_err(|error| {
                    let valid =
                        std::str::from_utf8(&body[..error.valid_up_to()]).unwrap_or_default();
                    let detail = "the text is not valid UTF-8".to_owned();
                    malformed(valid, error.valid_up_to() as u64, detail)
                })
        }
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, DocxError> {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut out = String::with_capacity(bytes.len());
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => out.push(c),
            Err(_) => {
                let detail = "the text is not valid UTF-16".to_owned();
                return Err(malformed(&out, out.len() as u64, detail));
            }
        }
    }
    Ok(out)
}

/// The elements that matter for the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Paragraph,
    Run,
    Text,
    Tab,
    Break,
    NoBreakHyphen,
    Fallback,
    Other,
}

impl Tag {
    fn of(namespace: &ResolveResult<'_>, local_name: &str) -> Tag {
        match namespace {
            ResolveResult::Bound(Namespace(uri)) if W_NAMESPACES.contains(uri) => {
                match local_name {
                    "p" => Tag::Paragraph,
                    "r" => Tag::Run,
                    "t" => Tag::Text,
                    "tab" | "ptab" => Tag::Tab,
                    "br" | "cr" => Tag::Break,
                    "noBreakHyphen" => Tag::NoBreakHyphen,
                    _ => Tag::Other,
                }
            }
            ResolveResult::Bound(Namespace(uri)) if *uri == MC_NAMESPACE => match local_name {
                "Fallback" => Tag::Fallback,
                _ => Tag::Other,
            },
            _ => Tag::Other,
        }
    }
}

/// Walks the document XML and collects the paragraphs' text.
struct TextCollector {
    out: String,
    /// Paragraphs being read: more than one when a text box sits inside a paragraph.
    paragraphs: Vec<String>,
    /// Depth of open elements, of open runs, and inside `w:t`.
    depth: usize,
    runs: usize,
    in_text: bool,
    /// Set while inside `mc:Fallback`: the depth at which it opened.
    skip_from: Option<usize>,
}

impl TextCollector {
    fn start(&mut self, tag: Tag) {
        self.depth += 1;
        if self.skip_from.is_some() {
            return;
        }
        match tag {
            Tag::Paragraph => self.paragraphs.push(String::new()),
            Tag::Run => self.runs += 1,
            Tag::Text => self.in_text = true,
            Tag::Fallback => self.skip_from = Some(self.depth),
            Tag::Tab | Tag::Break | Tag::NoBreakHyphen => self.empty(tag),
            Tag::Other => {}
        }
    }

    fn end(&mut self, tag: Tag) {
        if self.skip_from == Some(self.depth) {
            self.skip_from = None;
        } else if self.skip_from.is_none() {
            match tag {
                Tag::Paragraph => self.end_paragraph(),
                Tag::Run => self.runs = self.runs.saturating_sub(1),
                Tag::Text => self.in_text = false,
                _ => {}
            }
        }
        self.depth = self.depth.saturating_sub(1);
    }

    /// An empty element `<w:tab/>`; also the start of a non-empty one.
    fn empty(&mut self, tag: Tag) {
        if self.skip_from.is_some() {
            return;
        }
        // `w:tab` also defines tab stops in paragraph properties: only a run's is a tab.
        let in_run = self.runs > 0;
        match tag {
            Tag::Paragraph => self.out.push('\n'),
            Tag::Tab if in_run => self.push("\t"),
            Tag::Break if in_run => self.push("\n"),
            Tag::NoBreakHyphen if in_run => self.push("-"),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_text && self.skip_from.is_none() {
            self.push(text);
        }
    }

    fn push(&mut self, text: &str) {
        if let Some(paragraph) = self.paragraphs.last_mut() {
            paragraph.push_str(text);
        }
    }

    fn end_paragraph(&mut self) {
        if let Some(paragraph) = self.paragraphs.pop() {
            self.out.push_str(&paragraph);
            self.out.push('\n');
        }
    }
}

fn paragraphs_text(xml: &str) -> Result<String, DocxError> {
    let mut reader = NsReader::from_str(xml);
    let mut collector = TextCollector {
        out: String::new(),
        paragraphs: Vec::new(),
        depth: 0,
        runs: 0,
        in_text: false,
        skip_from: None,
    };
    let mut seen_root = false;
    loop {
        let event = match reader.read_resolved_event() {
            Ok((namespace, event)) => {
                let tag = match &event {
                    Event::Start(e) | Event::Empty(e) => {
                        Tag::of(&namespace, e.local_name().as_ref())
                    }
                    Event::End(e) => Tag::of(&namespace, e.local_name().as_ref()),
                    _ => Tag::Other,
                };
                (tag, event)
            }
            Err(error) => {
                return Err(malformed(xml, reader.error_position(), error.to_string()));
            }
        };
        match event {
            (tag, Event::Start(_)) => {
                seen_root = true;
                collector.start(tag);
                if collector.depth > MAX_DEPTH {
                    let detail = format!("elements are nested more than {MAX_DEPTH} deep");
                    return Err(malformed(xml, reader.buffer_position(), detail));
                }
            }
            (tag, Event::Empty(_)) => {
                seen_root = true;
                collector.empty(tag);
            }
            (tag, Event::End(_)) => collector.end(tag),
            (_, Event::Text(text)) => collector.text(&text.xml10_content()),
            (_, Event::CData(data)) => collector.text(&data.xml10_content()),
            (_, Event::GeneralRef(reference)) if collector.in_text => {
                let resolved = resolve_reference(&reference)
                    .map_err(|detail| malformed(xml, reader.buffer_position(), detail))?;
                collector.text(&resolved);
            }
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(malformed(xml, 0, "there is no XML element".to_owned()));
    }
    if collector.depth > 0 {
        let detail = "the XML ends before its elements are closed (the file is cut off)";
        return Err(malformed(xml, xml.len() as u64, detail.to_owned()));
    }
    Ok(collector.out)
}

/// `&amp;`, `&#x4E00;` and the other predefined references.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, String> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => quick_xml::escape::resolve_predefined_entity(reference)
            .map(str::to_owned)
            .ok_or_else(|| format!("unknown entity '&{};'", &**reference)),
        Err(error) => Err(error.to_string()),
    }
}

/// A [`DocxError::MalformedXml`] at a byte offset of `xml`, with its line and column.
fn malformed(xml: &str, offset: u64, detail: String) -> DocxError {
    let end = usize::try_from(offset).map_or(xml.len(), |offset| offset.min(xml.len()));
    let before = &xml.as_bytes()[..end];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters, not bytes: a UTF-8 continuation byte is 0b10xx_xxxx.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    DocxError::MalformedXml {
        offset,
        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
        column,
        detail,
    }
}

/// Writes the public report as a `.docx`: an optional `title` (centred, in the style of a
/// document title such as `…关于巡察整改情况的通报`, which the importer recognises as one),
/// the opening paragraph, the parts in order (`Report::parts_in_order`: 一 as text, 二 with
/// every area, problem and item and the closing summary of the totals, 三, 四), and the
/// publisher's signature and the date, right-aligned.
///
/// The text is the text report's, paragraph for paragraph; the layout follows the
/// convention for government documents: A4, 仿宋_GB2312 三号 (16 pt) body with a
/// two-character first-line indent, 方正小标宋简体 title, 黑体 and 楷体_GB2312 headings.
/// The output is deterministic: the same report gives the same bytes.
pub fn write_report(report: &Report, title: Option<&str>) -> Result<Vec<u8>, DocxError> {
    let title = title.filter(|title| !title.trim().is_empty());
    let parts: [(&str, String); 7] = [
        ("[Content_Types].xml", CONTENT_TYPES.to_owned()),
        ("_rels/.rels", PACKAGE_RELS.to_owned()),
        ("docProps/core.xml", core_properties(report, title)),
        ("docProps/app.xml", app_properties(report)),
        ("word/document.xml", document_xml(report, title)),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS.to_owned()),
        ("word/styles.xml", STYLES.to_owned()),
    ];
    package(&parts).map_err(|error| DocxError::Write {
        detail: error.to_string(),
    })
}

fn package(parts: &[(&str, String)]) -> zip::result::ZipResult<Vec<u8>> {
    // A fixed timestamp (1980-01-01, the earliest a zip can hold) keeps the output
    // deterministic.
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in parts {
        zip.start_file(*name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Paragraph styles, defined in [`STYLES`].
#[derive(Debug, Clone, Copy)]
enum Style {
    Title,
    /// The section heading 二、…
    Heading1,
    /// An area (一)…
    Heading2,
    /// A problem 1.…
    Heading3,
    /// A sub-problem (1)…
    Heading4,
    Normal,
    Signature,
}

impl Style {
    fn id(self) -> Option<&'static str> {
        match self {
            Style::Title => Some("Title"),
            Style::Heading1 => Some("Heading1"),
            Style::Heading2 => Some("Heading2"),
            Style::Heading3 => Some("Heading3"),
            Style::Heading4 => Some("Heading4"),
            Style::Normal => None,
            Style::Signature => Some("Signature"),
        }
    }
}

/// The body of `word/document.xml`, built paragraph by paragraph.
#[derive(Default)]
struct Body {
    xml: String,
}

impl Body {
    /// A paragraph: an optional bold label (`整改情况:`), then the text.
    fn paragraph(&mut self, style: Style, label: Option<&str>, text: &str) {
        self.xml.push_str("<w:p>");
        if let Some(id) = style.id() {
            self.xml.push_str("<w:pPr><w:pStyle w:val=\"");
            self.xml.push_str(id);
            self.xml.push_str("\"/></w:pPr>");
        }
        if let Some(label) = label {
            self.xml.push_str("<w:r><w:rPr><w:b/></w:rPr>");
            push_run_content(&mut self.xml, label);
            self.xml.push_str("</w:r>");
        }
        if !text.is_empty() {
            self.xml.push_str("<w:r>");
            push_run_content(&mut self.xml, text);
            self.xml.push_str("</w:r>");
        }
        self.xml.push_str("</w:p>");
    }

    /// One paragraph per line of `text`, the label before the first: a multi-line
    /// narrative reads back as the same lines.
    fn paragraphs(&mut self, style: Style, label: Option<&str>, text: &str) {
        let mut lines = lines(text);
        self.paragraph(style, label, lines.next().unwrap_or_default());
        for line in lines {
            self.paragraph(style, None, line);
        }
    }
}

/// A run's content: text in `w:t`, tabs as `w:tab`, line breaks as `w:br`.
fn push_run_content(out: &mut String, text: &str) {
    for (i, line) in lines(text).enumerate() {
        if i > 0 {
            out.push_str("<w:br/>");
        }
        for (j, piece) in line.split('\t').enumerate() {
            if j > 0 {
                out.push_str("<w:tab/>");
            }
            if !piece.is_empty() {
                out.push_str("<w:t xml:space=\"preserve\">");
                push_escaped(out, piece);
                out.push_str("</w:t>");
            }
        }
    }
}

/// The lines of `text`, whichever the line ends (CRLF, LF, CR).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split("\r\n").flat_map(|line| line.split(['\r', '\n']))
}

/// Escapes text for XML content and attributes, and drops characters XML 1.0 cannot hold
/// (control characters other than tab and line feed): Word refuses a file with them. A
/// carriage return is dropped too, as XML would read it as a line feed.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            _ => out.push(c),
        }
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn document_xml(report: &Report, title: Option<&str>) -> String {
    let mut body = Body::default();
    if let Some(title) = title {
        body.paragraphs(Style::Title, None, title);
    }
    for line in text::text_lines(&text::opening(&report.campaign)) {
        body.paragraph(Style::Normal, None, line);
    }
    for part in report.parts_in_order() {
        body.paragraph(Style::Heading1, None, &text::part_heading(&part));
        match part.content {
            PartContent::Text(text) => {
                for line in text::text_lines(text) {
                    body.paragraph(Style::Normal, None, line);
                }
            }
            PartContent::Items => {
                items_xml(&mut body, report);
                body.paragraph(Style::Normal, None, &text::summary(&report.totals()));
            }
        }
    }
    if let Some(publisher) = &report.campaign.publisher {
        body.paragraphs(Style::Signature, None, publisher);
    }
    if let Some(published) = report.campaign.published {
        body.paragraph(Style::Signature, None, &text::date(published));
    }
    format!(
        "{XML_DECLARATION}<w:document xmlns:w=\"{w}\"><w:body>{body}{SECTION_PROPERTIES}</w:body></w:document>",
        w = W_NAMESPACES[0],
        body = body.xml,
    )
}

/// Part 二: every area, problem and item.
fn items_xml(body: &mut Body, report: &Report) {
    for area in &report.areas {
        let heading = format!("({}){}", cjk_numeral(area.number), area.title);
        body.paragraph(Style::Heading2, None, &heading);
        for problem in &area.problems {
            let heading = format!("{}.{}", problem.number, problem.title);
            body.paragraph(Style::Heading3, None, &heading);
            for item in &problem.items {
                if let Some(sub) = item.sub {
                    body.paragraph(Style::Heading4, None, &format!("({sub}){}", item.title));
                }
                body.paragraphs(Style::Normal, Some("整改情况:"), &narrative(item));
                let status = format!("{}。", item.status.wording());
                body.paragraph(Style::Normal, Some("整改进度:"), &status);
            }
        }
    }
}

/// The narrative as the text report writes it: an empty one made of the measures.
fn narrative(item: &Item) -> String {
    if !item.narrative.is_empty() || item.measures.is_empty() {
        return item.narrative.clone();
    }
    item.measures
        .iter()
        .zip(1..)
        .map(|(measure, i)| format!("{}是{measure}", cjk_numeral(i)))
        .collect::<Vec<_>>()
        .join("；")
}

fn core_properties(report: &Report, title: Option<&str>) -> String {
    let title = title.unwrap_or("巡察整改情况");
    let creator = report.campaign.publisher.as_deref().unwrap_or("Rectify");
    format!(
        "{XML_DECLARATION}<cp:coreProperties \
         xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:title>{title}</dc:title><dc:creator>{creator}</dc:creator>\
         <cp:lastModifiedBy>Rectify</cp:lastModifiedBy><dc:language>zh-CN</dc:language>\
         </cp:coreProperties>",
        title = escaped(title),
        creator = escaped(creator),
    )
}

fn app_properties(report: &Report) -> String {
    let company = report
        .campaign
        .publisher
        .as_deref()
        .map(|publisher| format!("<Company>{}</Company>", escaped(publisher)))
        .unwrap_or_default();
    format!(
        "{XML_DECLARATION}<Properties \
         xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\">\
         <Application>Rectify</Application>{company}</Properties>"
    )
}

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

const CONTENT_TYPES: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
    "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>",
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
    "<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>",
    "<Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>",
    "<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>",
    "<Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/>",
    "</Types>",
);

const PACKAGE_RELS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>",
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>",
    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties\" Target=\"docProps/app.xml\"/>",
    "</Relationships>",
);

const DOCUMENT_RELS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>",
    "</Relationships>",
);

/// A4 portrait with the margins of GB/T 9704 (top 37 mm, bottom 35 mm, left 28 mm,
/// right 26 mm), in twentieths of a point.
const SECTION_PROPERTIES: &str = concat!(
    "<w:sectPr>",
    "<w:pgSz w:w=\"11906\" w:h=\"16838\"/>",
    "<w:pgMar w:top=\"2098\" w:right=\"1474\" w:bottom=\"1984\" w:left=\"1587\" ",
    "w:header=\"851\" w:footer=\"992\" w:gutter=\"0\"/>",
    "</w:sectPr>",
);

/// Fonts and sizes of government documents: body 仿宋_GB2312 三号 (16 pt, `w:sz` is in
/// half-points) on a fixed 28 pt line, first line indented by two characters; the title
/// 方正小标宋简体 二号; headings 黑体, 楷体_GB2312, then 仿宋 (bold for problems).
/// Latin text uses Times New Roman. Word substitutes fonts that are not installed.
/// Word rejects children out of the schema's order: in `w:pPr` it is spacing, ind, jc,
/// outlineLvl; in `w:rPr` rFonts, b, sz, lang.
const STYLES: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">",
    "<w:docDefaults>",
    "<w:rPrDefault><w:rPr>",
    "<w:rFonts w:ascii=\"Times New Roman\" w:hAnsi=\"Times New Roman\" w:eastAsia=\"仿宋_GB2312\" w:cs=\"Times New Roman\"/>",
    "<w:sz w:val=\"32\"/><w:szCs w:val=\"32\"/>",
    "<w:lang w:val=\"en-US\" w:eastAsia=\"zh-CN\"/>",
    "</w:rPr></w:rPrDefault>",
    "<w:pPrDefault><w:pPr><w:spacing w:before=\"0\" w:after=\"0\" w:line=\"560\" w:lineRule=\"exact\"/></w:pPr></w:pPrDefault>",
    "</w:docDefaults>",
    // Normal: justified, first line indented by two characters.
    "<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\">",
    "<w:name w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:ind w:firstLineChars=\"200\" w:firstLine=\"640\"/><w:jc w:val=\"both\"/></w:pPr>",
    "</w:style>",
    "<w:style w:type=\"paragraph\" w:styleId=\"Title\">",
    "<w:name w:val=\"Title\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:spacing w:after=\"560\" w:line=\"700\" w:lineRule=\"exact\"/>",
    "<w:ind w:firstLineChars=\"0\" w:firstLine=\"0\"/><w:jc w:val=\"center\"/></w:pPr>",
    "<w:rPr><w:rFonts w:eastAsia=\"方正小标宋简体\"/><w:sz w:val=\"44\"/><w:szCs w:val=\"44\"/></w:rPr>",
    "</w:style>",
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading1\">",
    "<w:name w:val=\"heading 1\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:keepNext/><w:outlineLvl w:val=\"0\"/></w:pPr>",
    "<w:rPr><w:rFonts w:eastAsia=\"黑体\"/></w:rPr>",
    "</w:style>",
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading2\">",
    "<w:name w:val=\"heading 2\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:keepNext/><w:outlineLvl w:val=\"1\"/></w:pPr>",
    "<w:rPr><w:rFonts w:eastAsia=\"楷体_GB2312\"/></w:rPr>",
    "</w:style>",
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading3\">",
    "<w:name w:val=\"heading 3\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:keepNext/><w:outlineLvl w:val=\"2\"/></w:pPr>",
    "<w:rPr><w:b/><w:bCs/></w:rPr>",
    "</w:style>",
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading4\">",
    "<w:name w:val=\"heading 4\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
    "<w:pPr><w:keepNext/><w:outlineLvl w:val=\"3\"/></w:pPr>",
    "</w:style>",
    // The publisher's signature: right-aligned, a blank line's space above it.
    "<w:style w:type=\"paragraph\" w:styleId=\"Signature\">",
    "<w:name w:val=\"Signature\"/><w:basedOn w:val=\"Normal\"/>",
    "<w:pPr><w:spacing w:before=\"560\"/><w:ind w:firstLineChars=\"0\" w:firstLine=\"0\"/><w:jc w:val=\"right\"/></w:pPr>",
    "</w:style>",
    "</w:styles>",
);

#[cfg(test)]
mod tests {
    use super::*;
    use rectify_shared::date::Date;
    use rectify_shared::import;
    use rectify_shared::report::{Area, CampaignHeader, Parts, Problem};
    use rectify_shared::status::PublicStatus;
    use zip::ZipWriter;

    const REAL_REPORT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/tests/data/pengshan-2024.txt"
    ));

    fn item(sub: Option<u32>, title: &str, narrative: &str, status: PublicStatus) -> Item {
        Item {
            sub,
            title: title.to_owned(),
            narrative: narrative.to_owned(),
            status,
            status_wording: None,
            measures: Vec::new(),
            document_numbers: Vec::new(),
            dates: Vec::new(),
        }
    }

    /// Two areas; a problem with sub-problems and one without; markup characters, a tab,
    /// a multi-line narrative and one made of measures; the opening built from the header.
    fn sample_report() -> Report {
        let mut from_measures = item(None, "食堂管理不规范。", "", PublicStatus::InProgress);
        from_measures.measures = vec!["建立制度".to_owned(), "定期检查".to_owned()];
        Report {
            campaign: CampaignHeader {
                inspector: Some("区委第三巡察组".to_owned()),
                inspected: Some("区教体局党委".to_owned()),
                inspection_start: Date::new(2023, 4, 13),
                inspection_end: Date::new(2023, 6, 2),
                feedback_date: Date::new(2023, 9, 14),
                publisher: Some("中共眉山市彭山区教育和体育局委员会".to_owned()),
                preamble: String::new(),
                title: None,
                published: None,
            },
            parts: Parts::default(),
            areas: vec![
                Area {
                    number: 1,
                    title: "聚焦<党中央> & \"决策\" '部署'方面".to_owned(),
                    problems: vec![Problem {
                        number: 1,
                        title: "落实党组织领导的校长负责制不够及时。".to_owned(),
                        items: vec![
                            item(
                                Some(1),
                                "专职党组织负责人未及时配置。",
                                "一是已下发批复。\n二是\t已配备书记<&>。",
                                PublicStatus::Done,
                            ),
                            item(
                                Some(2),
                                "学校党组织领导作用发挥不到位。",
                                "已举办培训班。",
                                PublicStatus::DoneLongTerm,
                            ),
                        ],
                    }],
                },
                Area {
                    number: 12,
                    title: "聚焦群众身边方面".to_owned(),
                    problems: vec![Problem {
                        number: 3,
                        title: "食堂管理不规范。".to_owned(),
                        items: vec![from_measures],
                    }],
                },
            ],
        }
    }

    const SAMPLE_LINES: &[&str] = &[
        "2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。2023年9月14日,巡察组向区教体局党委反馈了巡察意见。现将巡察整改情况予以公布。",
        "一、整改工作具体落实情况",
        "(一)聚焦<党中央> & \"决策\" '部署'方面",
        "1.落实党组织领导的校长负责制不够及时。",
        "(1)专职党组织负责人未及时配置。",
        "整改情况:一是已下发批复。",
        "二是\t已配备书记<&>。",
        "整改进度:整改完成。",
        "(2)学校党组织领导作用发挥不到位。",
        "整改情况:已举办培训班。",
        "整改进度:整改完成，长期坚持。",
        "(十二)聚焦群众身边方面",
        "3.食堂管理不规范。",
        "整改情况:一是建立制度；二是定期检查",
        "整改进度:正在整改中。",
        "截至目前,共反馈问题2个,细化为整改事项3项,已整改完成2项(其中整改完成1项,整改完成，长期坚持1项),正在整改中1项,完成率66.7%。",
        "中共眉山市彭山区教育和体育局委员会",
    ];

    /// Compares line by line, so that a failure names the first line that differs.
    fn assert_lines(actual: &str, expected: &[&str]) {
        let actual: Vec<&str> = actual.lines().collect();
        for (i, (got, want)) in actual.iter().zip(expected).enumerate() {
            assert_eq!(got, want, "line {}", i + 1);
        }
        assert_eq!(actual.len(), expected.len(), "number of lines: {actual:#?}");
    }

    fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in parts {
            zip.start_file(*name, options).expect("start file");
            zip.write_all(content).expect("write file");
        }
        zip.finish().expect("finish zip").into_inner()
    }

    fn docx_of(document_xml: &str) -> Vec<u8> {
        zip_of(&[(DOCUMENT_PART, document_xml.as_bytes())])
    }

    fn document(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <w:document xmlns:w=\"{}\" xmlns:mc=\"{MC_NAMESPACE}\"><w:body>{body}<w:sectPr/></w:body></w:document>",
            W_NAMESPACES[0]
        )
    }

    #[test]
    fn written_report_reads_back_line_by_line() {
        let report = sample_report();
        let docx = write_report(&report, None).expect("write");
        let text = extract_text(&docx).expect("extract");
        assert_lines(&text, SAMPLE_LINES);
        assert_eq!(
            text,
            text::build(&report),
            "the same text as the text report"
        );
    }

    #[test]
    fn title_comes_first_and_is_escaped() {
        let report = sample_report();
        let title = "中共眉山市彭山区教育和体育局委员会关于<巡察> & \"整改\" '情况'的通报";
        let docx = write_report(&report, Some(title)).expect("write");
        let text = extract_text(&docx).expect("extract");
        let mut expected = vec![title];
        expected.extend_from_slice(SAMPLE_LINES);
        assert_lines(&text, &expected);
        // A blank title is no title.
        let docx = write_report(&report, Some("  ")).expect("write");
        assert_lines(&extract_text(&docx).expect("extract"), SAMPLE_LINES);
    }

    #[test]
    fn stored_preamble_is_used_verbatim_and_control_characters_are_dropped() {
        let mut report = sample_report();
        report.campaign.preamble = "根据区委统一部署,巡察组进行了巡察。".to_owned();
        report.areas[0].title = "聚焦\u{1}落实\u{b}方面\r".to_owned();
        let docx = write_report(&report, None).expect("write");
        let text = extract_text(&docx).expect("extract");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "根据区委统一部署,巡察组进行了巡察。");
        assert_eq!(lines[2], "(一)聚焦落实方面");
    }

    #[test]
    fn output_is_deterministic() {
        let report = sample_report();
        let first = write_report(&report, Some("标题")).expect("write");
        let second = write_report(&report, Some("标题")).expect("write");
        assert_eq!(first, second);
    }

    /// Without LibreOffice at hand: every part the package names exists, every part has a
    /// content type, and every XML part is well-formed.
    #[test]
    fn package_is_complete_and_well_formed() {
        let docx = write_report(&sample_report(), Some("关于巡察整改情况的通报")).expect("write");
        let mut archive = ZipArchive::new(Cursor::new(&docx[..])).expect("a zip");
        let mut parts = std::collections::BTreeMap::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).expect("entry");
            let mut content = String::new();
            file.read_to_string(&mut content).expect("UTF-8 part");
            parts.insert(file.name().expect("UTF-8 name").into_owned(), content);
        }
        for (name, content) in &parts {
            let mut reader = quick_xml::Reader::from_str(content);
            loop {
                match reader.read_event() {
                    Ok(Event::Eof) => break,
                    Ok(_) => {}
                    Err(error) => panic!("{name} is not well-formed: {error}"),
                }
            }
        }
        let content_types = &parts["[Content_Types].xml"];
        for name in parts.keys().filter(|name| *name != "[Content_Types].xml") {
            let extension = name.rsplit('.').next().unwrap_or_default();
            assert!(
                content_types.contains(&format!("PartName=\"/{name}\""))
                    || content_types.contains(&format!("Extension=\"{extension}\"")),
                "{name} has no content type"
            );
        }
        for override_name in attribute_values(content_types, "PartName") {
            let name = override_name.trim_start_matches('/');
            assert!(
                parts.contains_key(name),
                "[Content_Types] names missing {name}"
            );
        }
        for (rels, base) in [
            ("_rels/.rels", ""),
            ("word/_rels/document.xml.rels", "word/"),
        ] {
            for target in attribute_values(&parts[rels], "Target") {
                let name = format!("{base}{target}");
                assert!(parts.contains_key(&name), "{rels} points to missing {name}");
            }
        }
        assert!(parts["word/document.xml"].contains("w:pStyle w:val=\"Signature\""));
        for style in [
            "Title",
            "Heading1",
            "Heading2",
            "Heading3",
            "Heading4",
            "Signature",
        ] {
            assert!(
                parts["word/styles.xml"].contains(&format!("w:styleId=\"{style}\"")),
                "style {style} is defined"
            );
        }
        assert!(parts["docProps/core.xml"].contains("<dc:title>关于巡察整改情况的通报</dc:title>"));
    }

    fn attribute_values<'a>(xml: &'a str, attribute: &str) -> Vec<&'a str> {
        let marker = format!("{attribute}=\"");
        xml.split(marker.as_str())
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn extracts_runs_tabs_breaks_tables_and_entities() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "runs, a tab, tab stops, entities",
                "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"420\"/></w:tabs></w:pPr>\
                 <w:r><w:t>一、</w:t></w:r><w:r><w:t xml:space=\"preserve\">整改 </w:t></w:r>\
                 <w:r><w:tab/><w:t>A&amp;B &lt;c&gt; &quot;&apos; &#x4E00;&#20108;</w:t></w:r></w:p>",
                "一、整改 \tA&B <c> \"' 一二\n",
            ),
            (
                "line breaks",
                "<w:p><w:r><w:t>before</w:t><w:br/><w:t>after</w:t><w:cr/><w:t>end</w:t></w:r></w:p>",
                "before\nafter\nend\n",
            ),
            (
                "tracked changes",
                "<w:p><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>\
                 <w:ins><w:r><w:t>inserted</w:t></w:r></w:ins></w:p>",
                "inserted\n",
            ),
            (
                "a field: its result, not its instruction",
                "<w:p><w:r><w:fldChar w:fldCharType=\"begin\"/></w:r>\
                 <w:r><w:instrText xml:space=\"preserve\"> PAGE </w:instrText></w:r>\
                 <w:r><w:fldChar w:fldCharType=\"separate\"/></w:r><w:r><w:t>7</w:t></w:r>\
                 <w:r><w:fldChar w:fldCharType=\"end\"/></w:r></w:p>",
                "7\n",
            ),
            ("an empty paragraph", "<w:p/><w:p></w:p>", "\n\n"),
            (
                "a table: one line per cell paragraph",
                "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell 1</w:t></w:r></w:p>\
                 <w:p><w:r><w:t>cell 1b</w:t></w:r></w:p></w:tc>\
                 <w:tc><w:p><w:r><w:t>cell 2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
                "cell 1\ncell 1b\ncell 2\n",
            ),
            (
                "a text box, without its fallback copy",
                "<w:p><w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing><w:txbxContent>\
                 <w:p><w:r><w:t>in a box</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>\
                 <mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>in a box</w:t></w:r></w:p>\
                 </w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r>\
                 <w:r><w:t>outside</w:t></w:r></w:p>",
                "in a box\noutside\n",
            ),
            (
                "CDATA, CRLF inside text, text outside w:t",
                "<w:p><w:r><w:t><![CDATA[a<b]]></w:t><w:t>c\r\nd</w:t></w:r>stray</w:p>",
                "a<bc\nd\n",
            ),
        ];
        for (name, body, expected) in cases {
            let text = extract_text(&docx_of(&document(body)));
            assert_eq!(text.as_deref(), Ok(*expected), "{name}");
        }
    }

    #[test]
    fn namespace_prefixes_do_not_matter() {
        let cases: &[(&str, String)] = &[
            (
                "another prefix",
                format!(
                    "<x:document xmlns:x=\"{}\"><x:body><x:p><x:r><x:t>ok</x:t></x:r></x:p></x:body></x:document>",
                    W_NAMESPACES[0]
                ),
            ),
            (
                "default namespace, strict OOXML",
                format!(
                    "<document xmlns=\"{}\"><body><p><r><t>ok</t></r></p></body></document>",
                    W_NAMESPACES[1]
                ),
            ),
            (
                "UTF-8 byte-order mark",
                format!(
                    "\u{feff}{}",
                    document("<w:p><w:r><w:t>ok</w:t></w:r></w:p>")
                ),
            ),
        ];
        for (name, xml) in cases {
            assert_eq!(extract_text(&docx_of(xml)).as_deref(), Ok("ok\n"), "{name}");
        }
        // Elements of another namespace named like Word's are not text.
        let foreign = "<d xmlns=\"urn:other\"><p><r><t>no</t></r></p></d>";
        assert_eq!(extract_text(&docx_of(foreign)).as_deref(), Ok(""));
        // UTF-16 with a byte-order mark.
        let xml = document("<w:p><w:r><w:t>整改</w:t></w:r></w:p>");
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
        let docx = zip_of(&[(DOCUMENT_PART, &utf16)]);
        assert_eq!(extract_text(&docx).as_deref(), Ok("整改\n"));
    }

    type Expect = fn(&DocxError) -> bool;

    #[test]
    fn hostile_inputs_give_the_right_error() {
        let valid = write_report(&sample_report(), None).expect("write");
        let many_entries: Vec<(String, &[u8])> = (0..=MAX_ENTRIES)
            .map(|i| (format!("f{i}"), &b""[..]))
            .collect();
        let many_entries: Vec<(&str, &[u8])> = many_entries
            .iter()
            .map(|(name, content)| (name.as_str(), *content))
            .collect();
        let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
            ("empty", Vec::new(), |e| *e == DocxError::NotZip),
            ("text", "整改情况:".as_bytes().to_vec(), |e| {
                *e == DocxError::NotZip
            }),
            ("random bytes", pseudo_random_bytes(1, 4096), |e| {
                *e == DocxError::NotZip
            }),
            (
                "PK and garbage",
                [b"PK\x03\x04", &[0u8; 40][..]].concat(),
                |e| *e == DocxError::NotZip,
            ),
            ("cut in half", valid[..valid.len() / 2].to_vec(), |e| {
                *e == DocxError::NotZip
            }),
            (
                "a .doc file",
                [
                    &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
                    &[0; 504],
                ]
                .concat(),
                |e| *e == DocxError::LegacyDoc,
            ),
            (
                "a zip without document.xml",
                zip_of(&[("word/other.xml", b"<a/>")]),
                |e| *e == DocxError::NoDocument,
            ),
            ("too many entries", zip_of(&many_entries), |e| {
                matches!(
                    e,
                    DocxError::TooManyEntries {
                        entries: 10_001,
                        max: 10_000
                    }
                )
            }),
            (
                "broken XML",
                docx_of(&document("<w:p><w:r><w:t>a</w:r></w:p>")),
                |e| matches!(e, DocxError::MalformedXml { line: 2, .. }),
            ),
            (
                "cut-off XML",
                docx_of("<w:document xmlns:w=\"x\"><w:body><w:p>"),
                |e| {
                    matches!(
                        e,
                        DocxError::MalformedXml {
                            line: 1,
                            column: 38,
                            ..
                        }
                    )
                },
            ),
            (
                "unknown entity",
                docx_of(&document("<w:p><w:r><w:t>&nbsp;</w:t></w:r></w:p>")),
                |e| matches!(e, DocxError::MalformedXml { detail, .. } if detail.contains("&nbsp;")),
            ),
            ("not XML at all", docx_of("整改"), |e| {
                matches!(e, DocxError::MalformedXml { .. })
            }),
            (
                "not UTF-8",
                zip_of(&[(DOCUMENT_PART, b"<w:p>\xFF\xFE\xFD</w:p>")]),
                |e| {
                    matches!(
                        e,
                        DocxError::MalformedXml {
                            offset: 5,
                            line: 1,
                            column: 6,
                            ..
                        }
                    )
                },
            ),
        ];
        for (name, bytes, expect) in cases {
            match extract_text(&bytes) {
                Err(error) => assert!(expect(&error), "{name}: unexpected error {error}"),
                Ok(text) => panic!("{name}: expected an error, got text {text:?}"),
            }
        }
    }

    #[test]
    fn document_part_over_the_limit_is_refused() {
        let big = document(&"<w:p><w:r><w:t>整改</w:t></w:r></w:p>".repeat(100));
        let docx = docx_of(&big);
        let limit = 1024;
        assert!(big.len() > limit);
        assert_eq!(
            extract_text_limited(&docx, limit as u64),
            Err(DocxError::TooLarge { max_mib: 1 })
        );
        assert!(
            extract_text_limited(&docx, big.len() as u64).is_ok(),
            "at the limit"
        );
    }

    /// A zip whose headers understate the document's size is refused: the zip reader
    /// notices the lie (Damaged), and the limit is also enforced on the bytes actually read.
    #[test]
    fn understated_size_is_caught_while_reading() {
        let big = document(&"<w:p><w:r><w:t>整改</w:t></w:r></w:p>".repeat(100));
        let mut docx = zip_of(&[(DOCUMENT_PART, big.as_bytes())]);
        let declared = 100u32.to_le_bytes();
        // The uncompressed size sits 22 bytes into the local header and 24 bytes into
        // the central directory header.
        for (signature, offset) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
            let at = docx
                .windows(4)
                .position(|w| w == signature)
                .expect("header");
            docx[at + offset..at + offset + 4].copy_from_slice(&declared);
        }
        let result = extract_text_limited(&docx, 1024);
        assert!(
            matches!(
                result,
                Err(DocxError::TooLarge { .. } | DocxError::Damaged { .. })
            ),
            "{result:?}"
        );
    }

    /// Corrupted copies of a valid file never panic.
    #[test]
    fn mangled_files_never_panic() {
        let valid = write_report(&sample_report(), Some("标题")).expect("write");
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for round in 0..300 {
            let mut bytes = valid.clone();
            for _ in 0..1 + round % 8 {
                state = xorshift(state);
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            if round % 10 == 0 {
                bytes.truncate((state >> 16) as usize % bytes.len());
            }
            // Any result will do: what matters is that there is one.
            let _ = extract_text(&bytes);
        }
        for seed in 1..50 {
            let _ = extract_text(&pseudo_random_bytes(seed, 1 + seed as usize * 37));
        }
    }

    fn xorshift(mut x: u64) -> u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }

    fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state = xorshift(state);
                (state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn errors_say_what_to_do() {
        assert_eq!(
            DocxError::NotZip.to_string(),
            "this is not a .docx file (not a ZIP archive); save the report as .docx or .txt"
        );
        assert!(
            DocxError::NoDocument
                .to_string()
                .contains("save it as .docx")
        );
        let malformed = malformed("<a>\n  <b>", 6, "bad".to_owned());
        assert_eq!(
            malformed,
            DocxError::MalformedXml {
                offset: 6,
                line: 2,
                column: 3,
                detail: "bad".to_owned()
            }
        );
        assert!(malformed.to_string().contains("line 2, column 3"));
    }

    #[test]
    fn chinese_numerals_as_reports_write_them() {
        let cases = [
            (1, "一"),
            (9, "九"),
            (10, "十"),
            (11, "十一"),
            (20, "二十"),
            (21, "二十一"),
            (100, "一百"),
            (105, "一百零五"),
            (110, "一百一十"),
            (115, "一百一十五"),
            (120, "一百二十"),
            (999, "九百九十九"),
            (1000, "一〇〇〇"),
            (2024, "二〇二四"),
        ];
        for (n, expected) in cases {
            assert_eq!(cjk_numeral(n), expected, "{n}");
        }
    }

    /// The real report: text → Report → .docx → text → Report gives the same areas,
    /// problems and items, exactly as the text report does.
    #[test]
    fn real_report_round_trips_through_docx() {
        let original = import::parse(REAL_REPORT)
            .expect("the real report imports")
            .report;
        let title = "中共眉山市彭山区教育和体育局委员会关于巡察整改情况的通报";
        for title in [None, Some(title)] {
            let docx = write_report(&original, title).expect("write");
            let text = extract_text(&docx).expect("extract");
            let again = import::parse(&text).expect("the .docx text imports").report;

            let totals = again.totals();
            assert_eq!((totals.areas, totals.problems, totals.items), (3, 24, 53));
            assert_eq!(totals, original.totals());
            // The whole report: a title written is read back as the report's own.
            let mut campaign = original.campaign.clone();
            campaign.title = title.map(str::to_owned);
            assert_eq!(again.campaign, campaign, "title {title:?}");
            assert_eq!(again.parts, original.parts);
            assert!(!again.parts.results.is_empty());
            for (a, b) in original.areas.iter().zip(&again.areas) {
                assert_eq!((a.number, &a.title), (b.number, &b.title));
                for (p, q) in a.problems.iter().zip(&b.problems) {
                    assert_eq!((p.number, &p.title), (q.number, &q.title));
                    assert_eq!(p.items.len(), q.items.len(), "problem {}", p.title);
                    for (i, j) in p.items.iter().zip(&q.items) {
                        assert_eq!((i.sub, &i.title), (j.sub, &j.title));
                        assert_eq!(i.narrative, j.narrative, "{}", i.title);
                        assert_eq!(i.status, j.status, "{}", i.title);
                        assert_eq!(i.measures, j.measures, "{}", i.title);
                    }
                }
            }
            // And the .docx reads back as what the text report imports to.
            let mut via_text = import::parse(&text::build(&original)).expect("text").report;
            via_text.campaign.title = title.map(str::to_owned);
            assert_eq!(again, via_text);
        }
    }
}
