//! Keeping a text cursor where it was when the text changes under it (a remote edit merged
//! into the field being typed in). Offsets are UTF-16 code units, as the browser counts them.

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

#[cfg(test)]
mod tests {
    use super::map_offset;

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
