//! Prints this machine's ed25519 verification ceiling on one thread and on all of them:
//! `cargo run -p medblock-bench --example ceiling [seconds]`.

use medblock_bench::ceiling::{available_threads, measure};
use std::time::Duration;

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.0);
    let duration = Duration::from_secs_f64(seconds);
    let all = available_threads();
    let mut thread_counts = vec![1];
    if all > 1 {
        thread_counts.push(all);
    }
    for threads in thread_counts {
        let c = measure(duration, threads);
        println!(
            "threads={} seconds={:.3} verifications={} rate={:.0}/s",
            c.threads, c.seconds, c.verifications, c.verifications_per_s
        );
    }
}
