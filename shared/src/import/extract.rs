//! What is found inside a narrative (整改情况): the measures (一是…二是…), document
//! numbers (眉彭教体发〔2023〕49号) and dates (2023年8月22日).

use super::numerals::{ascii_or_wide_digit, is_cjk_numeral_char, parse_cjk_numeral, parse_digits};

/// Splits a narrative on its ordinals 一是, 二是, … 十一是, in sequence.
///
/// Text before 一是 is a lead-in, not a measure. A measure keeps its inner punctuation
/// and a final 。, but not a final separator (；;，,、) or whitespace. 一是 must start the
/// narrative or follow punctuation, so that 统一是 is not read as an ordinal; the later
/// ordinals only have to be the next number, as authors sometimes leave out the
/// punctuation before them.
pub(crate) fn measures(narrative: &str) -> Vec<String> {
    let mut starts = Vec::new(); // (start of the ordinal, start of the measure text)
    let mut expected = 1;
    let mut previous: Option<char> = None;
    for (i, c) in narrative.char_indices() {
        let at_run_start = is_cjk_numeral_char(c) && !previous.is_some_and(is_cjk_numeral_char);
        previous = Some(c);
        if !at_run_start {
            continue;
        }
        let rest = &narrative[i..];
        let run_len = rest
            .find(|c: char| !is_cjk_numeral_char(c))
            .unwrap_or(rest.len());
        let (run, after) = rest.split_at(run_len);
        if !after.starts_with('是') || parse_cjk_numeral(run) != Some(expected) {
            continue;
        }
        let before = narrative[..i].chars().next_back();
        if expected == 1 && before.is_some_and(|b| !is_boundary(b)) {
            continue;
        }
        starts.push((i, i + run_len + '是'.len_utf8()));
        expected += 1;
    }
    let ends = starts
        .iter()
        .skip(1)
        .map(|&(ordinal, _)| ordinal)
        .chain([narrative.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&(_, text_start), end)| trim_measure(&narrative[text_start..end]).to_owned())
        .collect()
}

/// Characters after which an ordinal may start.
fn is_boundary(c: char) -> bool {
    c.is_whitespace() || "。；;，,：:、.．!！?？)）】」』”\"'’".contains(c)
}

fn trim_measure(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || "；;，,、".contains(c))
        .trim()
}

/// Document numbers in order of appearance, each once: an optional issuer code of CJK
/// characters (眉彭教体发), a year in brackets (〔〕 [] 【】 ［］), a number, an optional 号.
pub(crate) fn document_numbers(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (i, c) in text.char_indices() {
        if !"〔[【［".contains(c) {
            continue;
        }
        let Some(len) = bracketed_number_len(&text[i..]) else {
            continue;
        };
        let prefix = issuer_prefix(&text[..i]);
        let number = format!("{prefix}{}", &text[i..i + len]);
        if !found.contains(&number) {
            found.push(number);
        }
    }
    found
}

/// The length of `〔2023〕49号` at the start of `s` (which starts with an opening bracket).
fn bracketed_number_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1).peekable();
    let mut year_digits = 0;
    while chars
        .next_if(|&(_, c)| ascii_or_wide_digit(c).is_some())
        .is_some()
    {
        year_digits += 1;
    }
    if year_digits != 4 || chars.next_if(|&(_, c)| "〕]】］".contains(c)).is_none() {
        return None;
    }
    // 〔2023〕—90, [2020]-120号, 〔2023〕第5号
    while chars.next_if(|&(_, c)| "-—–－―".contains(c)).is_some() {}
    chars.next_if(|&(_, c)| c == '第');
    let mut number_digits = 0;
    while chars
        .next_if(|&(_, c)| ascii_or_wide_digit(c).is_some())
        .is_some()
    {
        number_digits += 1;
    }
    if number_digits == 0 {
        return None;
    }
    chars.next_if(|&(_, c)| c == '号');
    Some(chars.next().map_or(s.len(), |(i, _)| i))
}

/// The issuer code just before a bracket: the CJK characters before it, minus any words
/// that show they are a sentence rather than a code (印发, 文件…). Long runs are the
/// issuer's full name or a sentence, not a code, and are left out.
fn issuer_prefix(before: &str) -> &str {
    let start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_cjk(c))
        .last()
        .map_or(before.len(), |(i, _)| i);
    let mut run = &before[start..];
    for word in [
        "文件", "印发", "下发", "转发", "根据", "按照", "依据", "了", "的", "和", "及",
    ] {
        if let Some(at) = run.rfind(word) {
            run = &run[at + word.len()..];
        }
    }
    if run.chars().count() <= 10 { run } else { "" }
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

/// A date as written in a report: 2023年8月22日, 2023年10月, 12月7日, and ranges such as
/// 2023年12月7日——8日 or 2023年4月13日至6月2日.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateMention {
    pub start: usize,
    pub end: usize,
    pub year: Option<u32>,
    pub month: u32,
    pub day: Option<u32>,
    /// The end of a range, when the text gives one.
    pub until: Option<DateParts>,
}

/// The parts of the second date of a range; missing parts are those of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateParts {
    pub year: Option<u32>,
    pub month: Option<u32>,
    pub day: Option<u32>,
}

/// All dates mentioned in `text`, in order.
pub(crate) fn date_mentions(text: &str) -> Vec<DateMention> {
    let mut mentions = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let previous_is_digit = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| ascii_or_wide_digit(c).is_some());
        match (!previous_is_digit).then(|| date_at(text, i)).flatten() {
            Some(mention) => {
                i = mention.end;
                mentions.push(mention);
            }
            None => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    mentions
}

