//! The report importer: the text of a published rectification report (巡察整改情况公布)
//! becomes a [`Report`].
//!
//! Such a report has numbered sections (一、二、三、四、); the one that holds the items is
//! 二、整改工作具体落实情况 (the importer takes the first section with `整改情况`/`整改进度`
//! lines). In it:
//!
//! ```text
//! (一)聚焦党中央各项决策部署在基层的落实情况方面          ← area
//! 1.落实党组织领导的校长负责制不够及时。                  ← problem
//! (1)专职党组织负责人未及时配置。                        ← sub-problem (a leaf item)
//! 整改情况:一是区委组织部已于2023年8月22日下发了…          ← narrative, measures 一是 二是 …
//! 整改进度:整改完成。                                    ← status
//! ```
//!
//! A problem without sub-problems is one item. Punctuation may be half- or full-width, lines
//! may end in CRLF, LF or CR, and may be indented with spaces of either width. The opening
//! paragraph gives the campaign header, the signature at the end the publisher and the date
//! of publication, a first line that reads like a title (`…关于…的通报`) the title.
//!
//! The other sections are the report's text parts ([`Parts`]): the one before the items is
//! part 一 (整改工作开展情况), those after it parts 三 (成效) and 四 (下一步), by their
//! headings or else in order; each is kept verbatim, line by line. A report structured in
//! sections that lacks one of them is imported with a warning, the part left empty; a
//! section with no place of its own is kept as text at the end of the part before it.
//!
//! Anything that does not fit is imported as well as it can be and reported as an
//! [`ImportWarning`] with its line number, for a person to check: nothing is fixed silently.
//! Only a file that cannot be a report at all is an [`ImportError`].

mod decode;
mod extract;
mod header;
mod items;
mod lines;
pub(crate) mod numerals;
mod wording;

pub use decode::decode;
pub use numerals::cjk_numeral;

use crate::report::{
    CampaignHeader, ITEMS_HEADING, NEXT_STEPS_HEADING, ORGANISATION_HEADING, Part, Parts,
    RESULTS_HEADING, Report,
};
pub use crate::said::Said;
use lines::{Kind, SourceLine, classify, source_lines};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

/// The result of an import: the report, and what a person should check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub report: Report,
    /// In line order.
    pub warnings: Vec<ImportWarning>,
}

/// Something odd in the input, and what the importer made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWarning {
    /// 1-based line in the input.
    pub line: usize,
    /// In English: the command line, logs and the app in English.
    pub message: String,
    /// The same in Chinese, for the office reading the app in Chinese (empty from a server
    /// older than this field: then [`ImportWarning::in_chinese`] gives the English).
    #[serde(default)]
    pub message_zh: String,
}

impl ImportWarning {
    pub(crate) fn new(line: usize, said: Said) -> ImportWarning {
        ImportWarning {
            line,
            message: said.en,
            message_zh: said.zh,
        }
    }

    /// The message in Chinese, or in English when there is none.
    pub fn in_chinese(&self) -> &str {
        if self.message_zh.is_empty() {
            &self.message
        } else {
            &self.message_zh
        }
    }
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The input cannot be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty (or only blank lines): choose the report's text file and try again")]
    Empty,
    #[error(
        "this does not look like a text report (found binary data at byte {offset}); \
         save the report as .txt or .docx"
    )]
    Binary { offset: usize },
    #[error(
        "found no rectification items: expected lines like '(一)聚焦…', '1.…', '整改情况:…', \
         '整改进度:…'"
    )]
    NoItems,
    #[error(
        "the report ends at line {line} ('{last}') before any rectification item: the file seems \
         cut off; import the complete report"
    )]
    Truncated { line: usize, last: String },
    #[error(
        "the report ends at line {line} in the middle of an item ('{last}'), with no 整改进度 \
         after it and no closing sections: the file seems cut off; import the complete report"
    )]
    EndsInsideItem { line: usize, last: String },
    #[error(
        "the file ends in the middle of a character (at byte {offset}): it seems cut off; \
         import the complete report"
    )]
    CutCharacter { offset: usize },
}

