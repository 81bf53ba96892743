//! The campaign document: one inspection round.

use super::{ModelError, SCHEMA_VERSION, check_header};
use automerge::AutoCommit;
use autosurgeon::{Hydrate, Reconcile, Text};

/// A campaign (one inspection round). Stored and synced: change only with a migration.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct CampaignDoc {
    pub schema_version: u64,
    /// Always `campaign`.
    pub kind: String,
    /// A short name, e.g. `区委第三巡察组巡察反馈问题整改`.
    pub name: String,
    /// The inspection team (`区委第三巡察组`).
    pub inspector: String,
    /// The inspected body (`区教体局党委`).
    pub inspected: String,
    /// `YYYY-MM-DD` or null.
    pub inspection_start: Option<String>,
    pub inspection_end: Option<String>,
    pub feedback_date: Option<String>,
    /// The publishing body that signs the public report.
    pub publisher: String,
    /// The report's opening paragraph.
    pub preamble: Text,
    /// The areas (聚焦…方面) in order.
    pub areas: Vec<AreaInfo>,
    /// The report's own title (`中共…关于巡察整改情况的通报`); empty when it has none.
    /// Added after the first release: documents without it read as empty.
    #[autosurgeon(missing = "Default::default")]
    pub title: String,
    /// The date the report was published (under the signature), `YYYY-MM-DD` or null.
    #[autosurgeon(missing = "Default::default")]
    pub published: Option<String>,
    /// Part 一 (整改工作开展情况): how the work was organised.
    #[autosurgeon(missing = "Default::default")]
    pub organisation: PartDoc,
    /// The heading of part 二, which holds the items; empty for the standard
    /// `整改工作具体落实情况`.
    #[autosurgeon(missing = "Default::default")]
    pub items_heading: String,
    /// Part 三 (整改工作取得的主要成效).
    #[autosurgeon(missing = "Default::default")]
    pub results: PartDoc,
    /// Part 四 (下一步工作打算), with any closing words before the signature.
    #[autosurgeon(missing = "Default::default")]
    pub next_steps: PartDoc,
}

/// A text part of the report (一, 三, 四). Stored and synced: change only with a migration.
#[derive(Debug, Clone, Default, PartialEq, Reconcile, Hydrate)]
pub struct PartDoc {
    /// Without the `一、`; empty with an empty body: the report has no such part.
    pub heading: String,
    /// The lines of the part, joined with `\n`.
    pub body: Text,
}

/// An area of a campaign. Stored and synced.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct AreaInfo {
    #[key]
    pub number: u32,
    pub title: String,
}

impl CampaignDoc {
    pub fn load(doc: &AutoCommit) -> Result<CampaignDoc, ModelError> {
        check_header(doc, "campaign")?;
        Ok(autosurgeon::hydrate(doc)?)
    }

    pub fn new_empty(name: &str) -> CampaignDoc {
        CampaignDoc {
            schema_version: SCHEMA_VERSION,
            kind: "campaign".to_owned(),
            name: name.to_owned(),
            inspector: String::new(),
            inspected: String::new(),
            inspection_start: None,
            inspection_end: None,
            feedback_date: None,
            publisher: String::new(),
            preamble: Text::default(),
            areas: Vec::new(),
            title: String::new(),
            published: None,
            organisation: PartDoc::default(),
            items_heading: String::new(),
            results: PartDoc::default(),
            next_steps: PartDoc::default(),
        }
    }

    /// The key that identifies the same inspection round across imports.
    pub fn natural_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.inspector,
            self.inspected,
            self.feedback_date.as_deref().unwrap_or("")
        )
    }
}
