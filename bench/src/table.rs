//! The results table: cells with units, the ratio ours ÷ reference, targets; as Markdown.
//! KB and MB are decimal (1 KB = 1,000 bytes), as in issue #9.

/// One figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Value(f64, Unit),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
    /// Milliseconds to three places (CPU time per change).
    FineMillis,
    Bytes,
    /// Given in KiB (as /proc reports memory), shown in MB.
    Kib,
    Times,
    Count,
    PerSecond,
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn bytes(n: u64) -> String {
    if n < 10_000 {
        format!("{} B", thousands(n))
    } else {
        format!("{} KB", thousands((n as f64 / 1000.0).round() as u64))
    }
}

pub fn megabytes_of_kib(kib: u64) -> String {
    let mb = kib as f64 * 1024.0 / 1e6;
    if mb < 100.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{} MB", thousands(mb.round() as u64))
    }
}

impl Cell {
    pub fn bytes(n: u64) -> Cell {
        Cell::Value(n as f64, Unit::Bytes)
    }

    pub fn kib(n: u64) -> Cell {
        Cell::Value(n as f64, Unit::Kib)
    }

    pub fn secs(s: f64) -> Cell {
        Cell::Value(s, Unit::Seconds)
    }

    pub fn count(n: u64) -> Cell {
        Cell::Value(n as f64, Unit::Count)
    }

    pub fn times(x: f64) -> Cell {
        Cell::Value(x, Unit::Times)
    }

    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub fn show(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Value(v, unit) => match unit {
                Unit::Seconds => format!("{v:.2} s"),
                Unit::Millis => format!("{v:.1} ms"),
                Unit::FineMillis => format!("{v:.3} ms"),
                Unit::Bytes => bytes(v.round() as u64),
                Unit::Kib => megabytes_of_kib(v.round() as u64),
                Unit::Times => format!("{v:.2}×"),
                Unit::Count => thousands(v.round() as u64),
                Unit::PerSecond => format!("{} /s", thousands(v.round() as u64)),
            },
        }
    }
}

/// Whether a target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Met {
    Yes,
    No,
    /// Not measured (a phase failed or was not run).
    Unknown,
}

impl Met {
    pub fn from(ok: Option<bool>) -> Met {
        match ok {
            Some(true) => Met::Yes,
            Some(false) => Met::No,
            None => Met::Unknown,
        }
    }

    pub fn show(self) -> &'static str {
        match self {
            Met::Yes => "yes",
            Met::No => "**no**",
            Met::Unknown => "?",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub measure: String,
    pub ours: Cell,
    pub reference: Cell,
    /// The target, when the issue sets one, and whether it is met.
    pub target: Option<(String, Met)>,
}

impl Row {
    pub fn new(measure: impl Into<String>, ours: Cell, reference: Cell) -> Row {
        Row {
            measure: measure.into(),
            ours,
            reference,
            target: None,
        }
    }

    pub fn target(mut self, text: impl Into<String>, met: Option<bool>) -> Row {
        self.target = Some((text.into(), Met::from(met)));
        self
    }

    /// Ours ÷ reference, when both are numbers of the same unit.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.ours, &self.reference) {
            (Cell::Value(a, ua), Cell::Value(b, ub)) if ua == ub && *b > 0.0 => Some(a / b),
            _ => None,
        }
    }
}

/// A section heading inside the table, or a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Section(String),
    Row(Row),
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The table as Markdown.
pub fn markdown(lines: &[Line], reference_name: &str) -> String {
    let mut out = format!(
        "| Measure | Rectify | {reference_name} | Rectify ÷ reference | Target | Met |\n\
         | --- | ---: | ---: | ---: | --- | --- |\n"
    );
    for line in lines {
        match line {
            Line::Section(title) => out.push_str(&format!("| **{}** | | | | | |\n", escape(title))),
            Line::Row(row) => {
                let ratio = row.ratio().map_or(String::new(), |r| format!("{r:.2}"));
                let (target, met) = row
                    .target
                    .as_ref()
                    .map_or((String::new(), ""), |(t, m)| (escape(t), m.show()));
                out.push_str(&format!(
                    "| {} | {} | {} | {ratio} | {target} | {met} |\n",
                    escape(&row.measure),
                    escape(&row.ours.show()),
                    escape(&row.reference.show()),
                ));
            }
        }
    }
    out
}

/// The table as plain text for a terminal.
pub fn plain(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Section(title) => out.push_str(&format!("\n{title}\n")),
            Line::Row(row) => {
                let ratio = row.ratio().map_or(String::new(), |r| format!("{r:.2}"));
                let target = row
                    .target
                    .as_ref()
                    .map_or(String::new(), |(t, m)| format!("  [{t}: {}]", m.show()));
                out.push_str(&format!(
                    "  {:<58} {:>16} {:>16} {:>7}{target}\n",
                    row.measure,
                    row.ours.show(),
                    row.reference.show(),
                    ratio
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_with_units() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_558_123), "1,558,123");
        assert_eq!(Cell::bytes(812).show(), "812 B");
        assert_eq!(Cell::bytes(9_999).show(), "9,999 B");
        assert_eq!(Cell::bytes(1_558_400).show(), "1,558 KB");
        assert_eq!(Cell::kib(253_906).show(), "260 MB");
        assert_eq!(Cell::kib(10_240).show(), "10.5 MB");
        assert_eq!(Cell::secs(5.2).show(), "5.20 s");
        assert_eq!(Cell::times(2.0).show(), "2.00×");
        assert_eq!(Cell::Value(1234.4, Unit::PerSecond).show(), "1,234 /s");
        assert_eq!(Cell::Value(0.2849, Unit::FineMillis).show(), "0.285 ms");
        assert_eq!(Cell::Value(24.04, Unit::Millis).show(), "24.0 ms");
        assert_eq!(Cell::Empty.show(), "");
    }

    #[test]
    fn the_ratio_needs_two_numbers_of_one_unit() {
        let row = Row::new("CPU", Cell::secs(1.0), Cell::secs(4.0));
        assert_eq!(row.ratio(), Some(0.25));
        assert_eq!(Row::new("x", Cell::secs(1.0), Cell::bytes(4)).ratio(), None);
        assert_eq!(
            Row::new("x", Cell::secs(1.0), Cell::secs(0.0)).ratio(),
            None
        );
        assert_eq!(Row::new("x", Cell::secs(1.0), Cell::Empty).ratio(), None);
    }

    #[test]
    fn markdown_table() {
        let lines = vec![
            Line::Section("Reconnect".to_owned()),
            Line::Row(
                Row::new("Server CPU", Cell::secs(1.0), Cell::secs(3.1))
                    .target("≤ 1/3 of the reference", Some(true)),
            ),
            Line::Row(Row::new("a | b", Cell::text("x"), Cell::Empty).target("t", None)),
        ];
        let md = markdown(&lines, "automerge-repo");
        let expected = "\
| Measure | Rectify | automerge-repo | Rectify ÷ reference | Target | Met |
| --- | ---: | ---: | ---: | --- | --- |
| **Reconnect** | | | | | |
| Server CPU | 1.00 s | 3.10 s | 0.32 | ≤ 1/3 of the reference | yes |
| a \\| b | x |  |  | t | ? |
";
        assert_eq!(md, expected);
        assert!(plain(&lines).contains("Server CPU"));
    }
}
