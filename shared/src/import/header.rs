//! The campaign header: who inspected whom and when (the opening paragraph), and who
//! published the report (the signature at the end).

use super::extract::{DateMention, date_mentions, is_cjk};
use super::lines::{Kind, SourceLine};
use super::{ImportWarning, Said};
use crate::date::Date;
use crate::report::CampaignHeader;

/// Reads the campaign header from the opening paragraph on line `line`. The publisher is
/// left to [`signature`]. Every piece not found is a warning.
pub(crate) fn campaign(
    preamble: &str,
    line: usize,
    warnings: &mut Vec<ImportWarning>,
) -> CampaignHeader {
    let mut header = CampaignHeader {
        preamble: preamble.to_owned(),
        ..CampaignHeader::default()
    };
    let mentions = date_mentions(preamble);
    let mut warn = |said: Said| warnings.push(ImportWarning::new(line, said));

    match who_inspected_whom(preamble) {
        Some((inspector, inspected)) => {
            header.inspector = Some(inspector.to_owned());
            header.inspected = Some(inspected.to_owned());
        }
        None => warn(Said::new(
            "开头一段没有说明由谁对谁进行巡察（应为“…巡察组对…进行了巡察”）：巡察组和被巡察单位留空",
            "the opening paragraph does not say who inspected whom (expected \
             '…巡察组对…进行了巡察'): inspector and inspected body left empty",
        )),
    }

    let period = mentions
        .iter()
        .find(|m| m.until.is_some() && m.day.is_some());
    match period.map(inspection_period) {
        Some((Some(start), Some(end))) if start <= end => {
            header.inspection_start = Some(start);
            header.inspection_end = Some(end);
        }
        Some(_) => {
            let written = period.map_or("", |m| &preamble[m.start..m.end]);
            warn(Said::new(
                format!("巡察时间“{written}”不是有效的起止日期：留空"),
                format!(
                    "the inspection period '{written}' is not a valid pair of dates: left empty"
                ),
            ));
        }
        None => warn(Said::new(
            "开头一段没有巡察时间（应为“2023年4月13日至6月2日”）：留空",
            "the opening paragraph has no inspection period (expected '2023年4月13日至6月2日'): \
             left empty",
        )),
    }

    match feedback_mention(preamble, &mentions) {
        Some(mention) => match full_date(mention) {
            Some(date) => header.feedback_date = Some(date),
            None => {
                let written = &preamble[mention.start..mention.end];
                warn(Said::new(
                    format!("反馈日期“{written}”不是有效的日期：留空"),
                    format!("the feedback date '{written}' is not a valid date: left empty"),
                ));
            }
        },
        None => warn(Said::new(
            "开头一段没有反馈日期（应为“2023年9月14日，巡察组…反馈了巡察意见”）：留空",
            "the opening paragraph has no feedback date (expected '2023年9月14日,巡察组…反馈了\
             巡察意见'): left empty",
        )),
    }
    header
}

/// `区委第三巡察组对区教体局党委进行了巡察` → (区委第三巡察组, 区教体局党委).
fn who_inspected_whom(preamble: &str) -> Option<(&str, &str)> {
    preamble
        .split(|c: char| "，,。；;".contains(c))
        .find_map(|clause| {
            let (before, after) = clause.split_once('对')?;
            let verb = ["进行", "开展", "实施", "巡察", "巡视"]
                .iter()
                .filter_map(|verb| after.find(verb))
                .min()?;
            if !after[verb..].contains("巡察") && !after[verb..].contains("巡视") {
                return None;
            }
            let inspector = strip_leading_dates(before).trim();
            let inspected = after[..verb].trim();
            (!inspector.is_empty() && !inspected.is_empty()).then_some((inspector, inspected))
        })
}

/// `2023年4月13日至6月2日区委第三巡察组` → `区委第三巡察组`.
fn strip_leading_dates(text: &str) -> &str {
    let mut rest = text.trim_start();
    while let Some(first) = date_mentions(rest)
        .into_iter()
        .next()
        .filter(|m| m.start == 0)
    {
        rest = rest[first.end..].trim_start();
    }
    rest
}

fn inspection_period(mention: &DateMention) -> (Option<Date>, Option<Date>) {
    let start = full_date(mention);
    let end = mention.until.and_then(|until| {
        let year = until.year.or(mention.year)?;
        let month = until.month.unwrap_or(mention.month);
        date(year, month, until.day?)
    });
    (start, end)
}

