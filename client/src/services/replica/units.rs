//! The units' names: asked of the server on every connection and kept on the device, so
//! names show offline too.

use super::Replica;
use crate::services::api;
#[cfg(feature = "office")]
use rectify_shared::api::UnitInfo;
#[cfg(feature = "office")]
use std::collections::BTreeMap;
use std::rc::Rc;

impl Replica {
    /// The units the server knows, by id.
    #[cfg(feature = "office")]
    pub fn units(&self) -> Rc<BTreeMap<String, UnitInfo>> {
        Rc::clone(&self.0.borrow().units)
    }

    /// A unit's name, or its id when the name is not known (yet).
    pub fn unit_name(&self, id: &str) -> String {
        self.0
            .borrow()
            .units
            .get(id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    }

    /// Asks the server for the units and keeps them on the device (part of refreshing the
    /// item list, before the items).
    pub(super) async fn refresh_units(&self, token: &str) {
        if let Ok(units) = api::units(token).await {
            let store = Rc::clone(&self.0.borrow().store);
            let _ = store.put("units", &units).await;
            self.0.borrow_mut().units =
                Rc::new(units.into_iter().map(|u| (u.id.0.clone(), u)).collect());
        }
    }
}
