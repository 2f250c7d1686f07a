//! Hosted npm over HTTP: a publish is verified against the digests npm sends and refused whole
//! when corrupt or cut short, a version is published once, writes need `write`, and a group
//! never mixes an upstream's versions into a name its hosted member has.

use base64::Engine;
use http::{Method, StatusCode, header};
use repox_proxy::config::Kind;
use sha2::Digest;

use crate::hosted_support::{Hosted, bearer};
use crate::npm_support::{JsonBody, NpmRegistry};
use crate::support::client;

fn publish_body(name: &str, version: &str, tarball: &[u8]) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let base = name.rsplit('/').next().unwrap();
    serde_json::json!({
        "_id": name, "name": name,
        "dist-tags": { "latest": version },
        "versions": { version: {
            "name": name, "version": version,
            "dist": {
                "integrity": format!("sha512-{}", b64.encode(sha2::Sha512::digest(tarball))),
                "shasum": hex::encode(sha1::Sha1::digest(tarball)),
                "tarball": format!("http://x/{name}/-/{base}-{version}.tgz"),
            },
        }},
        "_attachments": { format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": b64.encode(tarball),
            "length": tarball.len(),
        }},
    })
}

async fn put(h: &Hosted, path: &str, token: Option<&str>, body: &serde_json::Value) -> StatusCode {
    let mut req = client()
        .put(h.at(path))
        .header(header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, bearer(t));
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_publish_is_verified_stored_once_and_served() {
    let upstream = NpmRegistry::start().await;
    let h = Hosted::start(Kind::Npm, &upstream.url).await;
    let tgz = b"a real tarball would be gzip".to_vec();

    let mut corrupt = publish_body("@acme/lib", "1.0.0", &tgz);
    let b64 = base64::engine::general_purpose::STANDARD;
    corrupt["_attachments"]["@acme/lib-1.0.0.tgz"]["data"] = b64.encode(b"something else!!").into();
    corrupt["_attachments"]["@acme/lib-1.0.0.tgz"]["length"] = 16.into();
    let path = "npm-releases/@acme%2flib";
    assert_eq!(
        put(&h, path, Some(&h.writer), &corrupt).await,
        StatusCode::BAD_REQUEST
    );
    let mut cut = publish_body("@acme/lib", "1.0.0", &tgz);
    cut["_attachments"]["@acme/lib-1.0.0.tgz"]["data"] = b64.encode(&tgz[..10]).into();
    assert_eq!(
        put(&h, path, Some(&h.writer), &cut).await,
        StatusCode::BAD_REQUEST
    );
    let nothing = client()
        .get(h.at("npm-releases/@acme%2flib"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        nothing.status(),
        StatusCode::NOT_FOUND,
        "a refused publish left a package"
    );

    let good = publish_body("@acme/lib", "1.0.0", &tgz);
    assert_eq!(
        put(&h, path, Some(&h.writer), &good).await,
        StatusCode::CREATED
    );
    assert_eq!(
        put(&h, path, Some(&h.writer), &good).await,
        StatusCode::CONFLICT
    );

    let doc = client()
        .get(h.at("npm-releases/@acme%2flib"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), StatusCode::OK);
    let doc = doc.json_value().await;
    let url = doc["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(url, h.at("npm-releases/@acme/lib/-/lib-1.0.0.tgz").as_str());
    assert!(doc["time"]["1.0.0"].is_string(), "{doc}");
    let got = client().get(&url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap(), tgz);

    let short = client()
        .get(h.at("npm-releases/@acme%2flib"))
        .header(header::ACCEPT, "application/vnd.npm.install-v1+json")
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert!(
        short.get("time").is_none() && short["modified"].is_string(),
        "{short}"
    );
}

#[tokio::test]
async fn writes_need_the_write_role_and_unpublish_an_admin_or_a_fresh_version() {
    let upstream = NpmRegistry::start().await;
    let h = Hosted::start(Kind::Npm, &upstream.url).await;
    let body = publish_body("lib", "1.0.0", b"tgz");
    assert_eq!(
        put(&h, "npm-releases/lib", None, &body).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        put(&h, "npm-releases/lib", Some(&h.reader), &body).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&h, "npm-releases/lib", Some(&h.writer), &body).await,
        StatusCode::CREATED
    );
    let tag = |method: Method, token: &str| {
        let req = client()
            .request(method, h.at("npm-releases/-/package/lib/dist-tags/beta"))
            .header(header::AUTHORIZATION, bearer(token))
            .body("\"1.0.0\"");
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(tag(Method::PUT, &h.reader).await, StatusCode::FORBIDDEN);
    assert_eq!(tag(Method::PUT, &h.writer).await, StatusCode::OK);
    let tags = client()
        .get(h.at("npm-releases/-/package/lib/dist-tags"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        tags,
        serde_json::json!({"beta": "1.0.0", "latest": "1.0.0"})
    );
    assert_eq!(tag(Method::DELETE, &h.writer).await, StatusCode::OK);

    let doc = client()
        .get(h.at("npm-releases/lib?write=true"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let rev = doc["_rev"].as_str().unwrap().to_owned();
    let del = client()
        .delete(h.at(&format!("npm-releases/lib/-rev/{rev}")))
        .header(header::AUTHORIZATION, bearer(&h.writer))
        .send()
        .await
        .unwrap();
    assert_eq!(
        del.status(),
        StatusCode::OK,
        "a fresh package may be unpublished"
    );
    assert_eq!(
        client()
            .get(h.at("npm-releases/lib"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client()
            .get(h.at("npm-releases/lib/-/lib-1.0.0.tgz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The number stays taken, as on npmjs.
    assert_eq!(
        put(&h, "npm-releases/lib", Some(&h.writer), &body).await,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn the_group_serves_a_hosted_name_from_the_hosted_member_only() {
    let upstream = NpmRegistry::start().await;
    upstream.publish("internal-lib", "99.0.0", &[]);
    upstream.publish("left-pad", "1.3.0", &[]);
    let h = Hosted::start(Kind::Npm, &upstream.url).await;
    let body = publish_body("internal-lib", "1.0.0", b"mine");
    assert_eq!(
        put(&h, "npm-releases/internal-lib", Some(&h.writer), &body).await,
        StatusCode::CREATED
    );

    let merged = client()
        .get(h.at("npm-public/internal-lib"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let versions: Vec<&String> = merged["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0"], "{merged}");
    assert_eq!(merged["dist-tags"]["latest"], "1.0.0");
    assert_eq!(
        upstream.count(Method::GET, "/internal-lib"),
        0,
        "the private name was asked of the public registry"
    );
    let public = client()
        .get(h.at("npm-public/left-pad"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert!(public["versions"]["1.3.0"].is_object(), "{public}");
    let upstream_tarball = client()
        .get(h.at("npm-public/internal-lib/-/internal-lib-99.0.0.tgz"))
        .send()
        .await
        .unwrap();
    assert_eq!(upstream_tarball.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn allow_shadowing_mixes_the_versions() {
    let upstream = NpmRegistry::start().await;
    upstream.publish("internal-lib", "99.0.0", &[]);
    let h = Hosted::start_with(Kind::Npm, &upstream.url, |g| g.allow_shadowing = true).await;
    let body = publish_body("internal-lib", "1.0.0", b"mine");
    assert_eq!(
        put(&h, "npm-releases/internal-lib", Some(&h.writer), &body).await,
        StatusCode::CREATED
    );
    let merged = client()
        .get(h.at("npm-public/internal-lib"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let versions: Vec<&String> = merged["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0", "99.0.0"], "{merged}");
}

#[tokio::test]
async fn npm_login_answers_a_token_for_a_valid_password() {
    let upstream = NpmRegistry::start().await;
    let h = Hosted::start(Kind::Npm, &upstream.url).await;
    let login = |user: &str, password: &str| {
        let body = serde_json::json!({
            "_id": format!("org.couchdb.user:{user}"), "name": user, "password": password,
            "type": "user", "roles": [], "date": "2026-01-01T00:00:00.000Z",
        });
        let req = client()
            .put(h.at(&format!("npm-releases/-/user/org.couchdb.user:{user}")))
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).unwrap());
        async move { req.send().await.unwrap() }
    };
    let wrong = login("writer", "nope").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = login("writer", "writer-pw").await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let answer = ok.json_value().await;
    let token = answer["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("repox-"), "{answer}");
    let body = publish_body("logged-in", "1.0.0", b"tgz");
    assert_eq!(
        put(&h, "npm-releases/logged-in", Some(&token), &body).await,
        StatusCode::CREATED
    );
    // The web login npm tries first is not offered: npm falls back to the password.
    let web = client()
        .post(h.at("npm-releases/-/v1/login"))
        .send()
        .await
        .unwrap();
    assert!(web.status().is_client_error(), "{}", web.status());
}

#[tokio::test]
async fn uploads_are_listed_for_admins_and_the_console_without_internal_documents() {
    let upstream = NpmRegistry::start().await;
    let h = Hosted::start(Kind::Npm, &upstream.url).await;
    let tgz = b"tarball bytes".to_vec();
    let good = publish_body("lib", "1.0.0", &tgz);
    assert_eq!(
        put(&h, "npm-releases/lib", Some(&h.writer), &good).await,
        StatusCode::CREATED
    );
    let get = |path: &'static str| {
        let req = client()
            .get(h.at(path))
            .header(header::AUTHORIZATION, bearer(&h.admin));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            resp.json_value().await
        }
    };

    let admin = get("-/hosted/npm-releases/").await;
    let files = admin["files"].as_array().unwrap();
    let find = |p: &str| files.iter().find(|f| f["path"] == p).cloned();
    let tarball = find("lib/-/lib-1.0.0.tgz").expect("tarball listed");
    assert_eq!(tarball["size"], tgz.len());
    assert_eq!(tarball["internal"], false);
    assert!(tarball["uploaded"].as_u64().unwrap() > 0, "{tarball}");
    let doc = find("lib/-/package.json").expect("the document is listed, marked");
    assert_eq!(doc["internal"], true);

    let console = get("-/api/cache/npm-releases").await;
    let hosted = console["hosted"].as_array().expect("a hosted section");
    let paths: Vec<&str> = hosted.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["lib/-/lib-1.0.0.tgz"], "{console}");
    assert_eq!(hosted[0]["size"], tgz.len());
    let proxy = get("-/api/cache/npm").await;
    assert!(proxy.get("hosted").is_none(), "{proxy}");
}

/// The group's packument and its `X-Repox-Cache`: `miss` when merged, `hit` from memory.
async fn group_doc(h: &Hosted, name: &str, accept: &str) -> (String, serde_json::Value) {
    let resp = client()
        .get(h.at(&format!("npm-public/{name}")))
        .header(header::ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cache = resp.headers()["x-repox-cache"].to_str().unwrap().to_owned();
    (cache, resp.json_value().await)
}

#[tokio::test]
async fn a_group_merges_again_only_when_a_member_changed() {
    let upstream = NpmRegistry::start().await;
    upstream.publish("left-pad", "1.3.0", &[]);
    upstream.publish("shared", "2.0.0", &[]);
    let h = Hosted::start_with(Kind::Npm, &upstream.url, |g| g.allow_shadowing = true).await;
    let h = &h;
    let publish = |v: &'static str| {
        let body = publish_body("shared", v, v.as_bytes());
        async move { put(h, "npm-releases/shared", Some(&h.writer), &body).await }
    };
    assert_eq!(publish("1.0.0").await, StatusCode::CREATED);

    let full = "application/json";
    let short = "application/vnd.npm.install-v1+json";
    let mut merges = 0;
    for _ in 0..3 {
        let (cache, doc) = group_doc(h, "shared", full).await;
        merges += usize::from(cache == "miss");
        assert!(doc["versions"]["1.0.0"].is_object() && doc["versions"]["2.0.0"].is_object());
        assert!(doc["time"]["1.0.0"].is_string(), "{doc}");
    }
    assert_eq!(merges, 1, "merged once for three requests");
    // Another representation is another merge, and keeps its own media type.
    let (cache, doc) = group_doc(h, "shared", short).await;
    assert_eq!(cache, "miss");
    assert!(doc.get("time").is_none(), "{doc}");
    let (cache, _) = group_doc(h, "shared", full).await;
    assert_eq!(cache, "hit");

    // An upload changes the hosted member's answer: the next request merges again.
    assert_eq!(publish("1.1.0").await, StatusCode::CREATED);
    let (cache, doc) = group_doc(h, "shared", full).await;
    assert_eq!(cache, "miss");
    assert!(doc["versions"]["1.1.0"].is_object(), "{doc}");
    let (cache, _) = group_doc(h, "shared", full).await;
    assert_eq!(cache, "hit");
    // Proxied names alone are kept too.
    let (first, _) = group_doc(h, "left-pad", full).await;
    let (second, _) = group_doc(h, "left-pad", full).await;
    assert_eq!((first.as_str(), second.as_str()), ("miss", "hit"));
}
