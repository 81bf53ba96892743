//! A calendar date without time zone: deadlines, inspection periods, feedback dates.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A civil date (proleptic Gregorian). Serialized as `YYYY-MM-DD`.
///
/// Stored and synced: change the text form only with a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// `None` when the day does not exist (2023-02-30).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (negative before). From Howard Hinnant's `days_from_civil`.
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Date::days_since_epoch`].
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The date `days` days after this one (before, when negative).
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }

    /// The UTC date of a Unix timestamp in milliseconds.
    pub fn from_unix_millis(millis: i64) -> Date {
        Date::from_days_since_epoch(millis.div_euclid(86_400_000))
    }

    /// The date in China (UTC+8, no daylight saving) at a Unix timestamp in milliseconds:
    /// "today" for every deadline, overdue count and "due within N days", on the server and
    /// in the browser alike. Deadlines are Chinese calendar days, so between 00:00 and 08:00
    /// China time the UTC date would still be yesterday's.
    pub fn in_china(millis: i64) -> Date {
        Date::from_unix_millis(millis + CHINA_OFFSET_MS)
    }
}

/// China Standard Time's offset from UTC, in milliseconds.
pub const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `text` has the form YYYY-MM-DD but names no day (2026-02-30, 2026-13-01): the
/// date fields refuse it with words of its own rather than as a wrong form.
pub fn names_no_day(text: &str) -> bool {
    let form = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    form && text.parse::<Date>().is_err()
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The text was not a valid `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date of the form YYYY-MM-DD")]
pub struct DateParseError(pub String);

impl FromStr for Date {
    type Err = DateParseError;

    fn from_str(s: &str) -> Result<Date, DateParseError> {
        let err = || DateParseError(s.to_owned());
        let mut parts = s.trim().splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err());
        };
        let year = y.parse().map_err(|_| err())?;
        let month = m.parse().map_err(|_| err())?;
        let day = d.parse().map_err(|_| err())?;
        Date::new(year, month, day).ok_or_else(err)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_well_formed_day_that_does_not_exist_names_no_day() {
        for (text, no_day) in [
            ("2026-02-30", true),
            ("2026-13-01", true),
            ("2026-00-10", true),
            ("2026-04-31", true),
            ("2023-02-29", true),
            ("2024-02-29", false),
            ("2026-12-31", false),
            // Not the form: the field's pattern judges that.
            ("2026-2-30", false),
            ("", false),
            ("abcd-ef-gh", false),
        ] {
            assert_eq!(names_no_day(text), no_day, "{text}");
        }
    }

    #[test]
    fn today_is_the_date_in_china() {
        let ms = |iso_utc: (i32, u8, u8, i64)| {
            let (y, m, d, hour) = iso_utc;
            Date::new(y, m, d).unwrap().days_since_epoch() * 86_400_000 + hour * 3_600_000
        };
        let cases = [
            // 15:59 UTC is 23:59 in Beijing: the same day.
            ((2024, 3, 1, 15), (2024, 3, 1)),
            // 16:00 UTC is midnight in Beijing: already the next day, where UTC says the 1st.
            ((2024, 3, 1, 16), (2024, 3, 2)),
            ((2024, 3, 1, 23), (2024, 3, 2)),
            // Across a month and a year.
            ((2024, 2, 29, 20), (2024, 3, 1)),
            ((2023, 12, 31, 18), (2024, 1, 1)),
        ];
        for (utc, (y, m, d)) in cases {
            assert_eq!(
                Date::in_china(ms(utc)),
                Date::new(y, m, d).unwrap(),
                "{utc:?}"
            );
        }
        assert_eq!(
            Date::from_unix_millis(ms((2024, 3, 1, 16))),
            Date::new(2024, 3, 1).unwrap(),
            "the UTC date lags"
        );
    }

    use super::*;

    #[test]
    fn epoch_days_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 19_614, 60_000] {
            let date = Date::from_days_since_epoch(days);
            assert_eq!(date.days_since_epoch(), days, "{date}");
        }
        assert_eq!(Date::new(2023, 9, 14).unwrap().days_since_epoch(), 19_614);
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "2024-02-29".parse::<Date>(),
            Ok(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
        assert!("yesterday".parse::<Date>().is_err());
    }
}
