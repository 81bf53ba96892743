//! Keeping a text cursor where it was when the text changes under it (a remote edit merged
//! into the field being typed in; offsets are UTF-16 code units, as the browser counts them),
//! and finding the changed part of a text so the history can highlight it.

/// Where `offset` in `old` is in `new`: unchanged before the edited region, moved by the
/// length difference after it, and at the end of the new text inside it.
pub fn map_offset(old: &str, new: &str, offset: usize) -> usize {
    let old: Vec<u16> = old.encode_utf16().collect();
    let new: Vec<u16> = new.encode_utf16().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let offset = offset.min(old.len());
    if offset <= prefix {
        offset
    } else if offset >= old.len() - suffix {
        offset + new.len() - old.len()
    } else {
        new.len() - suffix
    }
}

/// A text cut into what stayed and what changed: `prefix + removed + suffix` is the text
/// before, `prefix + inserted + suffix` the text after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextChange<'a> {
    pub prefix: &'a str,
    pub removed: &'a str,
    pub inserted: &'a str,
    pub suffix: &'a str,
}

/// The part of `before` replaced to get `after`, as one span between the longest common
/// prefix and the longest common suffix (in chars, so no char is ever cut). A history line
/// shows the whole text with this span marked; one span is enough for a typing session.
/// When the edit is ambiguous (`aaa` → `aa`) the prefix takes as much as it can.
pub fn changed_span<'a>(before: &'a str, after: &'a str) -> TextChange<'a> {
    // Equal chars are equal bytes, so a char boundary in one string is one in the other.
    let prefix_len: usize = before
        .chars()
        .zip(after.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let (before_rest, after_rest) = (&before[prefix_len..], &after[prefix_len..]);
    let suffix_len: usize = before_rest
        .chars()
        .rev()
        .zip(after_rest.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    TextChange {
        prefix: &after[..prefix_len],
        removed: &before_rest[..before_rest.len() - suffix_len],
        inserted: &after_rest[..after_rest.len() - suffix_len],
        suffix: &after_rest[after_rest.len() - suffix_len..],
    }
}

#[cfg(test)]
mod tests {
    use super::{TextChange, changed_span, map_offset};
    use proptest::prelude::*;

    #[test]
    fn the_changed_span_lies_between_what_stayed() {
        // (before, after, (prefix, removed, inserted, suffix))
        let cases = [
            ("已建立台账", "已建立台账", ("已建立台账", "", "", "")),
            ("", "", ("", "", "", "")),
            ("", "已建立台账", ("", "", "已建立台账", "")), // typed into an empty field
            ("已建立台账", "", ("", "已建立台账", "", "")), // cleared
            ("已建立台账", "已建立台账。", ("已建立台账", "", "。", "")), // appended
            (
                "已建立台账",
                "我们已建立台账",
                ("", "", "我们", "已建立台账"),
            ), // prepended
            (
                "已建立采购台账",
                "已建立台账",
                ("已建立", "采购", "", "台账"),
            ), // deleted
            ("已建立台账", "已修订台账", ("已", "建立", "修订", "台账")), // replaced
            ("abcdef", "aXf", ("a", "bcde", "X", "f")),
            ("😀台账", "😃台账", ("", "😀", "😃", "台账")), // emoji are one char each
            ("台账😀", "台账😀😀", ("台账😀", "", "😀", "")),
            ("👍🏻", "👍🏽", ("👍", "🏻", "🏽", "")), // chars, not graphemes: only the skin tone
            ("aaa", "aa", ("aa", "a", "", "")),   // ambiguous: the prefix takes most
            ("台账台账", "台账", ("台账", "台账", "", "")),
        ];
        for (before, after, (prefix, removed, inserted, suffix)) in cases {
            let expected = TextChange {
                prefix,
                removed,
                inserted,
                suffix,
            };
            assert_eq!(
                changed_span(before, after),
                expected,
                "{before:?} → {after:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_span_puts_both_texts_back_together(before in "[a台😀]{0,8}", after in "[a台😀]{0,8}") {
            let change = changed_span(&before, &after);
            prop_assert_eq!(format!("{}{}{}", change.prefix, change.removed, change.suffix), before.as_str());
            prop_assert_eq!(format!("{}{}{}", change.prefix, change.inserted, change.suffix), after.as_str());
            // Nothing that stayed is marked as changed.
            let (removed, inserted) = (change.removed, change.inserted);
            prop_assert!(removed.is_empty() || inserted.is_empty() || (
                removed.chars().next() != inserted.chars().next()
                    && removed.chars().last() != inserted.chars().last()
            ));
        }
    }

    #[test]
    fn the_cursor_stays_with_the_text_around_it() {
        // (old, new, cursor before, cursor after)
        let cases = [
            ("已建立台账", "已建立台账", 3, 3),
            ("已建立台账", "我们已建立台账", 2, 4), // inserted before the cursor
            ("已建立台账", "已建立台账。", 3, 3),   // inserted after it
            ("已建立台账", "已台账", 4, 2),         // deleted before it
            ("已建立台账", "已建立新台账", 3, 3),   // inserted at it: stays before
            ("abc", "aXc", 2, 2),                   // the character it followed was replaced
            ("abcdef", "aXf", 3, 2),                // inside a replaced region: its end
            ("😀ab", "😀xab", 3, 4),                // UTF-16: the emoji is two units
            ("", "新", 0, 0),
            ("abc", "", 2, 0),
            ("abc", "abc", 9, 3), // out of range: clamped
        ];
        for (old, new, before, after) in cases {
            assert_eq!(
                map_offset(old, new, before),
                after,
                "{old:?} → {new:?} at {before}"
            );
        }
    }
}
