//! The admin JSON API under `/-/api/`, which the web console (`ui/`) itself uses: stats and the
//! live request feed (`stats.rs`), the cache and the negative cache (`cache.rs`), and the
//! repository settings (`settings.rs`, live configuration). Documented in `docs/admin-api.md`.
//!
//! Who may call it is decided by the authentication middleware (`auth/`: reading needs `read`,
//! anything else `admin`). What this module adds is the CSRF rule for every state-changing
//! request: it must carry `X-Repox-Csrf: 1`, a header a cross-site form cannot send and a
//! cross-site script cannot send without a CORS preflight that repox never grants, and when it
//! has an `Origin`, that origin must be the server's own.

pub mod cache;
pub mod settings;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, Method, StatusCode, header};
use serde::Serialize;

use crate::server::App;

/// The header every state-changing request must carry, with the value `1`.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-repox-csrf");

/// Every `/-/api/` route, behind the CSRF check.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .merge(stats::routes())
        .merge(cache::routes())
        // The settings routes (branch `live`) are written relative to `/-/api`.
        .nest("/-/api", settings::routes().fallback(unknown))
        .layer(middleware::from_fn(csrf))
}

/// A JSON error answer: `{"error": "<one line naming what is wrong and the fix>"}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Body {
        error: String,
    }
    (
        status,
        axum::Json(Body {
            error: message.into(),
        }),
    )
        .into_response()
}

/// 404 for a repository this server does not have, naming the ones it has.
pub fn no_repository(app: &App, name: &str) -> Response {
    let names: Vec<String> = app.repositories().keys().cloned().collect();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no repository `{name}`; this server has: {}",
            names.join(", ")
        ),
    )
}

async fn unknown(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no API endpoint {} {}; see docs/admin-api.md",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Refuses a state-changing request without `X-Repox-Csrf: 1`, or from another origin.
async fn csrf(req: Request, next: Next) -> Response {
    if let Err(why) = csrf_check(&req) {
        return error(StatusCode::FORBIDDEN, why);
    }
    next.run(req).await
}

fn csrf_check(req: &Request) -> Result<(), String> {
    let method = req.method();
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return Ok(());
    }
    let headers = req.headers();
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return Err(format!(
            "{method} {} needs the header `X-Repox-Csrf: 1` (protection against cross-site requests)",
            req.uri().path()
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = crate::origin::request_origin(headers, req.uri());
        let origin = origin.to_str().unwrap_or("");
        if !origin.eq_ignore_ascii_case(&own) {
            return Err(format!(
                "origin `{origin}` is not this server ({own}): changes are only accepted from its own pages"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/-/api/cache/npm/purge")
            .header(header::HOST, "repox.lan:8078");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn reads_need_no_token_and_changes_need_it_from_the_same_origin() {
        assert!(csrf_check(&request(Method::GET, &[])).is_ok());
        let missing = csrf_check(&request(Method::POST, &[])).unwrap_err();
        assert!(missing.contains("X-Repox-Csrf: 1"), "{missing}");
        assert!(csrf_check(&request(Method::DELETE, &[("x-repox-csrf", "0")])).is_err());
        assert!(csrf_check(&request(Method::PUT, &[("x-repox-csrf", "1")])).is_ok());
        assert!(
            csrf_check(&request(
                Method::POST,
                &[("x-repox-csrf", "1"), ("origin", "http://repox.lan:8078")]
            ))
            .is_ok()
        );
        let foreign = csrf_check(&request(
            Method::POST,
            &[("x-repox-csrf", "1"), ("origin", "http://evil.example")],
        ))
        .unwrap_err();
        assert!(foreign.contains("evil.example"), "{foreign}");
        assert!(
            csrf_check(&request(
                Method::POST,
                &[("x-repox-csrf", "1"), ("origin", "null")]
            ))
            .is_err()
        );
    }
}
