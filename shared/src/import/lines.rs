//! Lines of a report and what each one is, in either width of punctuation.

use super::decode::is_binary_control;
use super::numerals::{
    ascii_or_wide_digit, is_cjk_numeral_char, parse_cjk_numeral, parse_digits, split_leading,
};
use super::{ImportWarning, Said};

/// A non-blank line, trimmed, with its 1-based number in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceLine {
    pub number: usize,
    pub text: String,
}

/// Splits `text` into trimmed, non-blank lines. CRLF, LF and a lone CR all end a line.
/// Control characters are dropped, with a warning.
pub(crate) fn source_lines(text: &str, warnings: &mut Vec<ImportWarning>) -> Vec<SourceLine> {
    let mut lines = Vec::new();
    let mut rest = text;
    let mut number = 0;
    while !rest.is_empty() || number == 0 {
        number += 1;
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        let break_len = if rest[end..].starts_with("\r\n") {
            2
        } else {
            usize::from(end < rest.len())
        };
        rest = &rest[end + break_len..];
        let mut text = trim(line).to_owned();
        if text.contains(is_binary_control) {
            let found: Vec<String> = text
                .chars()
                .filter(|&c| is_binary_control(c))
                .map(|c| format!("U+{:04X}", u32::from(c)))
                .collect();
            let found = found.join(", ");
            warnings.push(ImportWarning::new(
                number,
                Said::new(
                    format!("删除了此行中的控制字符（{found}）"),
                    format!("removed control characters from this line ({found})"),
                ),
            ));
            text = trim(&text.replace(is_binary_control, "")).to_owned();
        }
        if !text.is_empty() {
            lines.push(SourceLine { number, text });
        }
    }
    lines
}

