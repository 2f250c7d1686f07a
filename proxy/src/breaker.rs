//! A circuit breaker per upstream, so that a failing upstream costs nothing.
//!
//! Without it every request would wait the full connect+idle timeout of an upstream that has
//! been hanging for an hour. After `breaker_failures` consecutive failures (connection errors,
//! timeouts, 5xx, 429, a proxy's 407; a 404 or 403 is an answer, not a failure: see [`outage`],
//! which goes by the status `upstream::judge` keeps, never by the message) the upstream is
//! *down* for a back-off
//! (`breaker_backoff`, doubling at each failed probe up to `breaker_backoff_max`). While down
//! it is not asked: the caller sees [`Down`] at once, so stale entries are served at once and
//! misses fail over to the other upstreams or fail fast. When the back-off has passed, one
//! request is let through as a *half-open* probe; its success closes the breaker, its failure
//! opens it again for twice as long.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use url::Url;

use crate::upstream::Verdict;

/// The breaker of one upstream.
#[derive(Debug)]
pub struct Breaker {
    /// The upstream's name, for the log.
    name: String,
    threshold: u32,
    base: Duration,
    max: Duration,
    state: Mutex<State>,
    trips: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    /// Set while the breaker is open (down), also during its half-open probe.
    down_until: Option<(Instant, SystemTime)>,
    /// The back-off used for the current (or next) opening.
    backoff: Duration,
    /// A half-open probe is in flight.
    probing: bool,
    last_error: Option<String>,
}

/// The upstream is down: it was not asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// When the next probe will be allowed.
    pub until: SystemTime,
    /// Consecutive failures so far.
    pub failures: u32,
    /// The last failure, without credentials or query strings.
    pub last_error: String,
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upstream is down until {} after {} consecutive failures (last: {}); not asked",
            humantime::format_rfc3339_seconds(self.until),
            self.failures,
            self.last_error
        )
    }
}

/// A state change worth a metric or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// The upstream was marked down.
    Tripped,
    /// A probe succeeded: the upstream is up again.
    Recovered,
}

/// Leave to ask the upstream once. A half-open probe that is dropped without a result (its
/// request was cancelled, e.g. because another upstream won a race) lets the next request probe.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

/// What `/-/health` shows of a breaker.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    /// `up`, `down` or `half-open` (back-off over, the next request probes).
    pub state: &'static str,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// RFC 3339 time of the next probe while down.
    pub down_until: Option<String>,
    /// The last failure, without credentials or query strings.
    pub last_error: Option<String>,
    /// Times the upstream was marked down since start.
    pub trips: u64,
}

impl Breaker {
    /// A closed breaker. `threshold` 0 disables it (the upstream is always asked).
    pub fn new(name: &str, threshold: u32, backoff: Duration, max: Duration) -> Breaker {
        let base = backoff.max(Duration::from_millis(1));
        Breaker {
            name: name.to_owned(),
            threshold,
            base,
            max: max.max(base),
            state: Mutex::new(State {
                backoff: base,
                ..State::default()
            }),
            trips: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain fields, consistent after any panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May the upstream be asked now? `Err` while it is down, and while another request
    /// probes it.
    pub fn admit(&self) -> Result<Permit<'_>, Down> {
        let mut st = self.state();
        let Some((until, wall)) = st.down_until else {
            return Ok(Permit {
                breaker: self,
                probe: false,
                reported: false,
            });
        };
        if Instant::now() < until || st.probing {
            return Err(Down {
                until: wall,
                failures: st.failures,
                last_error: st.last_error.clone().unwrap_or_default(),
            });
        }
        st.probing = true;
        Ok(Permit {
            breaker: self,
            probe: true,
            reported: false,
        })
    }

    fn succeeded(&self) -> Transition {
        let mut st = self.state();
        let was_down = st.down_until.is_some();
        st.failures = 0;
        st.down_until = None;
        st.probing = false;
        st.backoff = self.base;
        if was_down {
            tracing::info!("upstream `{}` answers again: it is asked again", self.name);
            Transition::Recovered
        } else {
            Transition::None
        }
    }

    fn failed(&self, probe: bool, why: &str) -> Transition {
        let mut st = self.state();
        st.failures = st.failures.saturating_add(1);
        st.last_error = Some(redact(why));
        let open = if probe {
            st.probing = false;
            st.backoff = st.backoff.saturating_mul(2).min(self.max);
            true
        } else {
            self.threshold > 0 && st.down_until.is_none() && st.failures >= self.threshold
        };
        if !open {
            return Transition::None;
        }
        let now = Instant::now();
        let until = now.checked_add(st.backoff).unwrap_or(now);
        let wall = SystemTime::now()
            .checked_add(st.backoff)
            .unwrap_or_else(SystemTime::now);
        st.down_until = Some((until, wall));
        self.trips.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "upstream `{}` is down after {} consecutive failures (last: {}); not asked until {}",
            self.name,
            st.failures,
            st.last_error.as_deref().unwrap_or_default(),
            humantime::format_rfc3339_seconds(wall)
        );
        Transition::Tripped
    }

