//! Why something was refused, in the user's language. The server sends a refusal as data
//! (`rectifyRefusal`: [`ChangeRefusal`]); the app's own checks give [`Refusal`]. Their
//! `Display` texts are for logs, the quarantine and other clients; people read these.
//!
//! Every variant has its sentence in both languages (the matches are exhaustive, so a new
//! refusal does not build until it has them).

use crate::i18n::{Lang, unit_status_name};
use rectify_shared::model::ChangeRefusal;
use rectify_shared::workflow::{Refusal, TextField};

/// A refusal of the workflow (who may move a unit's progress where, text limits).
pub fn workflow(lang: Lang, refusal: &Refusal) -> String {
    let zh = lang == Lang::Zh;
    match refusal {
        Refusal::ReadOnly if zh => "只读账号可以查看全部内容，但不能修改。".into(),
        Refusal::ReadOnly => "This account can read everything but change nothing.".into(),
        Refusal::OnlyOfficeDecides if zh => "只有领导小组办公室可以销号或退回。".into(),
        Refusal::OnlyOfficeDecides => {
            "Only the office (领导小组办公室) can sign off (销号) or send back (退回).".into()
        }
        Refusal::NotYourUnit if zh => "此事项未分配给本单位。".into(),
        Refusal::NotYourUnit => "This item is not assigned to your unit.".into(),
        Refusal::NotAllowed { from, to } if zh => format!(
            "不能从“{}”改为“{}”。",
            unit_status_name(lang, *from),
            unit_status_name(lang, *to)
        ),
        Refusal::NotAllowed { from, to } => format!(
            "A unit cannot go from “{}” to “{}”.",
            unit_status_name(lang, *from),
            unit_status_name(lang, *to)
        ),
        Refusal::ReasonRequired if zh => "退回需要填写理由。".into(),
        Refusal::ReasonRequired => "Sending back (退回) needs a reason.".into(),
        Refusal::UnitsNotSignedOff { pending } if zh => {
            format!("没整改到位绝不销号：还有 {pending} 个单位未销号。")
        }
        Refusal::UnitsNotSignedOff { pending } => {
            format!("没整改到位绝不销号: {pending} unit(s) are not signed off yet.")
        }
        Refusal::OnlyOfficePlans if zh => "只有领导小组办公室可以修改事项的内容或关闭事项。".into(),
        Refusal::OnlyOfficePlans => {
            "Only the office (领导小组办公室) can change an item's definition or close it.".into()
        }
        Refusal::SignedOffLocked if zh => {
            "已销号：办公室已对本单位的整改销号，不能再修改；如需修改，请联系领导小组办公室先退回。"
                .into()
        }
        Refusal::SignedOffLocked => "Signed off (已销号): the office signed off this unit's work, \
             so it can no longer be changed; ask the office to reopen it (退回) first."
            .into(),
        Refusal::NothingToSubmit if zh => {
            "申请销号前，请先填写整改情况或添加至少一份佐证材料。".into()
        }
        Refusal::NothingToSubmit => "To request sign-off (申请销号), first describe the work done \
             or add at least one piece of evidence."
            .into(),
        Refusal::TooLong { field, chars, max } if zh => format!(
            "{}太长：{chars} 字，最多 {max} 字。",
            text_field(lang, *field)
        ),
        Refusal::TooLong { field, chars, max } => format!(
            "The {} is too long: {chars} characters, at most {max}.",
            text_field(lang, *field)
        ),
    }
}

