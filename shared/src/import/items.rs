//! Section 二, line by line: areas `(一)`, problems `1.`, sub-problems `(1)`, and the
//! `整改情况:` / `整改进度:` of each leaf item.
//!
//! Whatever does not fit is kept where it most likely belongs and reported as a warning
//! with its line number; nothing is fixed silently.

use super::extract::{dates, document_numbers, measures};
use super::lines::{Kind, NARRATIVE_LABEL, STATUS_LABEL, SourceLine};
use super::numerals::{ascii_or_wide_digit, cjk_numeral, parse_digits, split_leading};
use super::wording::read_status;
use super::{ImportWarning, Said};
use crate::report::{Area, Item, Problem};
use crate::status::PublicStatus;
use std::ops::Range;

/// Parses the lines `range` of `lines` (the section that holds the items) into areas.
/// Lines whose index is in `skip` (opening paragraph, signature) are not looked at.
pub(crate) fn parse_items(
    lines: &[SourceLine],
    kinds: &[Kind<'_>],
    range: Range<usize>,
    skip: &[usize],
    warnings: &mut Vec<ImportWarning>,
) -> Vec<Area> {
    let mut builder = Builder::new(warnings);
    for i in range.filter(|i| !skip.contains(i)) {
        let (line, kind) = (&lines[i], kinds[i]);
        let n = line.number;
        match kind {
            Kind::Text(text) if is_totals(text) => builder.totals(n, text),
            Kind::Area { number, title } => builder.area(n, number, title),
            Kind::Problem {
                number,
                marker,
                title,
            } => {
                builder.problem(n, number, marker, title, next_problem(&kinds[i + 1..]));
            }
            Kind::Sub { number, title } => builder.sub(n, number, title),
            Kind::Narrative(rest) => builder.narrative(n, rest),
            Kind::Status(rest) => builder.status(n, rest),
            Kind::Text(_) | Kind::Section { .. } => builder.text(n, &line.text),
        }
    }
    builder.finish()
}

/// The number of the next problem in the same area, if any.
fn next_problem(kinds: &[Kind<'_>]) -> Option<u32> {
    kinds
        .iter()
        .find_map(|kind| match kind {
            Kind::Problem { number, .. } => Some(Some(*number)),
            Kind::Area { .. } | Kind::Section { .. } => Some(None),
            _ => None,
        })
        .flatten()
}

/// What the previous lines have opened, i.e. what a plain text line continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No area header yet.
    BeforeArea,
    /// Lines that were reported once and are skipped up to the next header.
    Skipping,
    /// Right after a header: a text line continues its title.
    AfterTitle(Title),
    /// After `整改情况:`: a text line continues the narrative.
    Narrative,
    /// After a bare `整改进度:`: the next line is the wording.
    StatusNext,
    /// After `整改进度:…`: the item is complete.
    AfterStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Title {
    Area,
    Problem,
    Item,
}

struct OpenProblem {
    area: u32,
    number: u32,
    title: String,
    line: usize,
    items: Vec<Item>,
    /// The problem has its own 整改情况/整改进度 (an item with `sub: None`).
    direct: bool,
    last_sub: Option<u32>,
}

struct OpenItem {
    sub: Option<u32>,
    title: String,
    line: usize,
    /// The line of `整改情况:` and the text so far.
    narrative: Option<(usize, String)>,
    status_line: Option<usize>,
    status: Option<(PublicStatus, String)>,
}

impl OpenItem {
    fn new(sub: Option<u32>, title: &str, line: usize) -> OpenItem {
        OpenItem {
            sub,
            title: title.to_owned(),
            line,
            narrative: None,
            status_line: None,
            status: None,
        }
    }
}

struct Builder<'w> {
    warnings: &'w mut Vec<ImportWarning>,
    areas: Vec<Area>,
    area_line: usize,
    problem: Option<OpenProblem>,
    item: Option<OpenItem>,
    state: State,
    /// A closing summary line (截至目前，共反馈问题24个…): its line and figures.
    totals: Option<(usize, Option<u32>, Option<u32>)>,
}

impl<'w> Builder<'w> {
    fn new(warnings: &'w mut Vec<ImportWarning>) -> Builder<'w> {
        Builder {
            warnings,
            areas: Vec::new(),
            area_line: 0,
            problem: None,
            item: None,
            state: State::BeforeArea,
            totals: None,
        }
    }

    fn warn(&mut self, line: usize, said: Said) {
        self.warnings.push(ImportWarning::new(line, said));
    }

    fn area(&mut self, n: usize, number: u32, title: &str) {
        self.close_problem();
        self.check_area_has_problems();
        let previous = self.areas.last().map(|a| a.number);
        if let Some(note) = numbering(previous, number, area_name, &Said::default()) {
            self.warn(n, note);
        }
        if title.is_empty() {
            let name = area_name(number);
            self.warn(
                n,
                Said::new(
                    format!("{}没有标题", name.zh),
                    format!("{} has no title", name.en),
                ),
            );
        }
        self.areas.push(Area {
            number,
            title: title.to_owned(),
            problems: Vec::new(),
        });
        self.area_line = n;
        self.state = State::AfterTitle(Title::Area);
    }

    fn problem(&mut self, n: usize, number: u32, marker: &str, title: &str, next: Option<u32>) {
        let Some(area) = self.areas.last().map(|a| a.number) else {
            self.warn(
                n,
                Said::new(
                    format!(
                        "“{marker}”出现在任何“(一)聚焦…”这样的部分标题之前：这个问题及其各行已跳过"
                    ),
                    format!(
                        "\"{marker}\" comes before any area header such as \"(一)聚焦…\": this \
                         problem and its lines were skipped"
                    ),
                ),
            );
            self.state = State::Skipping;
            return;
        };
        if let Some(open) = &self.problem
            && let Some(last_sub) = open.last_sub
            && Some(number) == last_sub.checked_add(1)
            && number <= open.number
            && next.is_none_or(|next| Some(next) == open.number.checked_add(1))
        {
            // 1. … 7.(1) then "2." then 8.: the author wrote 2. for (2).
            let (p, a) = (open.number, cjk_numeral(area));
            let (follows_zh, follows) = match next {
                Some(next) => (
                    format!("其后是第{next}个问题"),
                    format!("and problem {next} follows"),
                ),
                None => (
                    "本部分其后没有别的问题".to_owned(),
                    "and no other problem follows in this area".to_owned(),
                ),
            };
            let note = Said::new(
                format!(
                    "“{marker}”按{}第{p}个问题的第({number})项读取：问题编号已到{p}，\
                     第({last_sub})项未结束，{follows_zh}，所以“{marker}”应是“({number})”的笔误",
                    area_name(area).zh
                ),
                format!(
                    "\"{marker}\" is read as sub-problem ({number}) of problem {p} in area ({a}): \
                     the problem numbers had reached {p}, sub-problem ({last_sub}) was open \
                     {follows}, so \"{marker}\" looks like a typo for \"({number})\""
                ),
            );
            self.warn(n, note);
            self.sub(n, number, title);
            return;
        }
        self.close_problem();
        let previous = self
            .areas
            .last()
            .and_then(|a| a.problems.last())
            .map(|p| p.number);
        let name = area_name(area);
        let context = Said::new(format!("{}的", name.zh), format!(" in {}", name.en));
        let problem_name = |n| Said::new(format!("第{n}个问题"), format!("problem {n}"));
        if let Some(note) = numbering(previous, number, problem_name, &context) {
            self.warn(n, note);
        }
        if title.is_empty() {
            self.warn(
                n,
                Said::new(
                    format!("{}第{number}个问题没有标题", name.zh),
                    format!("problem {number}{} has no title", context.en),
                ),
            );
        }
        self.problem = Some(OpenProblem {
            area,
            number,
            title: title.to_owned(),
            line: n,
            items: Vec::new(),
            direct: false,
            last_sub: None,
        });
        self.state = State::AfterTitle(Title::Problem);
    }

    fn sub(&mut self, n: usize, number: u32, title: &str) {
        if !self.in_area(n) {
            return;
        }
        if self.problem.is_none() {
            let area = self.areas.last().map_or(0, |a| a.number);
            let name = area_name(area);
            self.warn(
                n,
                Said::new(
                    format!(
                        "第({number})项出现在{}的任何问题之前：连同其各行已跳过",
                        name.zh
                    ),
                    format!(
                        "sub-problem ({number}) comes before any problem of {}: skipped with its \
                         lines",
                        name.en
                    ),
                ),
            );
            self.state = State::Skipping;
            return;
        }
        self.close_item();
        let Some(problem) = &mut self.problem else {
            return;
        };
        let name = area_name(problem.area);
        let context = Said::new(
            format!("{}第{}个问题的", name.zh, problem.number),
            format!(" in problem {} of {}", problem.number, name.en),
        );
        let mut notes = Vec::new();
        if problem.direct && problem.last_sub.is_none() {
            notes.push(Said::new(
                format!(
                    "{}第({number})项出现在问题本身的{NARRATIVE_LABEL}/{STATUS_LABEL}之后：\
                     作为该问题的另一个事项导入",
                    context.zh
                ),
                format!(
                    "sub-problem ({number}) follows the problem's own \
                     {NARRATIVE_LABEL}/{STATUS_LABEL}{}: imported as another item of the problem",
                    context.en
                ),
            ));
        }
        notes.extend(numbering(
            problem.last_sub,
            number,
            |n| Said::new(format!("第({n})项"), format!("sub-problem ({n})")),
            &context,
        ));
        problem.last_sub = Some(number);
        if title.is_empty() {
            notes.push(Said::new(
                format!("{}第({number})项没有标题", context.zh),
                format!("sub-problem ({number}){} has no title", context.en),
            ));
        }
        for note in notes {
            self.warn(n, note);
        }
        self.item = Some(OpenItem::new(Some(number), title, n));
        self.state = State::AfterTitle(Title::Item);
    }

    fn narrative(&mut self, n: usize, rest: &str) {
        if !self.in_problem(n, NARRATIVE_LABEL) {
            return;
        }
        let label = self.item_label();
        let item = self.content_item();
        let note = match (&mut item.narrative, &item.status) {
            (None, None) => {
                item.narrative = Some((n, rest.to_owned()));
                None
            }
            (None, Some(_)) => {
                item.narrative = Some((n, rest.to_owned()));
                Some(Said::new(
                    format!("{}的{NARRATIVE_LABEL}在{STATUS_LABEL}之后", label.zh),
                    format!(
                        "{NARRATIVE_LABEL} comes after {STATUS_LABEL} in {}",
                        label.en
                    ),
                ))
            }
            (Some((_, text)), _) => {
                append_line(text, rest);
                Some(Said::new(
                    format!("{}有第二个{NARRATIVE_LABEL}：接在第一个之后", label.zh),
                    format!(
                        "a second {NARRATIVE_LABEL} in {}: appended to the first",
                        label.en
                    ),
                ))
            }
        };
        if let Some(note) = note {
            self.warn(n, note);
        }
        self.state = State::Narrative;
    }

    fn status(&mut self, n: usize, rest: &str) {
        if !self.in_problem(n, STATUS_LABEL) {
            return;
        }
        if rest.is_empty() {
            // The wording may be on the next line.
            let item = self.content_item();
            item.status_line.get_or_insert(n);
            self.state = State::StatusNext;
            return;
        }
        self.set_status(n, rest);
    }

    fn set_status(&mut self, n: usize, written: &str) {
        let label = self.item_label();
        let wording = written
            .trim_end_matches(['。', '.', '．', '；', ';'])
            .trim_end();
        let item = self.content_item();
        item.status_line.get_or_insert(n);
        let note = if let Some((_, first)) = &item.status {
            Some(Said::new(
                format!(
                    "{}有第二个{STATUS_LABEL}（“{wording}”）：保留第一个（“{first}”）",
                    label.zh
                ),
                format!(
                    "a second {STATUS_LABEL} in {} (\"{wording}\"): the first one \
                     (\"{first}\") was kept",
                    label.en
                ),
            ))
        } else {
            let (status, note) = match read_status(wording) {
                Some(reading) => (reading.status, reading.note),
                None => {
                    let (in_progress, done, long_term) = (
                        PublicStatus::InProgress.wording(),
                        PublicStatus::Done.wording(),
                        PublicStatus::DoneLongTerm.wording(),
                    );
                    (
                        PublicStatus::InProgress,
                        Some(Said::new(
                            format!(
                                "{}的{STATUS_LABEL}“{wording}”无法识别：按“{in_progress}”导入；\
                                 报告的用语是“{done}”“{long_term}”和“{in_progress}”",
                                label.zh
                            ),
                            format!(
                                "unknown {STATUS_LABEL} \"{wording}\" in {}: imported as \
                                 {in_progress} (in progress); the report's wordings are {done}, \
                                 {long_term} and {in_progress}",
                                label.en
                            ),
                        )),
                    )
                }
            };
            item.status = Some((status, wording.to_owned()));
            note
        };
        if let Some(note) = note {
            self.warn(n, note);
        }
        self.state = State::AfterStatus;
    }

    fn text(&mut self, n: usize, text: &str) {
        match self.state {
            State::Skipping => {}
            State::BeforeArea => {
                self.in_area(n);
            }
            State::AfterTitle(title) => {
                let (target, name) = match title {
                    Title::Area => {
                        let area = self.areas.last_mut();
                        let name = area
                            .as_ref()
                            .map(|a| area_name(a.number))
                            .unwrap_or_default();
                        (area.map(|a| &mut a.title), name)
                    }
                    Title::Problem => {
                        let name = self.item_label();
                        (self.problem.as_mut().map(|p| &mut p.title), name)
                    }
                    Title::Item => {
                        let name = self.item_label();
                        (self.item.as_mut().map(|i| &mut i.title), name)
                    }
                };
                if let Some(target) = target {
                    target.push_str(text);
                }
                self.warn(
                    n,
                    Said::new(
                        format!(
                            "此行既不是标题也不是{NARRATIVE_LABEL}/{STATUS_LABEL}：作为{}标题的\
                             后半部分，接在标题后",
                            name.zh
                        ),
                        format!(
                            "this line is not a header nor {NARRATIVE_LABEL}/{STATUS_LABEL}: read \
                             as the rest of the title of {} and joined to it",
                            name.en
                        ),
                    ),
                );
            }
            State::Narrative => {
                if let Some((_, narrative)) = self.item.as_mut().and_then(|i| i.narrative.as_mut())
                {
                    append_line(narrative, text);
                }
            }
            State::StatusNext => self.set_status(n, text),
            State::AfterStatus => {
                let label = self.item_label();
                self.warn(
                    n,
                    Said::new(
                        format!(
                            "{}的{STATUS_LABEL}之后的文字已忽略：此处应是下一个事项、问题或部分",
                            label.zh
                        ),
                        format!(
                            "text after the {STATUS_LABEL} of {} was ignored: expected the next \
                             item, problem or area",
                            label.en
                        ),
                    ),
                );
            }
        }
    }

    fn totals(&mut self, n: usize, text: &str) {
        self.totals = Some((
            n,
            number_after(text, "反馈问题"),
            number_after(text, "整改事项"),
        ));
    }

    /// Whether an area is open; warns and skips otherwise.
    fn in_area(&mut self, n: usize) -> bool {
        if !self.areas.is_empty() {
            return true;
        }
        if self.state != State::Skipping {
            self.warn(
                n,
                Said::new(
                    "第一个“(一)聚焦…”这样的部分标题之前的文字已跳过",
                    "text before the first area header such as \"(一)聚焦…\" was skipped",
                ),
            );
            self.state = State::Skipping;
        }
        false
    }

    /// Whether a problem is open, for a `what` line; warns and skips otherwise.
    fn in_problem(&mut self, n: usize, what: &str) -> bool {
        if self.state == State::Skipping || !self.in_area(n) {
            return false;
        }
        if self.problem.is_none() {
            let area = self.areas.last().map_or(0, |a| a.number);
            let name = area_name(area);
            self.warn(
                n,
                Said::new(
                    format!("{}中的{what}出现在任何问题之前：连同其各行已跳过", name.zh),
                    format!(
                        "{what} in {} before any problem: skipped with its lines",
                        name.en
                    ),
                ),
            );
            self.state = State::Skipping;
            return false;
        }
        true
    }

    /// The item that a 整改情况/整改进度 line belongs to: the open one, or else the
    /// problem's own (a problem without sub-problems).
    fn content_item(&mut self) -> &mut OpenItem {
        if self.item.is_none()
            && let Some(problem) = &mut self.problem
        {
            problem.direct = true;
        }
        let problem = self.problem.as_ref();
        self.item.get_or_insert_with(|| match problem {
            Some(p) => OpenItem::new(None, &p.title, p.line),
            None => OpenItem::new(None, "", 0),
        })
    }

    fn item_label(&self) -> Said {
        let Some(problem) = &self.problem else {
            return Said::new("此事项", "this item");
        };
        item_label(
            problem.area,
            problem.number,
            self.item.as_ref().and_then(|i| i.sub),
        )
    }

    fn close_item(&mut self) {
        let Some(open) = self.item.take() else { return };
        let Some(problem) = &mut self.problem else {
            return;
        };
        let label = item_label(problem.area, problem.number, open.sub);
        let in_progress = PublicStatus::InProgress.wording();
        let (zh, en) = (&label.zh, &label.en);
        let mut notes = Vec::new();
        match (&open.narrative, &open.status) {
            (None, None) if open.status_line.is_some() => notes.push((
                open.line,
                Said::new(
                    format!("{zh}没有{NARRATIVE_LABEL}，{STATUS_LABEL}为空：按“{in_progress}”导入"),
                    format!(
                        "{en} has no {NARRATIVE_LABEL} and its {STATUS_LABEL} is empty: imported \
                         as {in_progress} (in progress)"
                    ),
                ),
            )),
            (None, None) => notes.push((
                open.line,
                Said::new(
                    format!(
                        "{zh}既没有{NARRATIVE_LABEL}也没有{STATUS_LABEL}：按“{in_progress}”导入，\
                         没有整改情况说明"
                    ),
                    format!(
                        "{en} has neither {NARRATIVE_LABEL} nor {STATUS_LABEL}: imported as \
                         {in_progress} (in progress), without a narrative"
                    ),
                ),
            )),
            (None, Some(_)) => notes.push((
                open.line,
                Said::new(
                    format!("{zh}没有{NARRATIVE_LABEL}：导入时没有整改情况说明"),
                    format!("{en} has no {NARRATIVE_LABEL}: imported without a narrative"),
                ),
            )),
            (Some((line, text)), status) => {
                if text.is_empty() {
                    notes.push((
                        *line,
                        Said::new(
                            format!("{zh}的{NARRATIVE_LABEL}为空"),
                            format!("the {NARRATIVE_LABEL} of {en} is empty"),
                        ),
                    ));
                } else if let Some(what) = unbalanced(text) {
                    notes.push((
                        *line,
                        Said::new(
                            format!("{zh}的{NARRATIVE_LABEL}{}（按原文保留）", what.zh),
                            format!(
                                "the {NARRATIVE_LABEL} of {en} has {} (kept as written)",
                                what.en
                            ),
                        ),
                    ));
                }
                match (status, open.status_line) {
                    (Some(_), _) => {}
                    (None, Some(status_line)) => notes.push((
                        status_line,
                        Said::new(
                            format!("{zh}的{STATUS_LABEL}为空：按“{in_progress}”导入"),
                            format!(
                                "the {STATUS_LABEL} of {en} is empty: imported as {in_progress} \
                                 (in progress)"
                            ),
                        ),
                    )),
                    (None, None) => notes.push((
                        open.line,
                        Said::new(
                            format!("{zh}没有{STATUS_LABEL}：按“{in_progress}”导入"),
                            format!(
                                "{en} has no {STATUS_LABEL}: imported as {in_progress} (in \
                                 progress)"
                            ),
                        ),
                    )),
                }
            }
        }
        if open.sub.is_some()
            && let Some(what) = unbalanced(&open.title)
        {
            notes.push((
                open.line,
                Said::new(
                    format!("{zh}的标题{}（按原文保留）", what.zh),
                    format!("the title of {en} has {} (kept as written)", what.en),
                ),
            ));
        }
        let narrative = open.narrative.map(|(_, text)| text).unwrap_or_default();
        let (status, status_wording) = match open.status {
            Some((status, wording)) => (status, Some(wording)),
            None => (PublicStatus::InProgress, None),
        };
        problem.items.push(Item {
            sub: open.sub,
            title: open.title,
            measures: measures(&narrative),
            document_numbers: document_numbers(&narrative),
            dates: dates(&narrative),
            narrative,
            status,
            status_wording,
        });
        for (line, note) in notes {
            self.warn(line, note);
        }
    }

    fn close_problem(&mut self) {
        let Some(problem) = &self.problem else { return };
        if self.item.is_none() && problem.items.is_empty() {
            // A problem with nothing under it is still an item, with warnings.
            self.item = Some(OpenItem::new(None, &problem.title, problem.line));
        }
        self.close_item();
        let Some(problem) = self.problem.take() else {
            return;
        };
        if let Some(what) = unbalanced(&problem.title) {
            let name = item_label(problem.area, problem.number, None);
            self.warn(
                problem.line,
                Said::new(
                    format!("{}的标题{}（按原文保留）", name.zh, what.zh),
                    format!("the title of {} has {} (kept as written)", name.en, what.en),
                ),
            );
        }
        if let Some(area) = self.areas.last_mut() {
            area.problems.push(Problem {
                number: problem.number,
                title: problem.title,
                items: problem.items,
            });
        }
    }

    fn check_area_has_problems(&mut self) {
        if let Some(area) = self.areas.last()
            && area.problems.is_empty()
        {
            let name = area_name(area.number);
            let note = Said::new(
                format!("{}下没有问题", name.zh),
                format!("{} has no problems", name.en),
            );
            self.warn(self.area_line, note);
        }
    }

    fn finish(mut self) -> Vec<Area> {
        self.close_problem();
        self.check_area_has_problems();
        if let Some((line, problems, items)) = self.totals {
            let found_problems: usize = self.areas.iter().map(|a| a.problems.len()).sum();
            let found_items: usize = self
                .areas
                .iter()
                .flat_map(|a| &a.problems)
                .map(|p| p.items.len())
                .sum();
            let differs = |said: Option<u32>, found: usize| {
                said.is_some_and(|said| usize::try_from(said).ok() != Some(found))
            };
            if differs(problems, found_problems) || differs(items, found_items) {
                let said = |n: Option<u32>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
                let (problems, items) = (said(problems), said(items));
                self.warn(
                    line,
                    Said::new(
                        format!(
                            "总结中写的是问题{problems}个、整改事项{items}项，但报告列出的是\
                             问题{found_problems}个、事项{found_items}项"
                        ),
                        format!(
                            "the summary says {problems} problems and {items} items, but the \
                             report lists {found_problems} problems and {found_items} items"
                        ),
                    ),
                );
            }
        }
        self.areas
    }
}

fn append_line(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line);
}

fn area_name(number: u32) -> Said {
    let numeral = cjk_numeral(number);
    Said::new(format!("（{numeral}）方面"), format!("area ({numeral})"))
}

fn item_label(area: u32, problem: u32, sub: Option<u32>) -> Said {
    let name = area_name(area);
    match sub {
        Some(sub) => Said::new(
            format!("{}第{problem}个问题第({sub})项", name.zh),
            format!("item {problem}({sub}) of {}", name.en),
        ),
        None => Said::new(
            format!("{}第{problem}个问题", name.zh),
            format!("problem {problem} of {}", name.en),
        ),
    }
}

/// A note when `number` does not follow `previous` (`None`: the first of its list).
fn numbering(
    previous: Option<u32>,
    number: u32,
    name: impl Fn(u32) -> Said,
    context: &Said,
) -> Option<Said> {
    let expected = previous.map_or(1, |p| p.saturating_add(1));
    if number == expected {
        return None;
    }
    let this = name(number);
    let (c, first) = (context, name(1));
    let what = match previous {
        None => Said::new(
            format!("{}{}是第一个，应为{}", c.zh, this.zh, first.zh),
            format!("{} is the first{}, expected {}", this.en, c.en, first.en),
        ),
        Some(p) if number > expected && number - expected == 1 => {
            let (before, missing) = (name(p), name(expected));
            Said::new(
                format!(
                    "{}{}接在{}之后：缺少{}",
                    c.zh, this.zh, before.zh, missing.zh
                ),
                format!(
                    "{} follows {}{}: {} is missing",
                    this.en, before.en, c.en, missing.en
                ),
            )
        }
        Some(p) if number > expected => {
            let (before, from, to) = (name(p), name(expected), name(number - 1));
            Said::new(
                format!(
                    "{}{}接在{}之后：缺少{}至{}",
                    c.zh, this.zh, before.zh, from.zh, to.zh
                ),
                format!(
                    "{} follows {}{}: {} to {} are missing",
                    this.en, before.en, c.en, from.en, to.en
                ),
            )
        }
        Some(p) if number == p => Said::new(
            format!("{}{}出现了两次", c.zh, this.zh),
            format!("{} appears twice{}", this.en, c.en),
        ),
        Some(p) => {
            let before = name(p);
            Said::new(
                format!("{}{}在{}之后：编号倒退", c.zh, this.zh, before.zh),
                format!(
                    "{} comes after {}{}: the numbering goes backwards",
                    this.en, before.en, c.en
                ),
            )
        }
    };
    Some(Said::new(
        format!("{}（按原编号导入）", what.zh),
        format!("{} (imported as numbered)", what.en),
    ))
}

/// A closing summary such as `截至目前，共反馈问题24个，细化为整改事项53项…`.
fn is_totals(text: &str) -> bool {
    (text.starts_with("截至") || text.starts_with("截止")) && text.contains("反馈问题")
}

/// The number right after `marker` in `text`: `反馈问题24个` → 24.
fn number_after(text: &str, marker: &str) -> Option<u32> {
    let (_, rest) = text.split_once(marker)?;
    parse_digits(split_leading(rest, |c| ascii_or_wide_digit(c).is_some()).0)
}

/// Describes the first unbalanced pair of quotation marks, book-title marks or
/// parentheses in `text`, if any.
fn unbalanced(text: &str) -> Option<Said> {
    for (opens, closes) in [("“", "”"), ("《", "》"), ("(（", ")）")] {
        let mut depth = 0usize;
        for c in text.chars() {
            if opens.contains(c) {
                depth += 1;
            } else if closes.contains(c) {
                if depth == 0 {
                    let open = opens.chars().next().unwrap_or(c);
                    return Some(Said::new(
                        format!("有「{c}」而没有对应的「{open}」"),
                        format!("'{c}' without a matching '{open}'"),
                    ));
                }
                depth -= 1;
            }
        }
        if depth > 0 {
            let (open, close) = (opens.chars().next()?, closes.chars().next()?);
            return Some(Said::new(
                format!("有「{open}」而没有对应的「{close}」"),
                format!("'{open}' without a matching '{close}'"),
            ));
        }
    }
    None
}
