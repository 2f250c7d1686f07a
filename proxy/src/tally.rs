//! What a request answered by one repository counts into: its `/-/metrics` request counters
//! (`metrics.rs`) and its dashboard counters (`stats.rs`). Both are found by the repository's
//! name once, when the repository is built, and kept beside it, so the envelope (`server.rs`)
//! counts a hit without looking a name up in either table. Counters are keyed by name in their
//! tables, so a repository rebuilt by a live reconfiguration takes the same ones again.

use std::sync::Arc;

use crate::metrics::RepoRequests;
use crate::repository::Services;
use crate::stats::RepoCounters;

/// The counters of one repository.
pub(crate) struct Tally {
    /// Its `/-/metrics` request counters.
    pub(crate) requests: Arc<RepoRequests>,
    /// Its dashboard counters.
    pub(crate) dashboard: Arc<RepoCounters>,
}

impl Tally {
    /// The counters of the repository `name` of a server with `services`.
    pub(crate) fn new(services: &Services, name: &str) -> Tally {
        Tally {
            requests: services.metrics.repository(name),
            dashboard: services.stats.repository(name),
        }
    }
}
