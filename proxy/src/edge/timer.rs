//! hyper's header-read timeout (`[server] header_read_timeout`) on one tokio timer per
//! connection.
//!
//! hyper arms a new sleep for every request head it waits for (from the connection's start, and
//! again as soon as a response is out, which is also what closes a connection idle between
//! requests) and drops it once the head is in. With hyper-util's `TokioTimer` each of those is a
//! boxed tokio `Sleep` put into the runtime's timer wheel and taken out again, twice a request
//! under the wheel's one lock, which both workers share, unlinking it from beside other
//! connections' entries: a cost that grew with the number of connections.
//!
//! [`ConnTimer`] gives hyper the same deadlines and checks, but each connection keeps one tokio
//! `Sleep` ([`Spare`]) that every head's sleep borrows and hands back. Moving a registered
//! timer's deadline later is one atomic update of its own entry (tokio files it again only when
//! the old deadline passes), so a busy connection touches the wheel about once per timeout
//! instead of twice per request. A borrowed sleep dropped with its deadline ahead stays in the
//! wheel: it may wake the connection's task once, for nothing, when that deadline passes.
//!
//! hyper reads the timer's clock ([`ConnTimer::now`]) for every request head, to set its
//! deadline: [`head_clock`] answers from the kernel's coarse clock instead of a precise read
//! (a fifth of a microsecond on this project's virtual machines, on every request).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type TokioSleep = Pin<Box<tokio::time::Sleep>>;

/// A connection's tokio timer while no head's sleep has it.
#[derive(Default)]
struct Spare(Mutex<Option<TokioSleep>>);

impl Spare {
    fn lock(&self) -> MutexGuard<'_, Option<TokioSleep>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// hyper's timer for one HTTP/1 connection (set on that connection's builder).
#[derive(Clone, Default)]
pub(crate) struct ConnTimer {
    spare: Arc<Spare>,
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnSleep {
            deadline,
            sleep: None,
            spare: self.spare.clone(),
        })
    }

