//! Chinese numerals (一, 十一, 二十, 一百零五) as used for sections, areas and measure
//! ordinals, and Arabic digits in both widths (1, １).

/// The value of one Chinese digit character, `None` for anything else.
fn cjk_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '零' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// A character that can be part of a Chinese numeral.
pub(crate) fn is_cjk_numeral_char(c: char) -> bool {
    cjk_digit(c).is_some() || c == '十' || c == '百'
}

/// Parses a Chinese numeral: `一` … `九`, `十`, `十一`, `二十`, `一百零五`, and digit by
/// digit (`一〇一`), which is how [`cjk_numeral`] writes numbers from 1000 on.
/// `None` for anything else, including the empty string.
pub(crate) fn parse_cjk_numeral(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if !s.contains(['十', '百']) {
        // Positional: 一〇〇〇. A lone 零 is zero.
        let mut value: u32 = 0;
        for c in s.chars() {
            value = value.checked_mul(10)?.checked_add(cjk_digit(c)?)?;
        }
        return Some(value);
    }
    let mut total = 0;
    let mut digit: Option<u32> = None;
    // Units must come in decreasing order (百 before 十), each at most once.
    let mut last_unit = u32::MAX;
    for c in s.chars() {
        let unit = match c {
            '百' => 100,
            '十' => 10,
            '零' | '〇' if digit.is_none() => continue,
            _ => {
                if digit.is_some() {
                    return None; // two digits in a row: 二三
                }
                digit = Some(cjk_digit(c)?);
                continue;
            }
        };
        if unit >= last_unit {
            return None;
        }
        last_unit = unit;
        // A bare 十 means 一十; a bare 百 is not written that way.
        let multiplier = match digit.take() {
            Some(d) => d,
            None if unit == 10 => 1,
            None => return None,
        };
        total += multiplier * unit;
    }
    Some(total + digit.unwrap_or(0))
}

/// Writes `n` as a Chinese numeral the way reports do: 一, 十, 十一, 二十一, 一百零五.
/// From 1000 on it writes digit by digit (一〇〇〇), which [`parse_cjk_numeral`] reads back.
pub fn cjk_numeral(n: u32) -> String {
    const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    let digit = |d: u32| DIGITS[(d % 10) as usize];
    let mut out = String::new();
    match n {
        0..=9 => out.push(digit(n)),
        10..=19 => {
            out.push('十');
            if n > 10 {
                out.push(digit(n));
            }
        }
        20..=99 => {
            out.push(digit(n / 10));
            out.push('十');
            if !n.is_multiple_of(10) {
                out.push(digit(n));
            }
        }
        100..=999 => {
            out.push(digit(n / 100));
            out.push('百');
            match n % 100 {
                0 => {}
                rest @ 1..=9 => {
                    out.push('零');
                    out.push(digit(rest));
                }
                rest => {
                    out.push(digit(rest / 10));
                    out.push('十');
                    if !rest.is_multiple_of(10) {
                        out.push(digit(rest));
                    }
                }
            }
        }
        _ => {
            for c in n.to_string().chars() {
                out.push(match c.to_digit(10) {
                    Some(0) => '〇',
                    Some(d) => digit(d),
                    None => c,
                });
            }
        }
    }
    out
}

/// An Arabic digit in either width (`7` or `７`).
pub(crate) fn ascii_or_wide_digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    }
}

/// Parses a run of Arabic digits in either width. `None` when empty, not all digits,
/// or too large.
pub(crate) fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.chars().try_fold(0u32, |acc, c| {
        acc.checked_mul(10)?.checked_add(ascii_or_wide_digit(c)?)
    })
}

/// Splits `s` into its leading run of characters matching `pred` and the rest.
pub(crate) fn split_leading(s: &str, pred: impl Fn(char) -> bool) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(_, c)| !pred(c))
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_numerals_round_trip() {
        for n in (0..=1200).chain([9999, 20240, u32::MAX]) {
            let written = cjk_numeral(n);
            assert_eq!(
                parse_cjk_numeral(&written),
                Some(n),
                "{n} written as {written}"
            );
        }
    }

    #[test]
    fn reads_the_usual_forms() {
        let cases = [
            ("一", 1),
            ("十", 10),
            ("十一", 11),
            ("二十", 20),
            ("两", 2),
            ("一百零五", 105),
        ];
        for (text, value) in cases {
            assert_eq!(parse_cjk_numeral(text), Some(value), "{text}");
        }
        for bad in ["", "二三十", "十十", "百", "甲", "十百"] {
            assert_eq!(parse_cjk_numeral(bad), None, "{bad}");
        }
    }

    #[test]
    fn digits_in_both_widths() {
        assert_eq!(parse_digits("12"), Some(12));
        assert_eq!(parse_digits("１２"), Some(12));
        assert_eq!(parse_digits(""), None);
        assert_eq!(parse_digits("99999999999"), None);
    }
}
