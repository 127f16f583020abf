//! How the kernel schedules the threads that serve plain HTTP (`waf.scheduling`).
//!
//! The proxy shares its cores with the website's server, Mamori's other engines and whatever
//! else runs on the machine. Under the kernel's default policy a serving thread woken by a
//! socket preempts the task running on its core, serves the one request that woke it and
//! sleeps again: under full load that was about one context switch per request, which cost
//! more CPU than the rule engine. Under `SCHED_BATCH` a woken thread does not preempt; it
//! runs when the running task's slice ends or it sleeps, and then finds several requests
//! ready. On a quiet machine that waiting only adds latency, so `adaptive` (the default) keeps
//! a thread on the default policy while it is mostly idle and moves it to `SCHED_BATCH` while
//! it is busy, judged from the share of time it spends away from its runtime's park.

use super::config::Scheduling;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The span over which a thread's busy share is measured before it is judged.
const WINDOW: Duration = Duration::from_millis(20);
/// Busy share above which an adaptive thread turns batch.
const BUSY: f64 = 0.5;
/// Busy share below which a batch adaptive thread turns back.
const QUIET: f64 = 0.25;

/// Puts the calling thread under the kernel policy `batch` or the default one.
pub fn set_batch(batch: bool) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let policy = if batch {
            libc::SCHED_BATCH
        } else {
            libc::SCHED_OTHER
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call; pid 0 is the calling thread.
        let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = batch;
    Ok(())
}

/// Sets up the calling serving thread for `scheduling`: batch and normal are set once;
/// adaptive starts on the default policy, and the runtime's park hooks ([`parked`],
/// [`unparked`]) move it.
pub fn start(scheduling: Scheduling) -> std::io::Result<()> {
    set_batch(scheduling == Scheduling::Batch)?;
    if scheduling == Scheduling::Adaptive {
        GAUGE.with(|g| g.set(Some(Gauge::new(Instant::now()))));
    }
    Ok(())
}

thread_local! {
    /// The calling thread's gauge, when its scheduling is adaptive.
    static GAUGE: Cell<Option<Gauge>> = const { Cell::new(None) };
}

/// For the runtime's `on_thread_unpark`: the thread has work again.
pub fn unparked() {
    GAUGE.with(|g| {
        if let Some(mut gauge) = g.get() {
            gauge.unparked(Instant::now());
            g.set(Some(gauge));
        }
    });
}

/// For the runtime's `on_thread_park`: the thread is out of work; judges its busy share once
/// a window has passed and changes its policy when the share crossed a threshold.
pub fn parked() {
    GAUGE.with(|g| {
        let Some(mut gauge) = g.get() else { return };
        let Some(batch) = gauge.parked(Instant::now()) else {
            g.set(Some(gauge));
            return;
        };
        match set_batch(batch) {
            Ok(()) => {
                tracing::debug!(batch, "WAF serving thread's scheduling changed");
                g.set(Some(gauge));
            }
            Err(e) => {
                // Stop adapting rather than try on every park.
                tracing::warn!(error = %e, "could not change a WAF thread's scheduling");
                g.set(None);
            }
        }
    });
}

/// A thread's busy share over the current window, and the policy it is under.
#[derive(Debug, Clone, Copy)]
struct Gauge {
    batch: bool,
    window_start: Instant,
    /// When the thread last came back from its park.
    unparked: Instant,
    busy: Duration,
}

impl Gauge {
    fn new(now: Instant) -> Gauge {
        Gauge {
            batch: false,
            window_start: now,
            unparked: now,
            busy: Duration::ZERO,
        }
    }

    fn unparked(&mut self, now: Instant) {
        self.unparked = now;
    }

    /// Counts the time since the last unpark as busy; at the end of a window, the policy the
    /// thread should change to, if any.
    fn parked(&mut self, now: Instant) -> Option<bool> {
        self.busy += now.saturating_duration_since(self.unparked);
        let span = now.saturating_duration_since(self.window_start);
        if span < WINDOW {
            return None;
        }
        let share = self.busy.as_secs_f64() / span.as_secs_f64();
        self.window_start = now;
        self.busy = Duration::ZERO;
        let batch = if self.batch {
            share >= QUIET
        } else {
            share > BUSY
        };
        if batch == self.batch {
            return None;
        }
        self.batch = batch;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `gauge` over `windows` windows, each busy for `busy` of its 20 ms in one stretch;
    /// the changes it asks for.
    fn run(gauge: &mut Gauge, at: &mut Instant, windows: usize, busy: f64) -> Vec<bool> {
        let mut changes = Vec::new();
        for _ in 0..windows {
            let work = WINDOW.mul_f64(busy);
            gauge.unparked(*at);
            *at += work;
            changes.extend(gauge.parked(*at));
            *at += WINDOW - work;
        }
        changes
    }

    #[test]
    fn a_busy_thread_turns_batch_and_a_quiet_one_turns_back() {
        let mut at = Instant::now();
        let mut gauge = Gauge::new(at);
        assert_eq!(run(&mut gauge, &mut at, 5, 0.1), Vec::<bool>::new());
        assert_eq!(run(&mut gauge, &mut at, 5, 0.9), vec![true]);
        // Between the thresholds a thread keeps the policy it has.
        assert_eq!(run(&mut gauge, &mut at, 5, 0.4), Vec::<bool>::new());
        assert_eq!(run(&mut gauge, &mut at, 5, 0.1), vec![false]);
        assert_eq!(run(&mut gauge, &mut at, 5, 0.4), Vec::<bool>::new());
    }

    #[test]
    fn short_parks_are_judged_only_once_a_window_has_passed() {
        let mut at = Instant::now();
        let mut gauge = Gauge::new(at);
        // Busy 90 µs of every 100 µs: nothing is judged before 20 ms.
        for _ in 0..200 {
            gauge.unparked(at);
            at += Duration::from_micros(90);
            assert_eq!(gauge.parked(at), None);
            at += Duration::from_micros(10);
        }
        gauge.unparked(at);
        at += Duration::from_micros(90);
        assert_eq!(gauge.parked(at), Some(true));
    }

    #[test]
    fn a_thread_is_set_to_batch_and_back() {
        // Changing between SCHED_OTHER and SCHED_BATCH needs no privilege.
        std::thread::spawn(|| {
            set_batch(true).unwrap();
            set_batch(false).unwrap();
        })
        .join()
        .unwrap();
    }
}
