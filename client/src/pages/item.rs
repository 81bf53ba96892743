//! An item: the problem, the measures (a unit ticks them), the unit's progress narrative
//! (merged character by character; the cursor stays put when remote edits arrive), its
//! evidence files, the office's decisions, feedback both ways, and asking for sign-off.

use crate::components::{evidence::Evidence, feedback::FeedbackBox};
use crate::context::{AppContext, ReplicaContext};
use crate::format::{area_numeral, when};
use crate::i18n::{Lang, Msg, tr, unit_status_name};
#[cfg(feature = "office")]
use crate::pages::review::{ItemStatusControl, PlanEditor, UnitReview};
use crate::services::replica::Replica;
use crate::state::Route;
use gloo::events::EventListener;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::workflow::{
    TextField, UnitStatus, check_entry_edit, check_submission, check_unit_move,
};
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ItemProps {
    pub id: String,
}

#[function_component(ItemPage)]
// The school build has no oversight section after the unit's work: its clones are the last
// uses there, not in the full build.
#[cfg_attr(not(feature = "office"), allow(clippy::redundant_clone))]
pub fn item_page(props: &ItemProps) -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let error = use_state(|| None::<String>);
    let lang = state.lang;
    let back = html! { <a class="back" href={Route::Home.href()}>{ "‹ " }{ tr(lang, Msg::BackToList) }</a> };
    let (Some(ReplicaContext { replica, .. }), Some(session)) = (context, &state.session) else {
        return Html::default();
    };
    let Some((id, item)) = props
        .id
        .parse::<DocumentId>()
        .ok()
        .and_then(|id| replica.item(&id).map(|item| (id, item)))
    else {
        return html! { <>{ back }<p class="empty">{ tr(lang, Msg::ItemNotHere) }</p></> };
    };
    let actor = Actor {
        role: session.role,
        unit: session.unit.as_deref().map(UnitId::new),
    };
    let my_unit = session
        .unit
        .clone()
        .filter(|u| item.units.iter().any(|x| x == u) && session.role != Role::Viewer);
    let on_error = {
        let error = error.clone();
        Callback::from(move |message: Option<String>| error.set(message))
    };
    let units_view = match &my_unit {
        Some(unit) => html! {
            <UnitWork replica={replica.clone()} {id} item={item.clone()} unit={unit.clone()} actor={actor.clone()} {lang} on_error={on_error.clone()} />
        },
        #[cfg(feature = "office")]
        None => html! {
            { for item.units.iter().map(|unit| html! {
                <UnitReview replica={replica.clone()} {id} item={item.clone()} unit={unit.clone()}
                            actor={actor.clone()} {lang} on_error={on_error.clone()} />
            }) }
        },
        // The school build: only a school's session opens items, and it reads only its own.
        #[cfg(not(feature = "office"))]
        None => Html::default(),
    };
    // Those who oversee see the plan and the public status; the office changes them.
    #[cfg(feature = "office")]
    let oversight = (session.role != Role::Unit).then(|| {
        let plan = if session.role == Role::Office {
            html! { <PlanEditor replica={replica.clone()} {id} item={item.clone()} {lang} on_error={on_error.clone()} /> }
        } else {
            html! { <PlanEditor replica={replica.clone()} {id} item={item.clone()} {lang} on_error={on_error.clone()} read_only=true /> }
        };
        html! {
            <section class="card" aria-labelledby="plan-title" data-testid="oversight">
                <h2 id="plan-title" class="section-title">{ tr(lang, Msg::Plan) }</h2>
                <ItemStatusControl replica={replica.clone()} {id} item={item.clone()} actor={actor.clone()} {lang} on_error={on_error.clone()} />
                { plan }
            </section>
        }
    });
    #[cfg(not(feature = "office"))]
    let oversight = None::<Html>;
    html! {
        <article class="item-page" aria-labelledby="item-title">
            { back }
            <section class="card">
                <p class="item-no">
                    { area_numeral(item.area_no) }{ " " }{ &item.area_title }{ " · " }{ item.number() }
                </p>
                <h2 id="item-title" class="item-heading">{ tr(lang, Msg::Problem) }</h2>
                <p class="problem">{ item.title.as_str() }</p>
                if let Some(deadline) = &item.deadline {
                    <p class="item-meta">{ tr(lang, Msg::Deadline) }{ lang.colon() }{ deadline }</p>
                }
                <p class="item-meta">
                    <a href={Route::History(id.to_string()).href()} data-testid="history-link">{ tr(lang, Msg::History) }</a>
                </p>
            </section>
            if let Some(message) = &*error {
                <p class="error" role="alert" data-testid="edit-error">{ message }</p>
            }
            { units_view }
            { for oversight }
        </article>
    }
}