    /// The state for `/-/health`.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state();
        let (state, down_until) = match st.down_until {
            None => ("up", None),
            Some((until, wall)) => {
                let state = if Instant::now() < until && !st.probing {
                    "down"
                } else {
                    "half-open"
                };
                let wall = humantime::format_rfc3339_seconds(wall).to_string();
                (state, Some(wall))
            }
        };
        Snapshot {
            state,
            consecutive_failures: st.failures,
            down_until,
            last_error: st.last_error.clone(),
            trips: self.trips.load(Ordering::Relaxed),
        }
    }

    /// False while the upstream is marked down (including its half-open probe).
    pub fn is_up(&self) -> bool {
        self.state().down_until.is_none()
    }
}

impl Permit<'_> {
    /// The upstream answered (any status that is not an outage, 404 included).
    pub fn succeeded(mut self) -> Transition {
        self.reported = true;
        self.breaker.succeeded()
    }

    /// The upstream failed: a connection error, a timeout or a 5xx.
    pub fn failed(mut self, why: &str) -> Transition {
        self.reported = true;
        self.breaker.failed(self.probe, why)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.breaker.state().probing = false;
        }
    }
}

/// The failure text when `verdict` is an outage: a connection error, a timeout, a 5xx, 429 Too
/// Many Requests (which asks for exactly this back-off) or 407 Proxy Authentication Required
/// (the proxy in front refuses every request until its credentials are set). Any other answer,
/// 404 and 401/403 included, shows the upstream is up. Decided by the status, never the text.
pub fn outage(verdict: &Verdict) -> Option<String> {
    match verdict {
        Verdict::TimedOut => Some("no response in time".to_owned()),
        Verdict::Failed(fault) => match fault.status {
            Some(status)
                if status.is_client_error()
                    && status != StatusCode::TOO_MANY_REQUESTS
                    && status != StatusCode::PROXY_AUTHENTICATION_REQUIRED =>
            {
                None
            }
            _ => Some(fault.why.clone()),
        },
        Verdict::Found(_) | Verdict::NotModified | Verdict::Missing => None,
    }
}

