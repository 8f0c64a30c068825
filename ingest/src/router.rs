//! The webhook router: which paths exist and the limits every request runs under.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;

use crate::hooks::{receive_default, receive_from_source, AppState};
use crate::sinks::HookSink;

/// `POST /hooks` and `POST /hooks/{source}` over the given state.
pub fn router<S: HookSink>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/hooks", post(receive_default::<S>))
        .route("/hooks/{source}", post(receive_from_source::<S>))
        // The handler enforces the configured limit itself, after authentication.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
