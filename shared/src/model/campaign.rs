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
