//! Asking several upstreams at once. HEAD goes to every upstream not known to lack the path,
//! priority ignored; GET races the best tier and falls to the next tier only when the whole tier
//! failed. The first good answer wins and dropping the other futures cancels their requests.
//! Every 404 is remembered in the negative cache.

use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::{HeaderMap, Method, StatusCode, header};
use url::Url;

use crate::error::Failure;
use crate::repository::{Outcome, Repository, Resource, tagged};
use crate::upstream::{Fault, Verdict};

/// What went wrong across upstreams, to choose between 404, 502 and 504.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    messages: Vec<String>,
    all_timeouts: bool,
}

impl Failures {
    /// Records a non-404 failure.
    pub(crate) fn add(&mut self, upstream: &str, verdict: &Verdict) {
        let timeout = matches!(verdict, Verdict::TimedOut);
        if self.messages.is_empty() {
            self.all_timeouts = timeout;
        } else {
            self.all_timeouts &= timeout;
        }
        let why = match verdict {
            Verdict::Failed(fault) => fault.why.clone(),
            Verdict::TimedOut => "no response in time".into(),
            Verdict::NotModified => "unexpected 304".into(),
            Verdict::Found(_) | Verdict::Missing => return,
        };
        self.messages.push(format!("{upstream}: {why}"));
    }

    /// 404 when nothing but 404s were seen, else 504 (only timeouts) or 502.
    pub(crate) fn into_failure(self) -> Failure {
        if self.messages.is_empty() {
            Failure::NotFound
        } else if self.all_timeouts {
            Failure::Timeout(self.messages.join("; "))
        } else {
            Failure::Upstream(self.messages.join("; "))
        }
    }
}

impl Repository {
    /// Sends one request to one upstream and records its latency and result.
    pub(crate) async fn ask(
        &self,
        i: usize,
        request: reqwest::RequestBuilder,
        reject_html: bool,
    ) -> (usize, Verdict) {
        let up = &self.upstreams[i];
        // A down upstream is not asked: the caller fails over, serves stale or fails fast.
        let permit = match up.breaker.admit() {
            Ok(permit) => permit,
            Err(down) => return (i, Verdict::Failed(Fault::new(down.to_string()))),
        };
        let started = Instant::now();
        let verdict = up.send(request, reject_html).await;
        let result = match &verdict {
            Verdict::Found(_) | Verdict::NotModified => "ok",
            Verdict::Missing => "not_found",
            Verdict::Failed(_) | Verdict::TimedOut => "error",
        };
        self.services
            .metrics
            .upstream(&up.name, result, started.elapsed());
        let error = match &verdict {
            Verdict::Failed(fault) => Some(fault.why.as_str()),
            Verdict::TimedOut => Some("no response in time"),
            _ => None,
        };
        self.services.stats.upstream(
            &self.name,
            &up.name,
            started.elapsed(),
            error,
            matches!(verdict, Verdict::Missing),
        );
        let transition = match crate::breaker::outage(&verdict) {
            Some(why) => permit.failed(&why),
            None => permit.succeeded(),
        };
        self.services
            .metrics
            .breaker(&up.name, transition, up.breaker.is_up());
        (i, verdict)
    }

    fn request(
        &self,
        i: usize,
        method: Method,
        url: Url,
        res: &Resource,
    ) -> reqwest::RequestBuilder {
        let request = self.upstreams[i].request(method, url);
        match &res.accept {
            Some(accept) => request.header(header::ACCEPT, accept.clone()),
            None => request,
        }
    }

    /// Races GETs tier by tier. Returns the winner's index, URL and response.
    pub(crate) async fn race_get(
        &self,
        res: &Resource,
        excluded: &[usize],
    ) -> Result<(usize, Url, reqwest::Response), Failure> {
        let live: Vec<(usize, Url)> = self
            .targets(res)
            .into_iter()
            .filter(|(i, _)| !excluded.contains(i) && !self.lacks(res, *i))
            .collect();
        let mut failures = Failures::default();
        for tier in
            live.chunk_by(|a, b| self.upstreams[a.0].priority == self.upstreams[b.0].priority)
        {
            let mut racing: FuturesUnordered<_> = tier
                .iter()
                .map(|(i, url)| {
                    let request = self.request(*i, Method::GET, url.clone(), res);
                    async move { (self.ask(*i, request, res.reject_html).await, url) }
                })
                .collect();
            while let Some(((i, verdict), url)) = racing.next().await {
                match verdict {
                    Verdict::Found(resp) => return Ok((i, url.clone(), resp)),
                    Verdict::Missing => self.remember_missing(res, i),
                    other => failures.add(&self.upstreams[i].name, &other),
                }
            }
        }
        Err(failures.into_failure())
    }

    /// Answers a HEAD for an uncached resource: every upstream at once, first 2xx wins.
    pub(crate) async fn race_head(&self, res: &Resource) -> Response {
        let mut racing: FuturesUnordered<_> = self
            .targets(res)
            .into_iter()
            .filter(|(i, _)| !self.lacks(res, *i))
            .map(|(i, url)| {
                let method = if self.upstreams[i].head {
                    Method::HEAD
                } else {
                    Method::GET
                };
                let request = self.request(i, method, url, res);
                self.ask(i, request, res.reject_html)
            })
            .collect();
        let mut failures = Failures::default();
        while let Some((i, verdict)) = racing.next().await {
            match verdict {
                Verdict::Found(resp) => {
                    let headers = relay_headers(resp.headers(), res);
                    let upstream = Some(self.upstreams[i].name.clone());
                    let mut out = Response::new(Body::empty());
                    *out.status_mut() = StatusCode::OK;
                    *out.headers_mut() = headers;
                    return tagged(out, Outcome::Miss, upstream);
                }
                Verdict::Missing => self.remember_missing(res, i),
                other => failures.add(&self.upstreams[i].name, &other),
            }
        }
        tagged(failures.into_failure().into_response(), Outcome::Miss, None)
    }
}

/// The upstream headers worth passing on for a HEAD.
fn relay_headers(from: &HeaderMap, res: &Resource) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::LAST_MODIFIED,
        header::ETAG,
        header::ACCEPT_RANGES,
    ] {
        if let Some(v) = from.get(&name) {
            h.insert(name, v.clone());
        }
    }
    if res.checksums {
        for name in ["x-checksum-sha1", "x-checksum-md5", "x-checksum-sha256"] {
            if let Some(v) = from.get(name) {
                h.insert(name, v.clone());
            }
        }
    }
    h
}
