//! Date snapshots: `/<repo>/@2025-06-01/…` serves each index as it was at the start of that
//! day (00:00 UTC): versions published at or after it are left out, their files answer 403.
//! The same URL resolves the same versions on every run, for every client, without client
//! support (uv's `exclude-newer` for everyone).
//!
//! The date is a property of the request, not of the repository: `server.rs` strips the
//! `@date` segment and runs the request inside [`scope`], and [`super::current`] reads it. A
//! task-local keeps the ecosystems' handler signatures as they are; work they hand to other
//! tasks (fills, blocking parses) receives the [`super::Policy`] value itself.

use std::fmt;
use std::str::FromStr;

/// A snapshot date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snapshot {
    /// 00:00 UTC of the date, Unix seconds.
    cutoff: i64,
}

impl Snapshot {
    /// The first second that is after the snapshot (00:00 UTC of its date), Unix seconds.
    pub fn cutoff(self) -> i64 {
        self.cutoff
    }
}

impl FromStr for Snapshot {
    type Err = String;

    /// `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Snapshot, String> {
        let ok = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        let bad = || format!("`{s}` is not a snapshot date; write YYYY-MM-DD, e.g. 2025-06-01");
        if !ok {
            return Err(bad());
        }
        let t = humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).map_err(|_| bad())?;
        let cutoff = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| bad())?
            .as_secs() as i64;
        Ok(Snapshot { cutoff })
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = super::format_time(self.cutoff);
        f.write_str(full.get(..10).unwrap_or(&full))
    }
}

/// The snapshot of a request, and the group the client asked when the date came with a group's
/// URL: its members refuse what the date hides, but the refusal is the group's.
#[derive(Clone)]
struct Scope {
    snapshot: Snapshot,
    group: Option<std::sync::Arc<str>>,
}

tokio::task_local! {
    static SNAPSHOT: Scope;
}

/// Runs `fut` as a request under `snapshot`.
pub async fn scope<F: Future>(snapshot: Snapshot, fut: F) -> F::Output {
    let group = None;
    SNAPSHOT.scope(Scope { snapshot, group }, fut).await
}

/// Runs `fut` as a request to group `group` under `snapshot`: a member's refusal by the date
/// is counted under the group ([`counted_under`]).
pub async fn group_scope<F: Future>(snapshot: Snapshot, group: &str, fut: F) -> F::Output {
    let group = Some(group.into());
    SNAPSHOT.scope(Scope { snapshot, group }, fut).await
}

/// The snapshot of the request being served, if any.
pub fn current() -> Option<Snapshot> {
    SNAPSHOT.try_with(|s| s.snapshot).ok()
}

/// The repository a refusal by the snapshot date is counted under: the group the client
/// asked when the date came with a group's URL, else `repository` itself.
pub fn counted_under(repository: &str) -> String {
    SNAPSHOT
        .try_with(|s| s.group.as_deref().map(str::to_owned))
        .ok()
        .flatten()
        .unwrap_or_else(|| repository.to_owned())
}

/// Splits `@YYYY-MM-DD/rest` into the snapshot and `rest`; `None` when the first segment is not
/// shaped like a date (npm scopes such as `@types` or `@1password` are not).
pub fn split(path: &str) -> Option<(Result<Snapshot, String>, &str)> {
    let rest = path.strip_prefix('@')?;
    let (date, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let shaped = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped.then(|| (date.parse(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_print() {
        let s: Snapshot = "2025-06-01".parse().unwrap();
        assert_eq!(s.cutoff(), 1_748_736_000);
        assert_eq!(s.to_string(), "2025-06-01");
        for bad in [
            "2025-6-1",
            "2025-13-01",
            "yesterday",
            "2025-06-01T00:00:00Z",
        ] {
            assert!(bad.parse::<Snapshot>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_leading_date_segment_is_a_snapshot() {
        let (s, rest) = split("@2025-06-01/simple/x/").unwrap();
        assert_eq!(
            (s.unwrap().to_string().as_str(), rest),
            ("2025-06-01", "simple/x/")
        );
        assert!(split("@types/node").is_none());
        assert!(split("@1password/op-js").is_none());
        assert!(split("simple/").is_none());
        assert!(split("@2025-99-01/simple/").unwrap().0.is_err());
    }

    #[tokio::test]
    async fn the_scope_is_seen_inside_only() {
        assert_eq!(current(), None);
        let s: Snapshot = "2025-06-01".parse().unwrap();
        assert_eq!(scope(s, async { current() }).await, Some(s));
        assert_eq!(scope(s, async { counted_under("m") }).await, "m");
        assert_eq!(group_scope(s, "g", async { counted_under("m") }).await, "g");
        assert_eq!(counted_under("m"), "m");
    }
}