impl ImportError {
    /// The same message in Chinese, for the office (the English is the `Display`).
    pub fn in_chinese(&self) -> String {
        match self {
            ImportError::Empty => "文件是空的（或只有空行）：请选择报告的文本文件后重试".to_owned(),
            ImportError::Binary { offset } => format!(
                "这看起来不是文本格式的报告（第{offset}字节处是二进制数据）：请把报告另存为 .txt 或 .docx"
            ),
            ImportError::NoItems => {
                "没有找到整改事项：应有“(一)聚焦…”“1.…”“整改情况：…”“整改进度：…”这样的行"
                    .to_owned()
            }
            ImportError::Truncated { line, last } => format!(
                "报告在第{line}行（“{last}”）就结束了，还没有任何整改事项：文件似乎不完整，请导入完整的报告"
            ),
            ImportError::EndsInsideItem { line, last } => format!(
                "报告在第{line}行（“{last}”）结束于一个事项中间，其后没有整改进度，也没有结尾部分：\
                 文件似乎不完整，请导入完整的报告"
            ),
            ImportError::CutCharacter { offset } => {
                format!("文件在一个字符中间结束（第{offset}字节处）：似乎不完整，请导入完整的报告")
            }
        }
    }

    /// The message in both languages.
    pub fn said(&self) -> Said {
        Said::new(self.in_chinese(), self.to_string())
    }
}

/// Decodes and parses an uploaded report: [`decode`], then [`parse`].
pub fn import_bytes(bytes: &[u8]) -> Result<Imported, ImportError> {
    parse(&decode(bytes)?)
}

/// Parses the text of a report.
pub fn parse(text: &str) -> Result<Imported, ImportError> {
    let mut warnings = Vec::new();
    let lines = source_lines(text, &mut warnings);
    if lines.is_empty() {
        return Err(ImportError::Empty);
    }
    let mut kinds: Vec<Kind<'_>> = lines.iter().map(|line| classify(&line.text)).collect();
    let sections = sections(&lines, &mut kinds);
    let signature = header::signature(&lines, &kinds);
    let opening = opening(&lines, &kinds);
    let last_line = lines.last().map_or(1, |line| line.number);

    let Some(chosen) = items_section(&sections, &kinds) else {
        return Err(no_items(&lines, &kinds));
    };
    // The opening paragraph: the first line, or every line before the first section when the
    // items have one of their own.
    let preamble_lines: Vec<usize> = match opening.preamble {
        Some(first) if chosen != 0 => (first..sections[0].range.end)
            .filter(|&i| Some(i) != signature.publisher && Some(i) != signature.date)
            .collect(),
        Some(first) => vec![first],
        None => Vec::new(),
    };
    let mut campaign = match preamble_lines.first() {
        Some(&first) => {
            let text = preamble_lines
                .iter()
                .map(|&i| lines[i].text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            header::campaign(&text, lines[first].number, &mut warnings)
        }
        None => {
            let line = lines.first().map_or(1, |line| line.number);
            warnings.push(ImportWarning::new(
                line,
                Said::new(
                    "报告开头没有说明由谁、何时对谁进行巡察的段落：巡察信息（巡察组、被巡察单位、\
                     日期）为空",
                    "the report does not open with a paragraph saying who inspected whom and \
                     when: the campaign header (inspector, inspected body, dates) is empty",
                ),
            ));
            CampaignHeader::default()
        }
    };
    campaign.title = opening.title.map(|i| lines[i].text.clone());
    if let Some(i) = signature.date {
        campaign.published = header::publication_date(&lines[i].text);
        if campaign.published.is_none() {
            let written = &lines[i].text;
            warnings.push(ImportWarning::new(
                lines[i].number,
                Said::new(
                    format!("落款下的日期“{written}”不是完整的日期：发布日期留空"),
                    format!(
                        "the date under the signature '{written}' is not a full date: the \
                         publication date is left empty"
                    ),
                ),
            ));
        }
    }
    campaign.publisher = signature.publisher.map(|i| lines[i].text.clone());
    if campaign.publisher.is_none() {
        warnings.push(ImportWarning::new(
            last_line,
            Said::new(
                "报告末尾没有发文单位名称（如“中共眉山市彭山区教育和体育局委员会”）：发文单位留空",
                "the report does not end with the publishing body's name (such as \
                 '中共眉山市彭山区教育和体育局委员会'): publisher left empty",
            ),
        ));
    }

    let skip: Vec<usize> = [signature.publisher, signature.date]
        .into_iter()
        .flatten()
        .collect();
    let parts = parts(&lines, &kinds, &sections, chosen, &skip, &mut warnings);
    let skip: Vec<usize> = [opening.title, signature.publisher, signature.date]
        .into_iter()
        .flatten()
        .chain(preamble_lines.iter().copied())
        .collect();
    let areas = items::parse_items(
        &lines,
        &kinds,
        sections[chosen].range.clone(),
        &skip,
        &mut warnings,
    );
    if areas.iter().all(|area| area.problems.is_empty()) {
        return Err(no_items(&lines, &kinds));
    }
    // A file cut off inside section 二 ends with an item that has no 整改进度 and no
    // signature: refuse it rather than store half a report as if it were whole.
    let items_end = sections[chosen].range.end;
    let last_structural = kinds[..items_end]
        .iter()
        .rposition(|kind| !matches!(kind, Kind::Text(_)));
    let ends_in_items = items_end == kinds.len() && signature.publisher.is_none();
    if let Some(i) = last_structural.filter(|_| ends_in_items)
        && !matches!(kinds[i], Kind::Status(rest) if !rest.is_empty())
    {
        let last = lines
            .last()
            .map_or_else(String::new, |line| line.text.chars().take(30).collect());
        return Err(ImportError::EndsInsideItem {
            line: last_line,
            last,
        });
    }
    warnings.sort_by_key(|warning| warning.line);
    Ok(Imported {
        report: Report {
            campaign,
            parts,
            areas,
        },
        warnings,
    })
}

/// A numbered section (一、…) and the lines under it; the lines before the first one form a
/// section without header, numbered 0.
struct Section<'a> {
    number: u32,
    title: &'a str,
    range: Range<usize>,
}

