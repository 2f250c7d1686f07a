//! `npm login`: `PUT /<npm repository>/-/user/org.couchdb.user:<name>` with the user's repox
//! password answers a new repox token, which npm writes to `.npmrc` (npm-profile's
//! `loginCouch`). npm ≥ 9 first tries web login (`POST /-/v1/login`); repox answers that 404 and
//! npm falls back to asking for the password.
//!
//! The request carries no credentials (the password is in the body), so the gate hands it here
//! before authorization. Failures count against the client address like any failed login, the
//! token is added to the users file atomically, and neither the password nor the token is
//! logged.

use std::time::SystemTime;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::json;

use super::users::UsersFile;
use super::{Auth, Credentials, Secret, unauthorized};
use crate::config::Kind;
use crate::hosted::npm::document::parse_login;

/// The request body is a small JSON object.
const BODY_LIMIT: usize = 64 << 10;

impl Auth {
    /// The user name of an `npm login` request to one of this server's npm repositories.
    pub(super) fn npm_login_user<'a>(&self, method: &Method, path: &'a str) -> Option<&'a str> {
        if method != Method::PUT {
            return None;
        }
        let (repo, rest) = path.trim_start_matches('/').split_once('/')?;
        if self.kinds.load().get(repo) != Some(&Kind::Npm) {
            return None;
        }
        let user = rest.strip_prefix("-/user/org.couchdb.user:")?;
        (!user.is_empty() && !user.contains('/')).then_some(user)
    }

    /// Checks the password in `body` and answers a new token for `url_user`.
    pub(super) async fn npm_login(
        &self,
        url_user: &str,
        client: std::net::IpAddr,
        body: Body,
    ) -> Response {
        let url_user = percent_encoding::percent_decode_str(url_user)
            .decode_utf8_lossy()
            .into_owned();
        if let Some(wait) = self.limiter.locked(client, std::time::Instant::now()) {
            return super::too_many(wait);
        }
        let Some(path) = self.directory.path().map(ToOwned::to_owned) else {
            return (
                StatusCode::NOT_FOUND,
                "this repox has no users file: there is nothing to log in to\n",
            )
                .into_response();
        };
        let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => return (StatusCode::BAD_REQUEST, "unreadable login body\n").into_response(),
        };
        let (name, password) = match parse_login(&url_user, &body) {
            Ok(found) => found,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        };
        let credentials = Credentials::Basic {
            user: name.clone(),
            secret: Secret::new(password),
        };
        let users = self.directory.fresh();
        let Some(identity) = self.directory.authenticate(&users, credentials).await else {
            self.limiter.failed(client, std::time::Instant::now());
            tracing::warn!("failed npm login from {client}");
            return unauthorized("wrong user name or password");
        };
        let issued = tokio::task::spawn_blocking(move || {
            let mut file = UsersFile::load(&path)?;
            let (_, token) =
                file.create_token(&identity.name, Some("npm login"), None, SystemTime::now())?;
            file.save(&path)?;
            Ok::<_, super::UsersError>(token)
        })
        .await;
        match issued {
            Ok(Ok(token)) => {
                tracing::info!("npm login: new token for `{name}`");
                let body = json!({
                    "ok": true,
                    "id": format!("org.couchdb.user:{name}"),
                    "token": token,
                });
                (StatusCode::CREATED, axum::Json(body)).into_response()
            }
            Ok(Err(e)) => {
                tracing::error!("npm login: cannot add a token: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot store a new token\n",
                )
                    .into_response()
            }
            Err(e) => {
                tracing::error!("npm login: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot store a new token\n",
                )
                    .into_response()
            }
        }
    }
}