/// The feedback date: in the sentence that says 反馈, the last full date before 反馈
/// (else the first after it), not the inspection period.
fn feedback_mention<'m>(preamble: &str, mentions: &'m [DateMention]) -> Option<&'m DateMention> {
    let mut sentence_start = 0;
    for sentence in preamble.split_inclusive(['。', '；', ';']) {
        let sentence_end = sentence_start + sentence.len();
        if let Some(at) = sentence.find("反馈") {
            let said_at = sentence_start + at;
            let candidates: Vec<&DateMention> = mentions
                .iter()
                .filter(|m| m.start >= sentence_start && m.end <= sentence_end)
                .filter(|m| m.until.is_none() && m.year.is_some() && m.day.is_some())
                .collect();
            let before = candidates.iter().rev().find(|m| m.end <= said_at);
            if let Some(found) = before.or_else(|| candidates.first()) {
                return Some(found);
            }
        }
        sentence_start = sentence_end;
    }
    None
}

/// The date of the line under the signature (`2024年3月27日`), when it is a full date.
pub(crate) fn publication_date(text: &str) -> Option<Date> {
    date_mentions(text)
        .first()
        .filter(|m| m.until.is_none())
        .and_then(full_date)
}

fn full_date(mention: &DateMention) -> Option<Date> {
    date(mention.year?, mention.month, mention.day?)
}

fn date(year: u32, month: u32, day: u32) -> Option<Date> {
    Date::new(
        i32::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
    )
}

/// The signature at the end of a report: the publisher's name, optionally followed by the
/// date of publication. Indices into `lines`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Signature {
    pub publisher: Option<usize>,
    pub date: Option<usize>,
}

/// Finds the signature: the last line if it is a date alone, and the last line before it if
/// it looks like an organisation's name.
pub(crate) fn signature(lines: &[SourceLine], kinds: &[Kind<'_>]) -> Signature {
    let mut signature = Signature::default();
    let mut last = lines.len().checked_sub(1);
    if let Some(i) = last.filter(|&i| is_date_line(&lines[i].text)) {
        signature.date = Some(i);
        last = i.checked_sub(1);
    }
    signature.publisher =
        last.filter(|&i| matches!(kinds[i], Kind::Text(_)) && is_organisation(&lines[i].text));
    signature
}

fn is_date_line(text: &str) -> bool {
    let mentions = date_mentions(text);
    mentions.len() == 1 && mentions[0].start == 0 && mentions[0].end == text.len()
}

/// An organisation's name: CJK characters (and brackets) only, of a reasonable length,
/// ending the way names of public bodies end (委员会, 局, 党组…).
pub(crate) fn is_organisation(text: &str) -> bool {
    const ENDINGS: [&str; 16] = [
        "委员会",
        "委",
        "局",
        "党组",
        "政府",
        "组",
        "部",
        "办公室",
        "中心",
        "学校",
        "校",
        "园",
        "院",
        "会",
        "所",
        "厅",
    ];
    let length = text.chars().count();
    (4..=40).contains(&length)
        && text.chars().all(|c| is_cjk(c) || "()（）".contains(c))
        && ENDINGS.iter().any(|ending| text.ends_with(ending))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREAMBLE: &str = "根据区委统一部署,2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。\
                            2023年9月14日,巡察组向区教体局党委反馈了巡察意见。按照党务公开原则和巡察有关工作要求,\
                            现将巡察整改情况予以公布。";

    #[test]
    fn reads_the_opening_sentence() {
        let mut warnings = Vec::new();
        let header = campaign(PREAMBLE, 1, &mut warnings);
        assert_eq!(warnings, []);
        assert_eq!(header.inspector.as_deref(), Some("区委第三巡察组"));
        assert_eq!(header.inspected.as_deref(), Some("区教体局党委"));
        assert_eq!(header.inspection_start, Date::new(2023, 4, 13));
        assert_eq!(header.inspection_end, Date::new(2023, 6, 2));
        assert_eq!(header.feedback_date, Date::new(2023, 9, 14));
        assert_eq!(header.preamble, PREAMBLE);
    }

    #[test]
    fn missing_pieces_are_warnings() {
        let mut warnings = Vec::new();
        let header = campaign("现将巡察整改情况予以公布。", 3, &mut warnings);
        assert_eq!(header.inspector, None);
        assert_eq!(header.feedback_date, None);
        assert_eq!(warnings.len(), 3);
        assert!(warnings.iter().all(|w| w.line == 3));
    }

    #[test]
    fn recognises_organisation_names() {
        assert!(is_organisation("中共眉山市彭山区教育和体育局委员会"));
        assert!(is_organisation("眉山市彭山区教育和体育局"));
        assert!(!is_organisation("整改进度:整改完成。"));
        assert!(!is_organisation(
            "欢迎广大干部群众对巡察整改落实情况进行监督。"
        ));
        assert!(!is_organisation("2024年3月27日"));
    }
}