/// Dates mentioned in `text`, as written, in order, each once.
pub(crate) fn dates(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for mention in date_mentions(text) {
        let written = &text[mention.start..mention.end];
        if !found.iter().any(|f| f == written) {
            found.push(written.to_owned());
        }
    }
    found
}

fn date_at(text: &str, start: usize) -> Option<DateMention> {
    let (first, end) = date_parts_at(text, start)?;
    let month = first.month?;
    // Without a year, a month alone (3月) is too vague to be a date: ask for the day.
    if first.year.is_none() && first.day.is_none() {
        return None;
    }
    let mut mention = DateMention {
        start,
        end,
        year: first.year,
        month,
        day: first.day,
        until: None,
    };
    if let Some((until, until_end)) = range_end_at(text, end, &first) {
        mention.until = Some(until);
        mention.end = until_end;
    }
    Some(mention)
}

/// A range's second half after `end`: `——8日`, `至6月2日`, `至2024年1月`.
fn range_end_at(text: &str, end: usize, first: &DateParts) -> Option<(DateParts, usize)> {
    let rest = &text[end..];
    let connector_len = if rest.starts_with(['至', '到']) {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        rest.find(|c: char| !"-—–－―~～".contains(c))
            .unwrap_or(rest.len())
    };
    if connector_len == 0 {
        return None;
    }
    let (until, until_end) = date_parts_at(text, end + connector_len)?;
    // The second half must end with the same unit as the first (日 with 日, 月 with 月).
    let same_precision = until.day.is_some() == first.day.is_some();
    let written_from_the_left = until.year.is_none() || until.month.is_some();
    (same_precision && written_from_the_left).then_some((until, until_end))
}

/// Reads `[YYYY年][M月][D日]` at `start`, at least one part, valid values only.
fn date_parts_at(text: &str, start: usize) -> Option<(DateParts, usize)> {
    let mut parts = DateParts {
        year: None,
        month: None,
        day: None,
    };
    let mut at = start;
    for (unit, range) in [('年', 1000..=2999), ('月', 1..=12), ('日', 1..=31)] {
        let rest = &text[at..];
        let digits_len = rest
            .find(|c: char| ascii_or_wide_digit(c).is_none())
            .unwrap_or(rest.len());
        let value = parse_digits(&rest[..digits_len]);
        let is_year = unit == '年';
        let digits_ok = if is_year {
            rest[..digits_len].chars().count() == 4
        } else {
            digits_len > 0
        };
        match value {
            Some(v) if digits_ok && range.contains(&v) && rest[digits_len..].starts_with(unit) => {
                match unit {
                    '年' => parts.year = Some(v),
                    '月' => parts.month = Some(v),
                    _ => parts.day = Some(v),
                }
                at += digits_len + unit.len_utf8();
            }
            // A part may be left out only at the front (6月2日, 8日), not in the middle.
            _ if at == start => continue,
            _ => break,
        }
    }
    // 2024年 alone is a year, not a date; 年 followed by a day (2023年5日) is not a date.
    let has_year_only = parts.month.is_none() && parts.day.is_none();
    let skips_month = parts.month.is_none() && parts.year.is_some() && parts.day.is_some();
    if at == start || (parts.year.is_some() && has_year_only) || skips_month {
        return None;
    }
    Some((parts, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_measures_on_ordinals_in_sequence() {
        assert_eq!(
            measures("一是开会；二是发文。三是检查"),
            ["开会", "发文。", "检查"]
        );
        assert_eq!(
            measures("针对该问题，一是统一是非标准;二是追回"),
            ["统一是非标准", "追回"]
        );
        assert_eq!(measures("唯一是关键。"), Vec::<String>::new());
        assert_eq!(measures("一是甲。三是乙。"), ["甲。三是乙。"]);
        let eleven: String = (1..=11)
            .map(|n| format!("{}是事项{n}；", crate::import::numerals::cjk_numeral(n)))
            .collect();
        assert_eq!(measures(&eleven).len(), 11);
        assert_eq!(measures(&eleven)[10], "事项11");
    }

    #[test]
    fn finds_document_numbers() {
        let text = "(〔2023〕—90)。已印发了“眉彭教体发〔2023〕49号”“眉彭教体委发〔2023〕23号”\
                    (川招考委【2023】1号)和(眉彭教体发〔2023〕49号)，\
                    局文件[2020]-120号，［2021］第3号，〔2023〕无号";
        assert_eq!(
            document_numbers(text),
            [
                "〔2023〕—90",
                "眉彭教体发〔2023〕49号",
                "眉彭教体委发〔2023〕23号",
                "川招考委【2023】1号",
                "[2020]-120号",
                "［2021］第3号",
            ]
        );
    }

    #[test]
    fn finds_dates_as_written() {
        let text = "已于2023年8月22日下发，2023年12月7日——8日培训，2023年10月完成，\
                    并于12月7日谈话，2024年政府投资计划，2019年7月至今，2021-2025，\
                    2023年4月13日至6月2日，再次于2023年8月22日";
        assert_eq!(
            dates(text),
            [
                "2023年8月22日",
                "2023年12月7日——8日",
                "2023年10月",
                "12月7日",
                "2019年7月",
                "2023年4月13日至6月2日",
            ]
        );
    }
}
