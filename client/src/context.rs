//! What the root component hands to every component through yew's context: the app state
//! with its dispatcher, and the user's replica. Defined apart from the root (`app.rs`) so
//! that pages and components read them without depending on the root that renders them.

use crate::services::replica::Replica;
use crate::state::AppState;
use yew::prelude::*;

/// The app state and its dispatcher, available to every component.
pub type AppContext = UseReducerHandle<AppState>;

/// The replica and a version that changes whenever it does, so that consumers re-render.
#[derive(Clone, PartialEq)]
pub struct ReplicaContext {
    pub replica: Replica,
    pub version: u64,
}
