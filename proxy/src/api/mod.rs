//! The admin JSON API under `/-/api/`, which the web UI itself uses.

pub mod settings;

use std::sync::Arc;

use axum::Router;

use crate::server::App;

/// Every `/-/api/` route, relative to `/-/api`.
pub fn routes() -> Router<Arc<App>> {
    Router::new().merge(settings::routes())
}
