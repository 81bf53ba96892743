//! The status wordings of the genre (整改进度) and what they mean.

use super::Said;
use crate::status::PublicStatus;

/// The meaning of a 整改进度 wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusReading {
    pub status: PublicStatus,
    /// Set when the wording is not one a report uses for `status`: what it was taken
    /// for and why, for the import warnings.
    pub note: Option<Said>,
}

/// Wordings that mean the item is done (整改完成). Compared without punctuation or spaces.
const DONE: &[&str] = &[
    "整改完成",
    "已完成",
    "完成整改",
    "已整改",
    "整改到位",
    "已整改完成",
    "已完成整改",
    "整改已完成",
    "已整改到位",
];

/// Wordings that mean the work is under way (正在整改中).
const IN_PROGRESS: &[&str] = &["正在整改中", "正在整改", "整改中"];

/// Wordings other documents use for unfinished work: imported as in progress, with a note.
/// Each with why, in Chinese and in English.
const NOT_DONE: &[(&[&str], &str, &str)] = &[
    (
        &["基本完成", "已基本完成", "基本完成整改", "整改基本完成"],
        "“基本完成”不能销号：没整改到位绝不销号",
        "基本完成 (basically done) is not a sign-off: 没整改到位绝不销号",
    ),
    (
        &["未完成", "尚未完成", "未完成整改", "整改未完成"],
        "“未完成”在报告的用语中就是“正在整改中”",
        "未完成 (not finished) is the same as 正在整改中 in the report's wording",
    ),
    (
        &["持续整改", "持续整改中"],
        "“持续整改”表示尚未完成；已完成并需长期保持的写作“整改完成，长期坚持”",
        "持续整改 (still being worked on) is not done; work that is done and kept up is \
         worded 整改完成，长期坚持",
    ),
];

const LONG_TERM: &str = "长期坚持";

/// Reads a 整改进度 wording (without the label and the final 。). `None` when it is not a
/// known wording.
pub(crate) fn read_status(wording: &str) -> Option<StatusReading> {
    let key: String = wording
        .chars()
        .filter(|&c| !is_wording_separator(c))
        .collect();
    let plain = |status| Some(StatusReading { status, note: None });
    let not_done = |key: &str| {
        NOT_DONE
            .iter()
            .find(|(words, _, _)| words.contains(&key))
            .map(|(_, why_zh, why)| {
                let in_progress = PublicStatus::InProgress.wording();
                StatusReading {
                    status: PublicStatus::InProgress,
                    note: Some(Said::new(
                        format!("整改进度“{wording}”按“{in_progress}”导入：{why_zh}"),
                        format!(
                            "整改进度 \"{wording}\" was imported as {in_progress} (in progress): \
                             {why}"
                        ),
                    )),
                }
            })
    };
    if let Some(before) = key.strip_suffix(LONG_TERM) {
        // 整改完成，长期坚持 and its variants; 并 as in 已完成并长期坚持.
        let before = before.strip_suffix('并').unwrap_or(before);
        if before.is_empty() || DONE.contains(&before) {
            return plain(PublicStatus::DoneLongTerm);
        }
        return not_done(before);
    }
    if DONE.contains(&key.as_str()) {
        return plain(PublicStatus::Done);
    }
    if IN_PROGRESS.contains(&key.as_str()) {
        return plain(PublicStatus::InProgress);
    }
    not_done(&key)
}

/// Punctuation and spaces that do not change the meaning of a wording.
fn is_wording_separator(c: char) -> bool {
    c.is_whitespace() || "，,、；;。.．".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PublicStatus::*;

    #[test]
    fn report_wordings_are_read_without_notes() {
        let cases = [
            ("整改完成", Done),
            ("已完成", Done),
            ("完成整改", Done),
            ("已整改", Done),
            ("整改到位", Done),
            ("整改完成，长期坚持", DoneLongTerm),
            ("整改完成,长期坚持", DoneLongTerm),
            ("整改完成、长期坚持", DoneLongTerm),
            ("整改完成 长期坚持", DoneLongTerm),
            ("整改完成　长期坚持", DoneLongTerm),
            ("已完成，长期坚持", DoneLongTerm),
            ("长期坚持", DoneLongTerm),
            ("正在整改中", InProgress),
            ("正在整改", InProgress),
            ("整改中", InProgress),
        ];
        for (wording, status) in cases {
            assert_eq!(
                read_status(wording),
                Some(StatusReading { status, note: None }),
                "{wording}"
            );
        }
    }

    #[test]
    fn other_wordings_of_the_genre_come_with_a_note() {
        for wording in ["基本完成", "未完成", "持续整改", "基本完成，长期坚持"]
        {
            let reading = read_status(wording).expect(wording);
            assert_eq!(reading.status, InProgress);
            assert!(
                reading
                    .note
                    .is_some_and(|n| n.en.contains(wording) && n.zh.contains(wording)),
                "{wording}"
            );
        }
        assert_eq!(read_status("差不多了"), None);
        assert_eq!(read_status("正在整改中，长期坚持"), None);
    }
}
