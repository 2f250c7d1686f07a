//! Coalescing: at most one piece of work per key at a time, every other caller waits for it
//! (uv's `OnceMap`: register, wait, done). Downloads use it for fills, whose state (progress,
//! then the outcome) is published on a `watch` channel that clients tail; documents derived from
//! cached bodies (merged metadata, rendered pages, digest indexes) use it through
//! [`Repository::coalesce`](crate::repository::Repository::coalesce), whose followers get the
//! leader's result.
//!
//! The leader holds a [`Lead`]; dropping it (done, failed, or cancelled with its client) takes
//! the key out of the map, so a follower whose leader went away without a result registers
//! again instead of waiting forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// In-flight work by key, each publishing a state `S`.
pub struct Flights<S> {
    map: Mutex<HashMap<String, watch::Receiver<S>>>,
}

impl<S> Default for Flights<S> {
    fn default() -> Self {
        Flights {
            map: Mutex::default(),
        }
    }
}

/// What [`Flights::join`] found.
pub enum Joined<S> {
    /// Nobody was at it: the caller does the work and publishes on the lead's sender.
    Lead(Lead<S>),
    /// Somebody is: watch its state.
    Follow(watch::Receiver<S>),
}

/// The right and duty to do the work for a key; the key is free again when it is dropped.
pub struct Lead<S> {
    flights: Arc<Flights<S>>,
    key: String,
    /// Where the state goes.
    pub tx: watch::Sender<S>,
}

impl<S> Drop for Lead<S> {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        // Only our own registration: a later leader may have taken the key meanwhile.
        if map
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            map.remove(&self.key);
        }
    }
}

impl<S: Clone + Default> Flights<S> {
    /// Registers as the worker for `key`, or joins the one at work.
    pub fn join(self: &Arc<Self>, key: &str) -> Joined<S> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(key) {
            return Joined::Follow(rx.clone());
        }
        let (tx, rx) = watch::channel(S::default());
        map.insert(key.to_owned(), rx);
        Joined::Lead(Lead {
            flights: self.clone(),
            key: key.to_owned(),
            tx,
        })
    }

    /// The state of the work running for `key`, if any.
    pub fn get(&self, key: &str) -> Option<watch::Receiver<S>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }
}

/// A derived document, type-erased so one map serves every kind.
pub type Derived = Option<Arc<dyn std::any::Any + Send + Sync>>;

impl Flights<Derived> {
    /// Runs `make` for `key`, or waits for the run in progress and takes its result. A caller
    /// whose leader went away without a result takes over.
    pub async fn coalesce<T, F>(self: &Arc<Self>, key: &str, make: F) -> T
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = T>,
    {
        let lead = loop {
            match self.join(key) {
                Joined::Lead(lead) => break lead,
                Joined::Follow(rx) => {
                    if let Some(done) = result_of::<T>(rx).await {
                        return done;
                    }
                }
            }
        };
        let done = make.await;
        lead.tx.send_replace(Some(Arc::new(done.clone())));
        done
    }
}

/// Waits for a leader's result; `None` when it went away without one.
async fn result_of<T: Clone + 'static>(mut rx: watch::Receiver<Derived>) -> Option<T> {
    loop {
        if let Some(value) = rx.borrow_and_update().as_ref() {
            return value.downcast_ref::<T>().cloned();
        }
        rx.changed().await.ok()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_per_key_and_the_key_frees_when_it_goes() {
        let flights = Arc::new(Flights::<Derived>::default());
        let Joined::Lead(lead) = flights.join("k") else {
            panic!("the first caller leads");
        };
        let Joined::Follow(rx) = flights.join("k") else {
            panic!("the second follows");
        };
        assert!(matches!(flights.join("other"), Joined::Lead(_)));
        lead.tx.send_replace(Some(Arc::new(42u32)));
        assert_eq!(result_of::<u32>(rx).await, Some(42));
        drop(lead);
        let Joined::Lead(lead) = flights.join("k") else {
            panic!("a finished key can be led again");
        };
        let Joined::Follow(rx) = flights.join("k") else {
            panic!("followed");
        };
        drop(lead);
        assert_eq!(
            result_of::<u32>(rx).await,
            None,
            "a leader gone without a result"
        );
        assert!(flights.get("k").is_none());
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_survive_a_cancelled_leader() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let flights = Arc::new(Flights::<Derived>::default());
        let runs = AtomicU32::new(0);
        let (go, gate) = watch::channel(false);
        let make = |n: u32| {
            let (runs, mut gate) = (&runs, gate.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                n
            }
        };
        // A leader cancelled mid-run: its follower takes over.
        let mut cancelled = Box::pin(flights.coalesce("k", make(1)));
        let mut follower = Box::pin(flights.coalesce("k", make(2)));
        assert!(futures_util::poll!(cancelled.as_mut()).is_pending());
        assert!(futures_util::poll!(follower.as_mut()).is_pending());
        drop(cancelled);
        assert!(
            futures_util::poll!(follower.as_mut()).is_pending(),
            "it leads now"
        );
        let mut others: Vec<_> = (3..8)
            .map(|n| Box::pin(flights.coalesce("k", make(n))))
            .collect();
        for other in &mut others {
            assert!(futures_util::poll!(other.as_mut()).is_pending());
        }
        go.send_replace(true);
        let (first, rest) = tokio::join!(follower, futures_util::future::join_all(others));
        assert_eq!(first, 2, "the follower ran it after the leader went");
        assert_eq!(rest, vec![2; 5], "later callers got its result");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the cancelled run and one more"
        );
    }
}
