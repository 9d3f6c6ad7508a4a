//! futures-timer's [`Delay`] (the whole of its API) on tokio's timer.
//!
//! libp2p times everything with futures-timer: pings and their timeouts, gossipsub's
//! heartbeat, each request's and each substream negotiation's deadline. futures-timer keeps
//! its timers on a thread of its own, so creating, resetting or dropping a `Delay` wakes that
//! thread, and each firing wakes the swarm's thread back from it. On a 100-peer idle network
//! that was 7.5 wakeups a second on a committer's timer thread and 33 on an orderer's (its
//! pings and consensus requests), each a futex call and two context switches, for timers that
//! mostly never fire. A node runs its swarm on a tokio runtime whose own timer wheel lives on
//! the swarm's thread: a `Delay` there is an entry in that wheel, set and cleared without a
//! system call, and it fires from the same `epoll_wait` that reads the sockets.
//!
//! A `Delay` created outside any tokio runtime (no such caller in this workspace; kept so the
//! crate stays a drop-in replacement) is timed by a one-thread runtime started on first use,
//! as futures-timer's own thread did.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A future that completes once, when its duration has passed since it was created (or last
/// reset). Polling it again after that completes again.
pub struct Delay {
    sleep: Pin<Box<Sleep>>,
}

impl Delay {
    /// Completes `dur` from now.
    pub fn new(dur: Duration) -> Delay {
        let at = deadline(dur);
        let sleep = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::time::sleep_until(at)
        } else {
            let _in = fallback().enter();
            tokio::time::sleep_until(at)
        };
        Delay {
            sleep: Box::pin(sleep),
        }
    }

    /// Completes `dur` from now instead, whether it had completed or not.
    pub fn reset(&mut self, dur: Duration) {
        self.sleep.as_mut().reset(deadline(dur));
    }
}

/// `dur` from now; a duration too long for the clock (libp2p uses `Duration::MAX` for "never")
/// is about 30 years, as tokio's own `sleep` does.
fn deadline(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The runtime that times delays created outside any runtime.
fn fallback() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("futures-timer")
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            // futures-timer's `Delay::new` cannot fail either: without a thread for its
            // timers it panicked in the same way.
            Err(e) => panic!("futures-timer: cannot start the timer thread: {e}"),
        }
    })
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("deadline", &self.sleep.deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn completes_after_its_duration_and_again_after_a_reset() {
        let start = Instant::now();
        let mut d = Delay::new(Duration::from_millis(300));
        (&mut d).await;
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        // Completed delays stay complete until reset.
        (&mut d).await;
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        d.reset(Duration::from_millis(200));
        (&mut d).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duration_too_long_for_the_clock_never_completes_rather_than_panics() {
        let d = Delay::new(Duration::MAX);
        let r = tokio::time::timeout(Duration::from_secs(86_400), d).await;
        assert!(r.is_err(), "Duration::MAX completed within a day");
    }

    #[test]
    fn a_delay_made_outside_any_runtime_is_timed_by_the_fallback_thread() {
        let start = std::time::Instant::now();
        let d = Delay::new(Duration::from_millis(50));
        futures_lite_block_on(d);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    /// Polls `f` on this thread until it completes (no executor, as a plain futures user).
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        use std::sync::Arc;
        use std::task::{Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = Box::pin(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
}
