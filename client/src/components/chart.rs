//! Light charts drawn as SVG by hand: a stacked bar is all the dashboard needs, and it
//! costs no JavaScript library. Colours come from the CSS classes (`seg-<class>`).

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StackedBarProps {
    /// (count, class, label) per segment, in order.
    pub parts: Vec<(usize, String, String)>,
    /// Show a legend with the labels and counts below the bar.
    #[prop_or_default]
    pub legend: bool,
}

#[function_component(StackedBar)]
pub fn stacked_bar(props: &StackedBarProps) -> Html {
    let total: usize = props.parts.iter().map(|(n, _, _)| n).sum();
    let mut x = 0.0;
    let segments = props
        .parts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, class, label)| {
            let width = *n as f64 * 100.0 / total.max(1) as f64;
            let rect = html! {
                <rect x={format!("{x:.2}")} y="0" width={format!("{width:.2}")} height="10"
                      class={format!("seg-{class}")}>
                    if !label.is_empty() { <title>{ format!("{label}: {n}") }</title> }
                </rect>
            };
            x += width;
            rect
        });
    html! {
        <div class="stacked">
            <svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img"
                 aria-hidden={(!props.legend).then_some("true")}>
                <rect x="0" y="0" width="100" height="10" class="seg-empty" />
                { for segments }
            </svg>
            if props.legend {
                <ul class="legend">
                    { for props.parts.iter().map(|(n, class, label)| html! {
                        <li><span class={classes!("swatch", format!("seg-{class}"))}></span>{ label }{ " " }<strong>{ n }</strong></li>
                    }) }
                </ul>
            }
        </div>
    }
}

/// `37.5%`
pub fn percent(value: f64) -> String {
    format!("{value:.0}%")
}

#[derive(Properties, PartialEq)]
pub struct SignOffChartProps {
    pub progress: rectify_shared::dashboard::SignOffProgress,
    /// "本周" / "this week"
    pub this_week: AttrValue,
    /// What a deadline tick says, given the number of items and the week's Sunday.
    pub due: Callback<(usize, String), String>,
    /// The chart as one sentence, for screen readers.
    pub summary: AttrValue,
}

/// The share of assigned entries signed off at the end of each week, as a line over the
/// weeks, with ticks under the weeks that hold deadlines (some weeks ahead of today too).
/// Drawn in a fixed 360 × 160 box scaled to the card's width, so its text stays readable
/// on a phone; CSS caps its width on a wide screen.
#[function_component(SignOffChart)]
pub fn sign_off_chart(props: &SignOffChartProps) -> Html {
    const LEFT: f64 = 42.0;
    const RIGHT: f64 = 352.0;
    const TOP: f64 = 12.0;
    const BOTTOM: f64 = 128.0;
    let p = &props.progress;
    let slots = (p.weeks.len() + p.weeks_ahead).max(1);
    let x = |i: usize| LEFT + (i as f64 + 0.5) * (RIGHT - LEFT) / slots as f64;
    let y = |n: usize| {
        let share = if p.assigned == 0 {
            0.0
        } else {
            n as f64 / p.assigned as f64
        };
        BOTTOM - share * (BOTTOM - TOP)
    };
    let points: Vec<(f64, f64)> = p
        .weeks
        .iter()
        .enumerate()
        .map(|(i, w)| (x(i), y(w.signed_off)))
        .collect();
    let line = points
        .iter()
        .map(|(px, py)| format!("{px:.1},{py:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = match (points.first(), points.last()) {
        (Some((x0, _)), Some((x1, _))) => {
            format!("{x0:.1},{BOTTOM} {line} {x1:.1},{BOTTOM}")
        }
        _ => String::new(),
    };
    let now = p.weeks.len().saturating_sub(1);
    let last = p.weeks.last();
    let share = last
        .filter(|_| p.assigned > 0)
        .map_or(0.0, |w| w.signed_off as f64 * 100.0 / p.assigned as f64);
    let date = |i: usize| {
        let first = p.weeks.first().map(|w| w.ends);
        first.map_or_else(String::new, |d| {
            let day = d.add_days(7 * i as i64).to_string();
            day.get(5..).unwrap_or(&day).to_owned()
        })
    };
    let grid = [0usize, 50, 100].map(|pct| {
        let gy = BOTTOM - pct as f64 / 100.0 * (BOTTOM - TOP);
        html! {
            <g class="grid-line">
                <line x1={LEFT.to_string()} x2={RIGHT.to_string()} y1={format!("{gy:.1}")} y2={format!("{gy:.1}")} />
                <text x={(LEFT - 4.0).to_string()} y={format!("{:.1}", gy + 3.5)} text-anchor="end">{ format!("{pct}%") }</text>
            </g>
        }
    });
    let ticks = p.deadlines.iter().map(|(week, items)| {
        let tx = x(*week);
        let said = props.due.emit((*items, date(*week)));
        html! {
            <g class="deadline" data-week={week.to_string()}>
                <line x1={format!("{tx:.1}")} x2={format!("{tx:.1}")} y1={(BOTTOM + 2.0).to_string()} y2={(BOTTOM + 10.0).to_string()} />
                <title>{ said }</title>
            </g>
        }
    });
    let labels = [0, now, slots - 1]
        .into_iter()
        .enumerate()
        .filter(|(k, i)| *k == 0 || *i != 0)
        .map(|(k, i)| {
            let anchor = match k {
                0 => "start",
                2 => "end",
                _ => "middle",
            };
            html! {
                <text class="week-label" x={format!("{:.1}", x(i))} y="152" text-anchor={anchor}>{ date(i) }</text>
            }
        });
    let (now_x, now_y) = points.last().copied().unwrap_or((x(0), BOTTOM));
    html! {
        <svg class="line-chart" viewBox="0 0 360 160" role="img" aria-label={props.summary.clone()}
             data-testid="sign-off-chart" data-weeks={p.weeks.len().to_string()}
             data-signed-off={last.map_or(0, |w| w.signed_off).to_string()}
             data-assigned={p.assigned.to_string()}>
            { for grid }
            <line class="now" x1={format!("{now_x:.1}")} x2={format!("{now_x:.1}")} y1={TOP.to_string()} y2={BOTTOM.to_string()} />
            <text class="now-label" x={format!("{now_x:.1}")} y={(TOP - 3.0).to_string()} text-anchor="middle">{ props.this_week.clone() }</text>
            <polygon class="area" points={area} />
            <polyline class="line" points={line} />
            <circle class="point" cx={format!("{now_x:.1}")} cy={format!("{now_y:.1}")} r="3" />
            <text class="value" x={format!("{:.1}", now_x - 5.0)} y={format!("{:.1}", (now_y - 6.0).max(TOP + 10.0))} text-anchor="end">{ percent(share) }</text>
            { for ticks }
            <line class="axis" x1={LEFT.to_string()} x2={RIGHT.to_string()} y1={BOTTOM.to_string()} y2={BOTTOM.to_string()} />
            { for labels }
        </svg>
    }
}
