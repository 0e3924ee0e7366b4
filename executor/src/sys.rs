//! The few OS calls baton makes beyond std, kept in one place.

/// Asks the kernel to wake the calling thread's timed sleeps within about a microsecond of
/// their deadline instead of the default 50 µs of slack, so the monitor's ticks keep to the
/// grace period. Best effort: an error leaves the default slack.
#[cfg(target_os = "linux")]
pub(crate) fn tighten_timer_slack() {
    /// The slack asked for, in nanoseconds.
    const SLACK_NS: libc::c_ulong = 1_000;
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes the calling
    // thread's timer slack; the unused arguments are zero as prctl(2) asks.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, SLACK_NS, 0, 0, 0);
    }
}

/// Other systems keep their default timer behaviour.
#[cfg(not(target_os = "linux"))]
pub(crate) fn tighten_timer_slack() {}