/// Trims whitespace of both widths (U+3000 included), and BOMs and zero-width spaces that
/// editors leave at the start of lines.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}'))
}

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// `二、整改工作具体落实情况`
    Section { number: u32, title: &'a str },
    /// `(一)聚焦…方面`
    Area { number: u32, title: &'a str },
    /// `1.落实…不够及时。`; `marker` is `1.` as written.
    Problem {
        number: u32,
        marker: &'a str,
        title: &'a str,
    },
    /// `(1)专职党组织负责人未及时配置。`
    Sub { number: u32, title: &'a str },
    /// `整改情况:…`, the text after the label.
    Narrative(&'a str),
    /// `整改进度:…`, the text after the label.
    Status(&'a str),
    /// Anything else.
    Text(&'a str),
}

const OPEN: [char; 2] = ['(', '（'];
const CLOSE: [char; 2] = [')', '）'];
pub(crate) const NARRATIVE_LABEL: &str = "整改情况";
pub(crate) const STATUS_LABEL: &str = "整改进度";

/// Classifies a trimmed, non-blank line.
pub(crate) fn classify(line: &str) -> Kind<'_> {
    if let Some(rest) = label(line, NARRATIVE_LABEL) {
        return Kind::Narrative(rest);
    }
    if let Some(rest) = label(line, STATUS_LABEL) {
        return Kind::Status(rest);
    }
    if let Some(kind) = bracketed(line) {
        return kind;
    }
    if let Some(kind) = problem(line) {
        return kind;
    }
    if let Some(kind) = section(line) {
        return kind;
    }
    Kind::Text(line)
}

/// `整改情况:rest`, `整改情况 ：rest`, or the label alone.
fn label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = trim(line.strip_prefix(label)?);
    if rest.is_empty() {
        return Some(rest);
    }
    rest.strip_prefix([':', '：']).map(trim)
}

/// `(一)title` or `(1)title`, in either width.
fn bracketed(line: &str) -> Option<Kind<'_>> {
    let (number, title) = line.strip_prefix(OPEN)?.split_once(CLOSE)?;
    let title = trim(title);
    if let Some(number) = parse_cjk_numeral(number) {
        return Some(Kind::Area { number, title });
    }
    parse_digits(number).map(|number| Kind::Sub { number, title })
}

/// `1.title`, `1、title`, `1．title`; not `1.5万元` nor `2023年`.
fn problem(line: &str) -> Option<Kind<'_>> {
    let (digits, rest) = split_leading(line, |c| ascii_or_wide_digit(c).is_some());
    let number = parse_digits(digits)?;
    let after = rest.strip_prefix(['.', '．', '、'])?;
    if after.starts_with(|c: char| ascii_or_wide_digit(c).is_some()) {
        return None;
    }
    let marker = &line[..line.len() - after.len()];
    Some(Kind::Problem {
        number,
        marker,
        title: trim(after),
    })
}

/// `二、整改工作具体落实情况`: a short title without sentence punctuation, so that a
/// narrative written as `一、召开会议，…。` is not taken for a section.
fn section(line: &str) -> Option<Kind<'_>> {
    let (numeral, rest) = split_leading(line, is_cjk_numeral_char);
    let number = parse_cjk_numeral(numeral)?;
    let title = trim(rest.strip_prefix(['、', '．'])?);
    let length = title.chars().count();
    let is_heading =
        (1..=30).contains(&length) && !title.contains(|c: char| "，,。；;：:！!？?".contains(c));
    is_heading.then_some(Kind::Section { number, title })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_both_widths() {
        let cases = [
            (
                "二、整改工作具体落实情况",
                Kind::Section {
                    number: 2,
                    title: "整改工作具体落实情况",
                },
            ),
            (
                "(一)聚焦",
                Kind::Area {
                    number: 1,
                    title: "聚焦",
                },
            ),
            (
                "（十二） 聚焦",
                Kind::Area {
                    number: 12,
                    title: "聚焦",
                },
            ),
            (
                "(二十)聚焦",
                Kind::Area {
                    number: 20,
                    title: "聚焦",
                },
            ),
            (
                "1.问题。",
                Kind::Problem {
                    number: 1,
                    marker: "1.",
                    title: "问题。",
                },
            ),
            (
                "12、问题",
                Kind::Problem {
                    number: 12,
                    marker: "12、",
                    title: "问题",
                },
            ),
            (
                "１．问题",
                Kind::Problem {
                    number: 1,
                    marker: "１．",
                    title: "问题",
                },
            ),
            (
                "(1)子问题",
                Kind::Sub {
                    number: 1,
                    title: "子问题",
                },
            ),
            (
                "（3）子问题",
                Kind::Sub {
                    number: 3,
                    title: "子问题",
                },
            ),
            (
                "(１０)子问题",
                Kind::Sub {
                    number: 10,
                    title: "子问题",
                },
            ),
            ("整改情况:一是", Kind::Narrative("一是")),
            ("整改情况 ： 一是", Kind::Narrative("一是")),
            ("整改情况", Kind::Narrative("")),
            ("整改进度：整改完成。", Kind::Status("整改完成。")),
            ("整改情况良好", Kind::Text("整改情况良好")),
            ("2023年10月已召开", Kind::Text("2023年10月已召开")),
            ("1.5万元已追回", Kind::Text("1.5万元已追回")),
            (
                "一、召开会议，部署整改。",
                Kind::Text("一、召开会议，部署整改。"),
            ),
            ("一是召开会议", Kind::Text("一是召开会议")),
            ("(甲)其他", Kind::Text("(甲)其他")),
        ];
        for (line, kind) in cases {
            assert_eq!(classify(line), kind, "{line}");
        }
    }

    #[test]
    fn splits_lines_on_any_line_break() {
        let mut warnings = Vec::new();
        let lines = source_lines("\u{feff}a\r\n\r\n　b　\rc\n\u{1a}d\u{7}\n", &mut warnings);
        let lines: Vec<_> = lines.iter().map(|l| (l.number, l.text.as_str())).collect();
        assert_eq!(lines, [(1, "a"), (3, "b"), (4, "c"), (5, "d")]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 5);
        assert!(
            warnings[0].message.contains("U+001A, U+0007"),
            "{}",
            warnings[0].message
        );
    }
}