/// `text` with every URL in it cut down to scheme, host, port and path: no user name,
/// password, query string or fragment (tokens travel there).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme starts after the last character that cannot be in one.
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '>' | '"' | '\'' | ','))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        match Url::parse(&rest[start..end]) {
            Ok(mut url) if url.has_host() => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_query(None);
                url.set_fragment(None);
                out.push_str(url.as_str());
            }
            // Not a URL we can rewrite: drop it rather than risk showing a secret.
            _ => out.push_str("<url>"),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Fault;

    #[test]
    fn trips_after_the_threshold_and_a_404_resets_the_count() {
        let b = Breaker::new("t", 3, Duration::from_secs(60), Duration::from_secs(300));
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::None);
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::None);
        assert_eq!(b.admit().unwrap().succeeded(), Transition::None);
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::None);
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::None);
        assert!(b.is_up());
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::Tripped);
        let down = b.admit().unwrap_err();
        assert_eq!(down.failures, 3);
        assert!(down.to_string().contains("down until"), "{down}");
        let snap = b.snapshot();
        assert_eq!(snap.state, "down");
        assert_eq!(snap.trips, 1);
        assert!(snap.down_until.is_some());
    }

    #[test]
    fn one_probe_after_the_back_off_and_it_doubles_on_failure() {
        let b = Breaker::new("t", 1, Duration::from_millis(1), Duration::from_millis(3));
        assert_eq!(b.admit().unwrap().failed("boom"), Transition::Tripped);
        std::thread::sleep(Duration::from_millis(5));
        let probe = b.admit().unwrap();
        // Only one probe at a time.
        assert!(b.admit().is_err());
        assert_eq!(probe.failed("again"), Transition::Tripped);
        assert_eq!(b.state().backoff, Duration::from_millis(2));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(b.admit().unwrap().failed("again"), Transition::Tripped);
        assert_eq!(b.state().backoff, Duration::from_millis(3), "capped");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(b.admit().unwrap().succeeded(), Transition::Recovered);
        assert!(b.is_up());
        assert_eq!(b.state().backoff, Duration::from_millis(1), "reset");
        assert_eq!(b.snapshot().trips, 3);
    }

    #[test]
    fn a_cancelled_probe_lets_the_next_request_probe() {
        let b = Breaker::new("t", 1, Duration::from_millis(1), Duration::from_millis(1));
        let _ = b.admit().unwrap().failed("boom");
        std::thread::sleep(Duration::from_millis(3));
        drop(b.admit().unwrap());
        assert!(b.admit().is_ok());
    }

    #[test]
    fn threshold_zero_never_trips() {
        let b = Breaker::new("t", 0, Duration::from_secs(1), Duration::from_secs(1));
        for _ in 0..100 {
            assert_eq!(b.admit().unwrap().failed("boom"), Transition::None);
        }
        assert!(b.is_up());
    }

    #[test]
    fn outages_are_timeouts_connection_errors_5xx_429_and_407() {
        let status = |code: u16| {
            let status = StatusCode::from_u16(code).unwrap();
            outage(&Verdict::Failed(Fault {
                status: Some(status),
                why: format!("HTTP {status}"),
            }))
        };
        let failed = |s: &str| outage(&Verdict::Failed(Fault::new(s)));
        assert!(outage(&Verdict::TimedOut).is_some());
        assert!(failed("error sending request: connection refused").is_some());
        assert_eq!(
            status(503).as_deref(),
            Some("HTTP 503 Service Unavailable"),
            "the text is kept"
        );
        assert!(status(500).is_some());
        assert!(status(429).is_some());
        assert!(status(407).is_some());
        assert_eq!(status(401), None);
        assert_eq!(status(403), None);
        assert_eq!(status(400), None);
        assert_eq!(outage(&Verdict::Missing), None);
        assert_eq!(outage(&Verdict::NotModified), None);
        // The status decides, not the words: a connection error that happens to read like a
        // 4xx is an outage, and a 403 whatever its text is an answer.
        assert!(failed("HTTP 403 Forbidden").is_some());
        let worded = Fault {
            status: Some(StatusCode::FORBIDDEN),
            why: "HTTP 503 Service Unavailable".to_owned(),
        };
        assert_eq!(outage(&Verdict::Failed(worded)), None);
    }

    #[test]
    fn errors_lose_credentials_and_query_strings() {
        let text = "error sending request for url (https://bob:s3cret@repo.example/m2/a.jar?token=abc#x): connection refused";
        let out = redact(text);
        assert_eq!(
            out,
            "error sending request for url (https://repo.example/m2/a.jar): connection refused"
        );
        assert_eq!(
            redact("HTTP 503 Service Unavailable"),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(redact("see http://[bad"), "see <url>");
    }
}
