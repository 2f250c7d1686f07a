//! Failed logins per client address: after [`MAX_FAILURES`] in a [`WINDOW`], every request with
//! credentials from that address gets 429 until the window has passed, so passwords cannot be
//! guessed at argon2 speed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address and window.
pub const MAX_FAILURES: u32 = 10;
/// How long failures are counted.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past that, expired windows are dropped first.
const MAX_ADDRESSES: usize = 100_000;

/// Failure counts by client address.
#[derive(Default)]
pub struct FailureLimiter {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// How long `addr` must still wait, if it is locked out.
    pub fn locked(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, failures) = windows.get(&addr)?;
        let ends = *start + WINDOW;
        (*failures >= MAX_FAILURES && ends > now).then(|| ends - now)
    }

    /// Records a failed login from `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (start, _)| *start + WINDOW > now);
            if windows.len() >= MAX_ADDRESSES {
                windows.clear();
            }
        }
        let window = windows.entry(addr).or_insert((now, 0));
        if window.0 + WINDOW <= now {
            *window = (now, 0);
        }
        window.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_until_the_window_passes() {
        let limiter = FailureLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            limiter.failed(a, t0);
        }
        assert_eq!(limiter.locked(a, t0), None);
        limiter.failed(a, t0);
        assert_eq!(
            limiter.locked(a, t0 + Duration::from_secs(1)),
            Some(WINDOW - Duration::from_secs(1))
        );
        assert_eq!(limiter.locked(b, t0), None, "per address");
        assert_eq!(limiter.locked(a, t0 + WINDOW), None);
        limiter.failed(a, t0 + WINDOW);
        assert_eq!(limiter.locked(a, t0 + WINDOW), None, "a new window starts");
    }
}
