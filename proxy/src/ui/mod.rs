//! The web console at `/-/ui/`: a dashboard, a cache browser, a set-up page and a settings page,
//! served by the binary itself. Pages are rendered here as HTML with their first numbers in
//! them; one small stylesheet and one plain script (`assets/`, embedded with `include_str!`,
//! no build step) keep them current through the admin API (`api/`), which is also how the
//! settings page changes anything. Also here: what `/` answers (a browser is sent to the
//! console, curl gets a short text naming the version and the repositories).

pub mod setup;

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use crate::server::App;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// The console's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/-/ui", get(|| async { Redirect::permanent("/-/ui/") }))
        .route("/-/ui/", get(dashboard))
        .route("/-/ui/cache", get(cache))
        .route("/-/ui/setup", get(setup_page))
        .route("/-/ui/settings", get(settings))
        .route(
            "/-/ui/app.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/-/ui/app.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The file changes only with the binary, and pages ask for it with the version in the
    // query: a browser may keep it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: header with navigation, `body`, the script.
fn page(page: &str, title: &str, body: &str) -> Response {
    let nav = [
        ("dashboard", "/-/ui/", "Dashboard"),
        ("cache", "/-/ui/cache", "Cache"),
        ("setup", "/-/ui/setup", "Set up"),
        ("settings", "/-/ui/settings", "Settings"),
    ]
    .iter()
    .map(|(id, href, label)| {
        let on = if *id == page { " class=\"on\"" } else { "" };
        format!("<a href=\"{href}\"{on}>{label}</a>")
    })
    .collect::<String>();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · repox</title><link rel=\"stylesheet\" href=\"/-/ui/app.css?v={version}\">\
         <script src=\"/-/ui/app.js?v={version}\" defer></script></head>\
         <body data-page=\"{page}\"><header><b>repox</b><nav>{nav}</nav>\
         <span class=\"ver\">v{version}</span></header><main><div id=\"msg\"></div>{body}</main>\
         </body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    );
    let mut resp = axum::response::Html(html).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The pages load only their own script and style; nothing may frame them.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// Byte counts as people read them.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

async fn dashboard(State(app): State<Arc<App>>) -> Response {
    let repos = crate::api::stats::repositories(&app);
    let mut cards = String::new();
    for (name, r) in &repos {
        let _ = write!(
            cards,
            "<div class=\"card\" data-repo=\"{n}\"><h3>{n} <span class=\"muted\">{k} · {p}</span></h3>\
             <dl><dt>requests</dt><dd class=\"requests\">{req}</dd><dt>hit ratio</dt><dd class=\"ratio\">{ratio:.1} %</dd>\
             <dt>served</dt><dd>{served}</dd><dt>fetched upstream</dt><dd>{fetched}</dd>\
             <dt>saved</dt><dd>{saved}</dd><dt>cached</dt><dd>{cached}</dd></dl></div>",
            n = esc(name),
            k = r.kind,
            p = esc(&r.path),
            req = r.counters.requests,
            ratio = r.counters.hit_ratio * 100.0,
            served = human(r.counters.bytes_served),
            fetched = human(r.counters.bytes_fetched),
            saved = human(r.counters.bytes_saved),
            cached = r.cache_bytes.map_or("–".to_owned(), human),
        );
    }
    let index = app.services.store.index();
    let body = format!(
        "<div class=\"bar muted\">up <span id=\"uptime\">{up} min</span> · cache \
         <span id=\"cachesize\">{cache}</span>{offline}</div>\
         <h2>Repositories</h2><div class=\"cards\" id=\"repos\">{cards}</div>\
         <h2>Upstreams</h2><table id=\"upstreams\"><thead><tr><th>repository</th><th>upstream</th>\
         <th>URL</th><th class=\"n\">priority</th><th>health</th><th class=\"n\">requests</th>\
         <th class=\"n\">latency p50 / p90 / p99 (ms)</th><th class=\"n\">errors</th><th>last error</th>\
         <th class=\"n\">negative cache</th></tr></thead><tbody></tbody></table>\
         <h2>Live requests</h2><table id=\"feed\"><thead><tr><th>time</th><th>method</th><th>path</th>\
         <th class=\"n\">status</th><th>cache</th><th>upstream</th><th class=\"n\">duration</th>\
         <th class=\"n\">bytes</th></tr></thead><tbody></tbody></table>",
        up = app.started.elapsed().as_secs() / 60,
        cache = index.map_or("–".to_owned(), |i| human(i.bytes())),
        offline = if app.services.offline {
            " · <b>offline</b>: only cached files are served"
        } else {
            ""
        },
    );
    page("dashboard", "Dashboard", &body)
}

async fn cache(State(app): State<Arc<App>>) -> Response {
    let options: String = app
        .repositories()
        .keys()
        .map(|n| format!("<option>{}</option>", esc(n)))
        .collect();
    let body = format!(
        "<form id=\"search\" class=\"bar\"><select id=\"repo\">{options}</select>\
         <input id=\"q\" placeholder=\"search paths\" size=\"30\"><button>search</button>\
         <span class=\"crumbs mono\" id=\"crumbs\"></span></form>\
         <table id=\"entries\"><thead><tr><th>path</th><th class=\"n\">size</th><th>fetched</th>\
         <th>last access</th><th>upstream</th><th>verification</th><th></th></tr></thead><tbody></tbody></table>\
         <p class=\"muted\" id=\"more\"></p>\
         <section id=\"hosted\" hidden><h2>Hosted <span class=\"muted\">(uploaded files; never evicted)</span></h2>\
         <table><thead><tr><th>path</th><th class=\"n\">size</th><th>uploaded</th></tr></thead><tbody></tbody></table>\
         <p class=\"muted\" id=\"hosted-more\"></p></section>\
         <div class=\"bar\"><input id=\"project\" placeholder=\"project (Maven: group:artifact)\" size=\"32\">\
         <button class=\"danger\" id=\"purge-project\">purge project</button></div>\
         <h2>Negative cache <span class=\"muted\">(paths upstreams answered 404 for, not asked again until expiry)</span></h2>\
         <table id=\"negative\"><thead><tr><th>path</th><th>upstream</th><th>expires</th></tr></thead><tbody></tbody></table>\
         <div class=\"bar\"><button class=\"danger\" id=\"clear-negative\">clear negative cache here</button></div>"
    );
    page("cache", "Cache", &body)
}

async fn setup_page(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let origin = crate::origin::request_origin(&headers, &uri);
    let mut body = format!(
        "<p>Point each client at this server ({}). <code>repox configure</code> edits the \
         client's own file, keeps what else is in it, and can undo (<code>--undo</code>); \
         <code>--dry-run</code> shows the change first.</p>",
        esc(&origin)
    );
    for repo in app.repositories().values() {
        let _ = write!(
            body,
            "<h2 id=\"{n}\">{n} <span class=\"muted\">{k} · {o}/{n}/</span></h2>",
            n = esc(&repo.name),
            k = repo.config.kind.as_str(),
            o = esc(&origin)
        );
        match setup::command(repo, &origin) {
            Some(command) => {
                let _ = write!(
                    body,
                    "<div><pre>{}</pre><button class=\"copy\">copy</button></div>",
                    esc(&command)
                );
            }
            None => {
                let _ = write!(
                    body,
                    "<p class=\"muted\"><code>repox configure</code> points clients at \
                     <code>/{}/</code>; this repository is at <code>/{}/</code>, so copy the \
                     configuration below.</p>",
                    setup::default_name(repo.config.kind),
                    esc(&repo.name)
                );
            }
        }
        for c in setup::configs(repo, &origin) {
            let _ = write!(
                body,
                "<div><b>{}</b> <span class=\"muted mono\">{}</span><pre>{}</pre>\
                 <button class=\"copy\">copy</button></div>",
                c.client,
                c.file,
                esc(&c.text)
            );
        }
    }
    page("setup", "Set up", &body)
}

async fn settings() -> Response {
    let kinds: String = ["maven", "pypi", "npm", "cargo", "conda"]
        .iter()
        .map(|k| format!("<option>{k}</option>"))
        .collect();
    let body = format!(
        "<p class=\"muted\" id=\"file\"></p><div class=\"bar\"><button id=\"undo\" disabled>undo last change</button></div>\
         <section class=\"card\" id=\"server\"><h3>Server</h3><div class=\"bar\">\
         <label>ca_certificates <input id=\"server-ca\" size=\"40\" placeholder=\"PEM file of CAs every upstream trusts\"></label>\
         <button class=\"primary\" id=\"save-server\">save server</button></div></section>\
         <div id=\"repos\" class=\"stack\"></div>\
         <h2>Add a repository</h2><div class=\"bar\"><input id=\"new-name\" placeholder=\"name\" class=\"short\">\
         <select id=\"new-kind\">{kinds}</select><input id=\"new-url\" placeholder=\"upstream URL\" size=\"40\">\
         <button id=\"add-repo\">add</button></div>\
         <p class=\"muted\">Durations are written like <code>5s</code>, <code>10m</code>; lower priorities are asked first, \
         upstreams of one priority are raced. Credentials are named by their environment variable \
         (<code>password_env</code>); their values never appear here. <code>ca_certificates</code> names a PEM file of \
         CA certificates trusted on top of the system's (a private CA, a TLS-inspecting proxy): the server's for every \
         upstream, an upstream's own in addition for that upstream; a relative path is relative to the config file.</p>"
    );
    page("settings", "Settings", &body)
}

/// `GET /`: browsers (`Accept: text/html`) go to the console; anything else gets the version
/// and the repositories with their URLs as plain text.
pub async fn root(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return Redirect::to("/-/ui/").into_response();
    }
    let origin = crate::origin::request_origin(&headers, &uri);
    let mut text = format!("repox {} caching proxy\n\n", env!("CARGO_PKG_VERSION"));
    let repositories = app.repositories();
    if repositories.is_empty() {
        text.push_str("No repositories are configured.\n");
    }
    for repo in repositories.values() {
        let _ = writeln!(
            text,
            "  {:<8} {:<6} {origin}/{}/",
            repo.name,
            repo.config.kind.as_str(),
            repo.name
        );
    }
    let _ = write!(
        text,
        "\nSet up a client: curl {origin}/NAME/ or open {origin}/-/ui/setup\n\
         Dashboard: {origin}/-/ui/   Health: {origin}/-/health   Metrics: {origin}/-/metrics\n"
    );
    (StatusCode::OK, text).into_response()
}