#[derive(Properties, PartialEq)]
struct UnitWorkProps {
    replica: Replica,
    id: DocumentId,
    item: ItemDoc,
    unit: String,
    actor: Actor,
    lang: Lang,
    on_error: Callback<Option<String>>,
}

/// What a school does on its item: tick measures, write progress, ask for sign-off, talk.
#[function_component(UnitWork)]
fn unit_work(props: &UnitWorkProps) -> Html {
    let UnitWorkProps {
        replica,
        id,
        item,
        unit,
        actor,
        lang,
        on_error,
    } = props;
    let (id, lang) = (*id, *lang);
    let progress = item.progress.get(unit);
    let status = progress.map_or(UnitStatus::NotStarted, |p| p.status);
    // Signed off: the entry is the office's record now (the server refuses changes too).
    let locked = check_entry_edit(actor, status).is_err();
    let confirming = use_state(|| false);
    let edit = {
        let (replica, on_error) = (replica.clone(), on_error.clone());
        Callback::from(move |edit: ItemEdit| {
            on_error.emit(replica.edit(&id, edit).err().map(|e| e.say(lang)));
        })
    };
    let measures = item.current_measures().map(|measure| {
        let done = progress
            .and_then(|p| p.measures_done.get(&measure.id))
            .copied()
            .unwrap_or(false);
        let onchange = {
            let (edit, unit, measure) = (edit.clone(), unit.clone(), measure.id.clone());
            Callback::from(move |event: Event| {
                let done = event
                    .target_dyn_into::<HtmlInputElement>()
                    .is_some_and(|input| input.checked());
                edit.emit(ItemEdit::TickMeasure {
                    unit: unit.clone(),
                    measure: measure.clone(),
                    done,
                });
            })
        };
        html! {
            <li>
                <label class="measure">
                    <input type="checkbox" checked={done} {onchange} disabled={locked} data-testid="measure" />
                    <span>{ measure.text.as_str() }</span>
                </label>
            </li>
        }
    });
    let conflicts = replica.status_conflicts(&id, unit);
    let moves = [
        (UnitStatus::InProgress, if status == UnitStatus::Submitted { Msg::Withdraw } else { Msg::StartWork }),
        (UnitStatus::Submitted, Msg::RequestSignOff),
    ]
    .into_iter()
    .filter(|(to, _)| *to != status && check_unit_move(actor, unit, status, *to, None).is_ok())
    .map(|(to, label)| {
        let (edit, unit, confirming, on_error, replica) =
            (edit.clone(), unit.clone(), confirming.clone(), on_error.clone(), replica.clone());
        let onclick = Callback::from(move |_| {
            // What was just typed counts: the burst becomes its change first, and the item
            // is read afresh (this page's copy may be from before it).
            replica.end_typing(&id);
            let (narrative, evidence) = replica
                .item(&id)
                .and_then(|item| item.progress.get(&unit).map(|p| (p.narrative.as_str().to_owned(), p.evidence.len())))
                .unwrap_or_default();
            if to != UnitStatus::Submitted {
                edit.emit(ItemEdit::UnitStatus { unit: unit.clone(), to, reason: None });
            } else if check_submission(&narrative, evidence).is_err() {
                // Said in the user's words before the policy would refuse it.
                on_error.emit(Some(tr(lang, Msg::NothingToSubmit).to_owned()));
            } else {
                on_error.emit(None);
                confirming.set(true);
            }
        });
        let class = if to == UnitStatus::Submitted { "primary" } else { "secondary" };
        html! { <button class={class} {onclick} data-testid={format!("move-{}", to.key())}>{ tr(lang, label) }</button> }
    });
    // Asking for sign-off is a step the school cannot take back once the office decides:
    // it confirms on the page (no browser dialog, which a phone may suppress).
    let confirm = {
        let (edit, unit, confirming) = (edit.clone(), unit.clone(), confirming.clone());
        Callback::from(move |_| {
            confirming.set(false);
            edit.emit(ItemEdit::UnitStatus {
                unit: unit.clone(),
                to: UnitStatus::Submitted,
                reason: None,
            });
        })
    };
    let cancel = {
        let confirming = confirming.clone();
        Callback::from(move |_| confirming.set(false))
    };
    let decisions: Vec<Html> = item
        .reviews
        .iter()
        .filter(|r| &r.unit == unit)
        .rev()
        .map(|review| {
            let label = match review.decision {
                UnitStatus::SignedOff => tr(lang, Msg::SignedOff),
                _ => tr(lang, Msg::Returned),
            };
            html! {
                <li class={classes!("decision", review.decision.key())}>
                    <strong>{ label }</strong>{ " · " }{ &review.by }{ " · " }{ when(review.at_ms) }
                    if !review.reason.is_empty() {
                        <p>{ tr(lang, Msg::Reason) }{ lang.colon() }{ &review.reason }</p>
                    }
                </li>
            }
        })
        .collect();
    let text = progress
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default();
    html! {
        <>
            <section class="card" aria-labelledby="status-title">
                <h2 id="status-title" class="section-title">{ tr(lang, Msg::UnitStatusLabel) }</h2>
                <p>
                    <span class={classes!("badge", status.key())} data-testid="unit-status">
                        { unit_status_name(lang, status) }
                    </span>
                </p>
                if !conflicts.is_empty() {
                    <p class="conflict" data-testid="status-conflict">
                        { tr(lang, Msg::Conflict) }
                        { for conflicts.iter().map(|c| html! {
                            <span class="claim">
                                { unit_status_name(lang, c.status) }{ " (" }{ tr(lang, Msg::SetBy) }{ " " }
                                { c.by.clone().unwrap_or_else(|| "?".to_owned()) }{ ") " }
                            </span>
                        }) }
                    </p>
                }
                if locked {
                    <p class="locked" data-testid="locked">{ tr(lang, Msg::LockedSignedOff) }</p>
                }
                if *confirming && status != UnitStatus::Submitted && !locked {
                    <div class="confirm" role="alertdialog" aria-labelledby="confirm-text" data-testid="confirm-sign-off">
                        <p id="confirm-text">{ tr(lang, Msg::ConfirmSignOffRequest) }</p>
                        <div class="actions">
                            <button class="primary" onclick={confirm} data-testid="confirm-submit">{ tr(lang, Msg::ConfirmSubmit) }</button>
                            <button class="secondary" onclick={cancel}>{ tr(lang, Msg::Cancel) }</button>
                        </div>
                    </div>
                } else {
                    <div class="actions">{ for moves }</div>
                }
                if !decisions.is_empty() {
                    <h3 class="subtitle">{ tr(lang, Msg::Decisions) }</h3>
                    <ul class="plain decisions">{ for decisions }</ul>
                }
            </section>
            if item.current_measures().next().is_some() {
                <section class="card" aria-labelledby="measures-title">
                    <h2 id="measures-title" class="section-title">{ tr(lang, Msg::Measures) }</h2>
                    <ul class="plain measures">{ for measures }</ul>
                </section>
            }
            <section class="card" aria-labelledby="progress-title">
                <h2 id="progress-title" class="section-title">{ tr(lang, Msg::MyProgress) }</h2>
                <ProgressEditor replica={replica.clone()} {id} unit={unit.clone()} {text}
                                read_only={locked} on_error={on_error.clone()} />
                if !locked {
                    <p class="hint">{ tr(lang, Msg::ProgressHint) }</p>
                }
            </section>
            <Evidence {id} unit={unit.clone()} {lang} editable={!locked}
                      evidence={progress.map(|p| p.evidence.clone()).unwrap_or_default()} />
            <FeedbackBox item={item.clone()} unit={unit.clone()} {lang} edit={edit.clone()} />
        </>
    }
}