/// Splits the lines into sections. A section header must come after the previous one in
/// number, and must not be followed by 整改情况/整改进度 before the next header: otherwise it
/// is a narrative written as 一、二、三、 and becomes text again.
fn sections<'a>(lines: &'a [SourceLine], kinds: &mut [Kind<'a>]) -> Vec<Section<'a>> {
    let mut sections = vec![Section {
        number: 0,
        title: "",
        range: 0..kinds.len(),
    }];
    for i in 0..kinds.len() {
        let Kind::Section { number, title } = kinds[i] else {
            continue;
        };
        let last = sections.len() - 1;
        let in_an_item = kinds[i + 1..]
            .iter()
            .find(|kind| !matches!(kind, Kind::Text(_)))
            .is_some_and(|kind| has_label(*kind));
        if number <= sections[last].number || in_an_item {
            kinds[i] = Kind::Text(&lines[i].text);
            continue;
        }
        sections[last].range.end = i;
        sections.push(Section {
            number,
            title,
            range: i + 1..kinds.len(),
        });
    }
    sections
}

/// The text parts: the sections other than the one with the items (`chosen`), the lines
/// in `skip` (the signature) left out. See the module's documentation for where each goes.
fn parts(
    lines: &[SourceLine],
    kinds: &[Kind<'_>],
    sections: &[Section<'_>],
    chosen: usize,
    skip: &[usize],
    warnings: &mut Vec<ImportWarning>,
) -> Parts {
    const NAMES: [(&str, &str); 3] = [
        ("一", ORGANISATION_HEADING),
        ("三", RESULTS_HEADING),
        ("四", NEXT_STEPS_HEADING),
    ];
    let mut parts = Parts::default();
    if chosen == 0 {
        // No sections at all: a bare list of items.
        return parts;
    }
    if sections[chosen].title != ITEMS_HEADING {
        sections[chosen].title.clone_into(&mut parts.items_heading);
    }
    let numbered =
        |section: &Section<'_>| format!("{}、{}", cjk_numeral(section.number), section.title);
    // Slots: 0 part 一, 1 part 三, 2 part 四.
    let mut filled: [Option<u32>; 3] = [None; 3];
    let mut previous: Option<usize> = None;
    for (index, section) in sections.iter().enumerate().skip(1) {
        if index == chosen {
            previous = None;
            continue;
        }
        if let Some(i) = section.range.clone().find(|&i| has_label(kinds[i])) {
            let (this, items) = (
                cjk_numeral(section.number),
                cjk_numeral(sections[chosen].number),
            );
            warnings.push(ImportWarning::new(
                lines[i].number,
                Said::new(
                    format!(
                        "第{this}部分也有“整改情况/整改进度”行：只从第{items}部分读取整改事项，\
                         这些行作为第{this}部分的正文保留"
                    ),
                    format!(
                        "section {this} also has 整改情况/整改进度 lines: only section {items} \
                         was read for items; these lines are kept as text of section {this}"
                    ),
                ),
            ));
        }
        let wanted = if index < chosen {
            Some(0)
        } else if section.title.contains("成效") {
            Some(1)
        } else if section.title.contains("下一步") || section.title.contains("打算") {
            Some(2)
        } else {
            [1, 2].into_iter().find(|&slot| filled[slot].is_none())
        };
        let text: Vec<&str> = section
            .range
            .clone()
            .filter(|i| !skip.contains(i))
            .map(|i| lines[i].text.as_str())
            .collect();
        let own = wanted.filter(|&slot| filled[slot].is_none());
        let slot = own.or(previous).unwrap_or(0);
        let part = match slot {
            0 => &mut parts.organisation,
            1 => &mut parts.results,
            _ => &mut parts.next_steps,
        };
        if own.is_some() {
            filled[slot] = Some(section.number);
            *part = Part {
                heading: section.title.to_owned(),
                body: text.join("\n"),
            };
        } else {
            let header_line = lines[section.range.start - 1].number;
            let (this, into) = (
                numbered(section),
                cjk_numeral(filled[slot].unwrap_or(section.number)),
            );
            warnings.push(ImportWarning::new(
                header_line,
                Said::new(
                    format!(
                        "“{this}”没有对应的位置（报告分为一 整改工作开展情况、二 具体落实情况、\
                         三 主要成效、四 下一步工作打算）：连同标题作为第{into}部分末尾的正文保留"
                    ),
                    format!(
                        "section {this} has no place of its own (a report has 一 how the work \
                         was organised, 二 the items, 三 the results, 四 the next steps): it is \
                         kept, heading and all, as text at the end of section {into}"
                    ),
                ),
            ));
            let heading = numbered(section);
            for line in std::iter::once(heading.as_str()).chain(text) {
                if !part.body.is_empty() {
                    part.body.push('\n');
                }
                part.body.push_str(line);
            }
        }
        previous = Some(slot);
    }
    let missing: Vec<String> = NAMES
        .iter()
        .zip(filled)
        .filter(|(_, found)| found.is_none())
        .map(|((numeral, heading), _)| format!("{numeral}、{heading}"))
        .collect();
    if !missing.is_empty() {
        let line = if filled[0].is_none() {
            lines[sections[chosen].range.start - 1].number
        } else {
            lines.last().map_or(1, |line| line.number)
        };
        warnings.push(ImportWarning::new(
            line,
            Said::new(
                format!(
                    "报告缺少“{}”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）",
                    missing.join("”“"),
                ),
                format!(
                    "the report has no part {}: the campaign keeps {} empty, for the office to \
                     write (报告 → 报告正文) before the report is published again",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                ),
            ),
        ));
    }
    parts
}

fn has_label(kind: Kind<'_>) -> bool {
    matches!(kind, Kind::Narrative(_) | Kind::Status(_))
}

/// The section that holds the items: the first with 整改情况/整改进度 lines, else the one
/// titled 具体落实…, else the whole text when it has no sections, else the first with areas.
fn items_section(sections: &[Section<'_>], kinds: &[Kind<'_>]) -> Option<usize> {
    let has = |section: &Section<'_>, pred: fn(Kind<'_>) -> bool| {
        section.range.clone().any(|i| pred(kinds[i]))
    };
    sections
        .iter()
        .position(|s| has(s, has_label))
        .or_else(|| sections.iter().position(|s| s.title.contains("具体落实")))
        .or_else(|| (sections.len() == 1).then_some(0))
        .or_else(|| {
            sections
                .iter()
                .position(|s| has(s, |k| matches!(k, Kind::Area { .. })))
        })
}

/// The error for a text without items: cut off when it ends on a header, else no items.
fn no_items(lines: &[SourceLine], kinds: &[Kind<'_>]) -> ImportError {
    match (lines.last(), kinds.last()) {
        (Some(line), Some(Kind::Section { .. } | Kind::Area { .. })) => ImportError::Truncated {
            line: line.number,
            last: line.text.chars().take(30).collect(),
        },
        _ => ImportError::NoItems,
    }
}

/// The opening lines: an optional document title, then the opening paragraph.
struct Opening {
    title: Option<usize>,
    preamble: Option<usize>,
}

fn opening(lines: &[SourceLine], kinds: &[Kind<'_>]) -> Opening {
    let is_text = |i: usize| matches!(kinds.get(i), Some(Kind::Text(_)));
    if !is_text(0) {
        return Opening {
            title: None,
            preamble: None,
        };
    }
    if is_document_title(&lines[0].text) && is_text(1) {
        return Opening {
            title: Some(0),
            preamble: Some(1),
        };
    }
    Opening {
        title: None,
        preamble: Some(0),
    }
}

/// `中共…委员会关于巡察整改情况的通报`: no full stop, ends like a title.
fn is_document_title(text: &str) -> bool {
    let ends_like_title = ["通报", "公告", "报告", "情况", "公示", "说明"]
        .iter()
        .any(|end| text.ends_with(end));
    !text.contains('。') && text.chars().count() <= 80 && (ends_like_title || text.contains("关于"))
}
