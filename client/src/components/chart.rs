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
