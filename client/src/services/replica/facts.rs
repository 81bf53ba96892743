//! Each item's facts for the dashboard and the item list ([`ItemFacts`]), cached: computed
//! once after any item changed, so listing thousands of items stays cheap.

use super::Replica;
use rectify_shared::dashboard::ItemFacts;
use rectify_shared::model::ItemDoc;
use std::rc::Rc;

impl Replica {
    /// Every item's facts for the dashboard, computed once per change of any item.
    pub fn facts(&self) -> Rc<Vec<ItemFacts>> {
        let mut inner = self.0.borrow_mut();
        if let Some(facts) = &inner.facts {
            return Rc::clone(facts);
        }
        let mut facts: Vec<(&ItemDoc, ItemFacts)> = inner
            .items
            .iter()
            .map(|(id, item)| (item, ItemFacts::of(&id.to_string(), item)))
            .collect();
        facts.sort_by_key(|(item, _)| (item.area_no, item.problem_no, item.sub_no));
        let facts = Rc::new(facts.into_iter().map(|(_, f)| f).collect::<Vec<_>>());
        inner.facts = Some(Rc::clone(&facts));
        facts
    }
}
