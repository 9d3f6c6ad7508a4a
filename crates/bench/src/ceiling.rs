//! The ed25519 verification ceiling of this machine: how many event signatures per second its
//! cores can check at most, the bound any measured commit rate should be read against.

use medblock_core::keys::{PublicKey, Signature, SigningKey, purpose};
use serde::Serialize;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Bytes per signed message: an event's signed bytes are a few hundred bytes.
pub const MESSAGE_BYTES: usize = 300;

/// Distinct keys each thread cycles through, so the work resembles many patients' events
/// rather than one key and one message kept hot in the cache.
pub const KEYS_PER_THREAD: usize = 16;

/// One measurement of the verification ceiling.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Ceiling {
    /// Threads that verified in parallel.
    pub threads: usize,
    /// Wall-clock seconds from the first thread's start to the last thread's stop.
    pub seconds: f64,
    /// Signatures that verified, over all threads.
    pub verifications: u64,
    /// `verifications / seconds`.
    pub verifications_per_s: f64,
}

/// How many threads the machine can run at once (1 if the OS will not say), the natural
/// `threads` argument of [`measure`].
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Verifies real event signatures on `threads` threads (0 is taken as 1) until `duration` has
/// passed, and reports the rate.
///
/// Each thread signs [`KEYS_PER_THREAD`] messages of [`MESSAGE_BYTES`] bytes with its own fresh
/// keys before the clock starts, then checks them round-robin with [`PublicKey::verify`], which,
/// as in the product, decompresses the key on every call. Only signatures that verify are
/// counted, so a broken set-up shows as zero rather than as a flattering rate.
pub fn measure(duration: Duration, threads: usize) -> Ceiling {
    let threads = threads.max(1);
    let start_line = Barrier::new(threads);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                scope.spawn(move || {
                    let work = signed_work(t);
                    start_line.wait();
                    verify_for(&work, duration)
                })
            })
            .collect();
        // A worker that panicked verified nothing we can count.
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let verifications = runs.iter().map(|r| r.verified).sum();
    let first_start = runs.iter().map(|r| r.started).min();
    let last_stop = runs.iter().map(|r| r.stopped).max();
    let seconds = match (first_start, last_stop) {
        (Some(start), Some(stop)) => stop.duration_since(start).as_secs_f64(),
        _ => 0.0,
    };
    Ceiling {
        threads,
        seconds,
        verifications,
        verifications_per_s: if seconds > 0.0 {
            verifications as f64 / seconds
        } else {
            0.0
        },
    }
}

/// The signed messages one thread verifies: distinct keys, distinct messages.
fn signed_work(thread: usize) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    let mut rng = rand::rng();
    (0..KEYS_PER_THREAD)
        .map(|k| {
            let key = SigningKey::generate(&mut rng);
            let message: Vec<u8> = (0..MESSAGE_BYTES)
                .map(|i| (i ^ k ^ thread.wrapping_mul(31)) as u8)
                .collect();
            let signature = key.sign(purpose::EVENT, &message);
            (key.public(), message, signature)
        })
        .collect()
}

/// What one thread did: how many signatures verified, and when it started and stopped.
struct Run {
    verified: u64,
    started: Instant,
    stopped: Instant,
}

/// Verifies `work` round-robin for at least `duration`.
fn verify_for(work: &[(PublicKey, Vec<u8>, Signature)], duration: Duration) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let mut verified = 0;
    let mut stopped = started;
    for (key, message, signature) in work.iter().cycle() {
        stopped = Instant::now();
        if stopped >= deadline {
            break;
        }
        if key.verify(purpose::EVENT, message, signature).is_ok() {
            verified += 1;
        }
    }
    Run {
        verified,
        started,
        stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_verifies_and_reports_a_consistent_rate() {
        let c = measure(Duration::from_millis(50), 1);
        assert_eq!(c.threads, 1);
        assert!(c.verifications > 0);
        assert!(c.seconds >= 0.05, "ran for the whole duration");
        let rate = c.verifications as f64 / c.seconds;
        assert!((c.verifications_per_s - rate).abs() <= 1e-9 * rate);
    }

    #[test]
    fn zero_threads_means_one() {
        let c = measure(Duration::from_millis(10), 0);
        assert_eq!(c.threads, 1);
        assert!(c.verifications > 0);
    }

    #[test]
    fn the_work_is_real_signatures_that_a_tampered_message_fails() {
        let work = signed_work(0);
        assert_eq!(work.len(), KEYS_PER_THREAD);
        for (key, message, signature) in &work {
            assert_eq!(message.len(), MESSAGE_BYTES);
            assert!(key.verify(purpose::EVENT, message, signature).is_ok());
            let mut tampered = message.clone();
            tampered[0] ^= 1;
            assert!(key.verify(purpose::EVENT, &tampered, signature).is_err());
        }
    }

    #[test]
    fn available_threads_is_at_least_one() {
        assert!(available_threads() >= 1);
    }
}