/// A change the server refused.
pub fn change(lang: Lang, refusal: &ChangeRefusal) -> String {
    use ChangeRefusal as R;
    let zh = lang == Lang::Zh;
    let office_only_zh = "只有领导小组办公室可以修改。";
    match refusal {
        R::Workflow(refusal) => workflow(lang, refusal),
        R::OnlyOfficeCreates { .. } if zh => "只有领导小组办公室可以新建事项。".into(),
        R::OnlyOfficeCreates { kind } => {
            format!("Only the office (领导小组办公室) can create {kind} documents.")
        }
        R::OnlyOfficeCampaign if zh => "只有领导小组办公室可以修改整改工作的设置。".into(),
        R::OnlyOfficeCampaign => "Only the office (领导小组办公室) can change a campaign.".into(),
        R::UnknownKind { .. } | R::StoredMalformed { .. } | R::NewerSchema { .. } if zh => {
            format!("此版本的应用无法检查这份文档的修改；{office_only_zh}")
        }
        R::UnknownKind { kind } => format!(
            "This document is of a kind this version does not know ({kind}); only the office can change it."
        ),
        R::StoredMalformed { reason, .. } => format!(
            "The stored document cannot be read ({reason}), so changes to it cannot be checked; only the office can change it."
        ),
        R::NewerSchema { found, known } => format!(
            "This document is from a newer version (schema {found}; this server knows {known}); only the office can change it."
        ),
        R::KindChanged { .. } if zh => "文档的类型在创建后不能更改。".into(),
        R::KindChanged { before, after } => {
            format!(
                "A document's kind is fixed: the change turns a {before} document into {after}."
            )
        }
        R::SchemaBump { .. } if zh => {
            "只有领导小组办公室可以把文档升级到新版本。请更新应用。".into()
        }
        R::SchemaBump { .. } => {
            "Only the office can move a document to a newer version. Update the app.".into()
        }
        R::Malformed { .. } if zh => "修改后的文档格式不正确，未被接受。".into(),
        R::Malformed { kind, reason } => {
            format!("The change leaves a {kind} document that is not valid: {reason}")
        }
        R::TooDeep { .. } if zh => "文档嵌套层级过深，无法检查。".into(),
        R::TooDeep { max } => format!("The document is nested more than {max} levels deep."),
        R::OfficeOnlyKey { .. } if zh => {
            format!("事项的这一部分（责任领导、部门、单位、时限、问题与措施等）{office_only_zh}")
        }
        R::OfficeOnlyKey { key } => {
            format!("Only the office (领导小组办公室) can change an item's “{key}”.")
        }
        R::UnknownKey { .. } if zh => {
            format!("修改中有此版本不认识的内容；{office_only_zh}请更新应用。")
        }
        R::UnknownKey { path } => format!(
            "“{path}” is not something this version knows; only the office can change it. Update the app."
        ),
        R::OtherUnitsProgress { unit } if zh => {
            format!("只能修改本单位的整改情况，不能修改单位“{unit}”的。")
        }
        R::OtherUnitsProgress { unit } => {
            format!("A unit can change only its own progress, not that of “{unit}”.")
        }
        R::ProgressEntry { .. } if zh => {
            "单位的整改条目由领导小组办公室在分配单位时创建或删除。".into()
        }
        R::ProgressEntry { unit } => format!(
            "The progress entry of “{unit}” is created and removed only by the office, when it assigns units."
        ),
        R::Replaced { .. } if zh => {
            "整段内容被替换：只能修改其中的内容，以免丢失别处同时所做的修改。".into()
        }
        R::Replaced { path } => format!(
            "“{path}” was replaced whole; only its contents may be edited, so that edits made elsewhere are not lost."
        ),
        R::NoSuchMeasure { .. } if zh => "此事项没有这条整改措施，无法勾选。".into(),
        R::NoSuchMeasure { measure } => {
            format!("This item has no measure “{measure}”, so it cannot be ticked.")
        }
        R::MeasureDropped { text, .. } if zh => {
            format!("整改措施“{text}”被直接删除：删除的措施须保留记录。请更新应用后再修改。")
        }
        R::MeasureDropped { text, .. } => format!(
            "The measure “{text}” was dropped without a trace: removed measures are kept on record. Update the app and try again."
        ),
        R::FeedbackNotYours { .. } if zh => "只能就本单位的事项留言。".into(),
        R::FeedbackNotYours { about } => {
            format!("A unit can add feedback only about its own unit (this one is about {about}).")
        }
        R::FeedbackRewritten if zh => "留言只能新增，已有留言不能修改或删除。".into(),
        R::FeedbackRewritten => {
            "Messages can only be added; existing ones are never changed or removed.".into()
        }
        R::ReviewsRewritten if zh => "销号、退回的记录只能新增，不能修改或删除。".into(),
        R::ReviewsRewritten => {
            "Sign-off and send-back decisions are history: never changed or removed.".into()
        }
        R::EvidenceId { .. } if zh => "佐证材料的文件标识不正确。".into(),
        R::EvidenceId { sha256 } => {
            format!("Evidence must name its file by its SHA-256, not “{sha256}”.")
        }
        R::EvidenceNotYours { .. } if zh => {
            "这份佐证材料不能添加：请从本设备上传文件，不能引用其他单位的文件。".into()
        }
        R::EvidenceNotYours { .. } => "This evidence file cannot be attached: upload files from \
             this device, not another unit's files by their hash."
            .into(),
        R::EvidenceAuthorRewritten { .. } if zh => "佐证材料的添加人是历史记录，不能更改。".into(),
        R::EvidenceAuthorRewritten { before, after, .. } => {
            format!("Who added a file is history: the change rewrites “{before}” to “{after}”.")
        }
        R::NotTheSender {
            claimed, sender, ..
        } if zh => {
            format!("修改署名为“{claimed}”，但发送账号是“{sender}”：不能以他人名义修改。")
        }
        R::NotTheSender {
            claimed, sender, ..
        } => format!(
            "The change names “{claimed}”, but was sent by “{sender}”: nobody writes in another's name."
        ),
    }
}

/// A text field's name, as the limits name it.
fn text_field(lang: Lang, field: TextField) -> &'static str {
    match (lang, field) {
        (Lang::Zh, TextField::Narrative) => "整改情况",
        (Lang::Zh, TextField::Feedback) => "留言",
        (Lang::Zh, TextField::Reason) => "退回理由",
        (Lang::Zh, TextField::Definition) => "存在问题或整改措施",
        (Lang::Zh, TextField::Caption) => "说明",
        (Lang::En, TextField::Narrative) => "progress text",
        (Lang::En, TextField::Feedback) => "message",
        (Lang::En, TextField::Reason) => "reason",
        (Lang::En, TextField::Definition) => "problem or measure",
        (Lang::En, TextField::Caption) => "caption",
    }
}