#[derive(Properties, PartialEq)]
struct EditorProps {
    replica: Replica,
    id: DocumentId,
    unit: String,
    /// The narrative as the document has it now.
    text: String,
    /// Shown but not editable (a signed-off entry).
    read_only: bool,
    on_error: Callback<Option<String>>,
}

/// The unit's narrative. A typing burst is one edit of the document (merged per character):
/// the keystrokes are held by the replica ([`Replica::type_narrative`]) until the field is
/// quiet for 1.5 s, loses focus or the page goes; the field shows them at once. It is not
/// re-rendered from the document while the user types, only when the document differs (a
/// remote edit): then the burst is made first, merged with the remote edit, and the merged
/// text shown with the cursor moved with the text. Nothing is applied in the middle of an
/// IME composition (pinyin input).
#[function_component(ProgressEditor)]
fn progress_editor(props: &EditorProps) -> Html {
    let node = use_node_ref();
    let composing = use_mut_ref(|| false);
    {
        let (node, composing) = (node.clone(), composing.clone());
        let replica = props.replica.clone();
        // Keyed by the field too: the page reused for another item whose text happens to be
        // the same must still show that item's text.
        let field = (props.id, props.unit.clone(), props.text.clone());
        use_effect_with(field, move |(id, unit, text)| {
            if let Some(area) = node.cast::<HtmlTextAreaElement>()
                && !*composing.borrow()
            {
                if replica.typing(id, unit).is_some() {
                    // The document changed under a burst: the burst is made (merged with the
                    // change), and the merged text shown.
                    replica.end_typing(id);
                    let merged = replica.item(id).and_then(|item| {
                        item.progress
                            .get(unit)
                            .map(|p| p.narrative.as_str().to_owned())
                    });
                    show_text(&area, merged.as_deref().unwrap_or(text));
                } else {
                    show_text(&area, text);
                }
            }
        });
    }
    {
        // Leaving the page or the item ends its burst (it goes to disk).
        let replica = props.replica.clone();
        use_effect_with((props.id, props.unit.clone()), move |(id, _)| {
            let id = *id;
            move || replica.end_typing(&id)
        });
    }
    let apply = {
        let (replica, id, unit, on_error) = (
            props.replica.clone(),
            props.id,
            props.unit.clone(),
            props.on_error.clone(),
        );
        Callback::from(move |text: String| {
            on_error.emit(replica.type_narrative(&id, &unit, text).err());
        })
    };
    let oninput = {
        let (apply, composing) = (apply.clone(), composing.clone());
        Callback::from(move |event: InputEvent| {
            if event.is_composing() || *composing.borrow() {
                return;
            }
            if let Some(area) = event.target_dyn_into::<HtmlTextAreaElement>() {
                apply.emit(area.value());
            }
        })
    };
    // Yew has no composition listeners: attach them to the element.
    {
        let (node, composing) = (node.clone(), composing);
        // Again for another item: `apply` names the item.
        use_effect_with((props.id, props.unit.clone()), move |_| {
            let listeners = node.cast::<HtmlTextAreaElement>().map(|area| {
                let started = composing.clone();
                let start = EventListener::new(&area, "compositionstart", move |_| {
                    *started.borrow_mut() = true;
                });
                let target = area.clone();
                let end = EventListener::new(&area, "compositionend", move |_| {
                    *composing.borrow_mut() = false;
                    apply.emit(target.value());
                });
                (start, end)
            });
            move || drop(listeners)
        });
    }
    let onblur = {
        let (replica, id) = (props.replica.clone(), props.id);
        Callback::from(move |_: FocusEvent| replica.end_typing(&id))
    };
    let max = TextField::Narrative.max_chars();
    let used = props
        .replica
        .typing(&props.id, &props.unit)
        .unwrap_or_else(|| props.text.clone())
        .chars()
        .count();
    html! {
        <>
            <textarea ref={node} class="progress-editor" data-testid="progress-editor" rows="8"
                      aria-labelledby="progress-title" readonly={props.read_only} {oninput} {onblur}
                      maxlength={max.to_string()} />
            if !props.read_only {
                // Marked from nine tenths of the limit on.
                <p class={classes!("char-count", (used * 10 >= max * 9).then_some("near"))}
                   data-testid="narrative-count" aria-live="polite">
                    { format!("{used} / {max}") }
                </p>
            }
        </>
    }
}

/// Puts `text` into the field if it differs, keeping the selection with the text around it.
fn show_text(area: &HtmlTextAreaElement, text: &str) {
    let old = area.value();
    if old == text {
        return;
    }
    let focused = gloo::utils::document()
        .active_element()
        .is_some_and(|e| e == ***area);
    let start = area.selection_start().ok().flatten().unwrap_or(0) as usize;
    let end = area.selection_end().ok().flatten().unwrap_or(0) as usize;
    area.set_value(text);
    if focused {
        let map = |at| rectify_shared::text::map_offset(&old, text, at) as u32;
        let _ = area.set_selection_range(map(start), map(end));
    }
}