    /// The clock of the deadlines, tokio's (which, without tokio's test clock, is the
    /// standard one), read coarsely ([`head_clock`]): a deadline seconds away does not need
    /// the exact microsecond.
    fn now(&self) -> Instant {
        head_clock()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<ConnSleep>() {
            Some(mut ours) => ours.deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// How long a thread's anchor places [`head_clock`]'s readings before it takes a new one (a
/// precise read a second per thread): no anchor taken while the thread was held up, and no
/// drift between the two clocks, lasts longer.
#[cfg(target_os = "linux")]
const ANCHOR_AGE: Duration = Duration::from_secs(1);

/// The time now for a deadline seconds away, without a precise clock read: the kernel's coarse
/// monotonic clock (memory it updates every tick), placed on the `Instant` line by a precise
/// reading this thread took at most [`ANCHOR_AGE`] before, and moved on by one tick.
///
/// The coarse clock is the timekeeper's last step, and the kernel steps it in whole ticks from
/// a fixed grid, not at each tick interrupt: so it lags the precise clock by up to two ticks,
/// and more while the tick interrupt itself is late (on this project's 250 Hz virtual machines,
/// 3.1 to 12.3 ms, measured under a build). With one tick added, the answer is at most a tick
/// ahead of the precise time and behind it by whatever the lag exceeds a tick: on a deadline of
/// seconds, a few milliseconds either way.
#[cfg(target_os = "linux")]
pub(super) fn head_clock() -> Instant {
    use crate::store::clock::monotonic_coarse;

    let coarse = monotonic_coarse();
    let anchor = Anchor::of_thread(coarse);
    anchor.place(coarse + anchor.tick)
}

/// One moment read on both lines: an `Instant` and the raw monotonic clock (which is what
/// `Instant` reads on Linux, and what the coarse clock is a delayed copy of), and the coarse
/// clock's tick.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug)]
struct Anchor {
    instant: Instant,
    monotonic: Duration,
    tick: Duration,
}

#[cfg(target_os = "linux")]
impl Anchor {
    /// Reads both lines back to back, keeping the closest of a few tries: a thread held up
    /// between the reads would place every later reading late by as much.
    fn take() -> Self {
        use crate::store::clock::{coarse_tick, monotonic};

        let tick = coarse_tick();
        // An anchor, and how long after its monotonic reading its `Instant` may have been read.
        let read = || {
            let then = monotonic();
            let instant = Instant::now();
            let anchor = Self {
                instant,
                monotonic: then,
                tick,
            };
            (anchor, monotonic().saturating_sub(then))
        };
        let mut best = read();
        for _ in 1..4 {
            if best.1 < Duration::from_micros(20) {
                break;
            }
            let next = read();
            if next.1 < best.1 {
                best = next;
            }
        }
        best.0
    }

    /// This thread's anchor for a coarse reading: the one it has, unless that is older than
    /// [`ANCHOR_AGE`].
    fn of_thread(coarse: Duration) -> Self {
        use std::cell::Cell;

        thread_local! {
            static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
        }
        match ANCHOR.get() {
            Some(anchor) if coarse.saturating_sub(anchor.monotonic) < ANCHOR_AGE => anchor,
            _ => {
                let anchor = Self::take();
                ANCHOR.set(Some(anchor));
                anchor
            }
        }
    }

    /// The `Instant` of a raw monotonic reading.
    fn place(self, monotonic: Duration) -> Instant {
        match monotonic.checked_sub(self.monotonic) {
            Some(since) => self.instant + since,
            None => self
                .instant
                .checked_sub(self.monotonic - monotonic)
                .unwrap_or(self.instant),
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn head_clock() -> Instant {
    Instant::now()
}

/// One sleep hyper asked for: ready at `deadline`. It takes the connection's tokio timer when
/// first polled (or makes its own when another sleep holds it) and gives it back when dropped.
struct ConnSleep {
    deadline: Instant,
    sleep: Option<TokioSleep>,
    spare: Arc<Spare>,
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = tokio::time::Instant::from_std(this.deadline);
        let sleep = match &mut this.sleep {
            Some(sleep) => sleep,
            none => {
                let taken = this.spare.lock().take();
                none.insert(taken.unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline))))
            }
        };
        if sleep.deadline() != deadline {
            // Later than before (the usual case): tokio only updates the entry.
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for ConnSleep {}

impl Drop for ConnSleep {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            let mut spare = self.spare.lock();
            if spare.is_none() {
                *spare = Some(sleep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    fn ready(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        sleep.as_mut().poll(&mut cx).is_ready()
    }

    /// Awaits `sleep`, failing the test (instead of hanging) if it never ends.
    async fn finish(sleep: Pin<Box<dyn hyper::rt::Sleep>>) {
        tokio::time::timeout(Duration::from_secs(20), sleep)
            .await
            .expect("the sleep never ended");
    }

    #[tokio::test]
    async fn a_later_deadline_on_the_shared_timer_is_not_cut_short_by_the_earlier_one() {
        let timer = ConnTimer::default();
        let mut first = timer.sleep(Duration::from_millis(100));
        assert!(!ready(&mut first));
        drop(first);
        assert!(
            timer.spare.lock().is_some(),
            "the first sleep gave the timer back"
        );
        // A precise deadline: `sleep` would start from the head clock, which may be a few
        // milliseconds behind.
        let deadline = Instant::now() + Duration::from_millis(400);
        let mut second = timer.sleep_until(deadline);
        assert!(!ready(&mut second));
        assert!(timer.spare.lock().is_none(), "the second sleep took it");
        finish(second).await;
        let now = Instant::now();
        assert!(now >= deadline, "ended {:?} early", deadline - now);
    }

    #[tokio::test]
    async fn an_earlier_deadline_on_the_shared_timer_ends_on_time() {
        let timer = ConnTimer::default();
        let mut old = timer.sleep(Duration::from_secs(60));
        assert!(!ready(&mut old));
        drop(old);
        // hyper's `reset` of a sleep, back in time, on the timer still filed a minute out.
        let mut next = timer.sleep(Duration::from_secs(60));
        assert!(!ready(&mut next));
        let started = Instant::now();
        timer.reset(&mut next, timer.now() + Duration::from_millis(50));
        finish(next).await;
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reading_is_placed_on_the_instant_line_at_its_distance_from_the_anchor() {
        let instant = Instant::now();
        let anchor = Anchor {
            instant,
            monotonic: Duration::from_secs(1_000),
            tick: Duration::from_millis(4),
        };
        let ms = Duration::from_millis;
        assert_eq!(anchor.place(ms(1_000_000)), instant);
        assert_eq!(anchor.place(ms(1_000_250)), instant + ms(250));
        assert_eq!(anchor.place(ms(999_993)), instant - ms(7));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_takes_a_new_anchor_once_its_own_is_a_second_old() {
        let first = Anchor::of_thread(crate::store::clock::monotonic_coarse());
        let same = Anchor::of_thread(first.monotonic + ANCHOR_AGE / 2);
        assert_eq!(same.instant, first.instant);
        let next = Anchor::of_thread(first.monotonic + ANCHOR_AGE);
        assert!(next.monotonic > first.monotonic && next.instant > first.instant);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_head_clock_is_at_most_a_tick_ahead_and_only_a_late_tick_behind() {
        let tick = crate::store::clock::coarse_tick();
        for _ in 0..2_000 {
            let before = Instant::now();
            let coarse = head_clock();
            let after = Instant::now();
            // The coarse clock never runs ahead of the precise one; one tick is added, and the
            // anchor's `Instant` was read a moment after its monotonic reading (microseconds,
            // unless the thread was held up in all of `take`'s tries).
            assert!(
                coarse <= after + tick + Duration::from_millis(1),
                "{:?} ahead with a tick of {tick:?}",
                coarse - after
            );
            // It lags by up to two ticks, and by as much more as the tick interrupt is late: a
            // bound for a loaded machine, which catches a reading placed on the wrong line.
            assert!(
                coarse + tick + Duration::from_millis(200) >= before,
                "{:?} behind with a tick of {tick:?}",
                before - coarse
            );
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    #[tokio::test]
    async fn two_sleeps_at_once_keep_their_own_deadlines() {
        let timer = ConnTimer::default();
        let mut long = timer.sleep(Duration::from_secs(60));
        assert!(!ready(&mut long));
        finish(timer.sleep(Duration::from_millis(50))).await;
        assert!(!ready(&mut long));
    }
}
