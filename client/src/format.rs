//! Values as people read them, shared by pages and components: device times, the report's
//! area numerals, days to a deadline, what went wrong with an API call, and file sizes.

use crate::i18n::{Lang, Msg, tr};
use crate::services::api::ApiFailure;

/// A device time as `MM-DD HH:MM`, local time.
pub fn when(ms: i64) -> String {
    let date = js_sys::Date::new(&(ms as f64).into());
    format!(
        "{:02}-{:02} {:02}:{:02}",
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// A device time as `YYYY-MM-DD HH:MM`, local time (the audit log: entries span years).
#[cfg(feature = "office")]
pub fn when_full(ms: i64) -> String {
    let date = js_sys::Date::new(&(ms as f64).into());
    format!("{}-{}", date.get_full_year(), when(ms))
}

/// `2` → `(二)`: the report's own numbering of areas.
pub fn area_numeral(no: u32) -> String {
    const AREAS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    AREAS
        .get((no as usize).wrapping_sub(1))
        .map(|a| format!("({a})"))
        .unwrap_or_default()
}

/// Days to a deadline in words: `逾期3天`, `今天到期`, `due in 2 days`.
#[cfg(feature = "office")]
pub fn days_label(lang: Lang, days: i64) -> String {
    match (lang, days) {
        (Lang::Zh, d) if d < 0 => format!("逾期{}天", -d),
        (Lang::Zh, 0) => "今天到期".to_owned(),
        (Lang::Zh, d) => format!("{d}天后到期"),
        (Lang::En, d) if d < 0 => format!("{} days late", -d),
        (Lang::En, 0) => "due today".to_owned(),
        (Lang::En, d) => format!("due in {d} days"),
    }
}

/// What went wrong with an API call, for the user.
pub fn describe(lang: Lang, failure: &ApiFailure) -> String {
    match failure {
        ApiFailure::Network => tr(lang, Msg::NetworkError).to_owned(),
        ApiFailure::Refused { message_zh, .. } if lang == Lang::Zh && !message_zh.is_empty() => {
            message_zh.clone()
        }
        ApiFailure::Refused {
            status: 403,
            message,
            ..
        } if message.is_empty() => tr(lang, Msg::Forbidden).to_owned(),
        ApiFailure::Refused {
            status, message, ..
        } if message.is_empty() => format!("HTTP {status}"),
        ApiFailure::Refused { message, .. } => message.clone(),
    }
}

/// `850 KB`, `2.3 MB`, `2 GB`.
pub fn human_size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    const GB: u64 = 1024 * MB;
    let one_decimal = |value: f64, unit: &str| {
        let text = format!("{value:.1}");
        format!("{} {unit}", text.trim_end_matches(".0"))
    };
    if bytes >= GB {
        one_decimal(bytes as f64 / GB as f64, "GB")
    } else if bytes >= MB {
        one_decimal(bytes as f64 / MB as f64, "MB")
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Work not on the server yet, in words: "3 项修改，1 个文件" (what is zero is left out).
pub fn waiting_work(lang: Lang, changes: usize, files: usize, refused: usize) -> String {
    [
        (changes, Msg::LogOutChanges),
        (files, Msg::LogOutFiles),
        (refused, Msg::LogOutRefused),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {}", tr(lang, what)))
    .collect::<Vec<_>>()
    .join(match lang {
        Lang::Zh => "，",
        Lang::En => ", ",
    })
}
