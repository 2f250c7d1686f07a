//! Coarse clocks for the hit path: the kernel's `*_COARSE` clocks are read from memory it
//! updates every tick (1-10 ms), where the precise clocks read the time stamp counter (a fifth of
//! a microsecond a read on this project's virtual machines, several reads per hit). Good enough
//! for "is it time to look again" checks and for the order of accesses; nothing that needs the
//! exact time uses them.

/// Milliseconds of a monotonic clock at the kernel tick's resolution.
#[cfg(target_os = "linux")]
pub fn monotonic_millis() -> u64 {
    millis(rustix::time::ClockId::MonotonicCoarse)
}

/// Milliseconds since the Unix epoch at the kernel tick's resolution (the unit of
/// [`super::index::Indexed::last_access`]).
#[cfg(target_os = "linux")]
pub fn unix_millis() -> u64 {
    millis(rustix::time::ClockId::RealtimeCoarse)
}

/// The monotonic clock at the kernel tick's resolution.
#[cfg(target_os = "linux")]
pub fn monotonic_coarse() -> std::time::Duration {
    duration(rustix::time::clock_gettime(
        rustix::time::ClockId::MonotonicCoarse,
    ))
}

/// The precise monotonic clock (what `std::time::Instant` reads on Linux).
#[cfg(target_os = "linux")]
pub fn monotonic() -> std::time::Duration {
    duration(rustix::time::clock_gettime(
        rustix::time::ClockId::Monotonic,
    ))
}

/// The tick of [`monotonic_coarse`], the step it advances by.
#[cfg(target_os = "linux")]
pub fn coarse_tick() -> std::time::Duration {
    duration(rustix::time::clock_getres(
        rustix::time::ClockId::MonotonicCoarse,
    ))
}

#[cfg(target_os = "linux")]
fn millis(clock: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(clock);
    (t.tv_sec as u64).saturating_mul(1000) + t.tv_nsec as u64 / 1_000_000
}

#[cfg(target_os = "linux")]
fn duration(t: rustix::time::Timespec) -> std::time::Duration {
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
pub fn monotonic_millis() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[cfg(not(target_os = "linux"))]
pub fn unix_millis() -> u64 {
    super::index::now_millis()
}
