//! Stopwatches for things that start in one message and end in another: PBFT phases keyed by
//! height, and uploads keyed by event. Both are bounded, so a node that never sees the end of
//! something (it left the committee, the event was committed elsewhere) cannot grow them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

/// Heights tracked at once; older ones are forgotten.
const MAX_HEIGHTS: usize = 64;
/// Uploads tracked at once; beyond this new uploads are not timed.
const MAX_UPLOADS: usize = 200_000;

#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    pre_prepare: Option<Instant>,
    commit: Option<Instant>,
}

/// PBFT phase marks per height.
#[derive(Debug, Default)]
pub struct PhaseClock {
    heights: Mutex<BTreeMap<u64, Marks>>,
}

impl PhaseClock {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u64, Marks>) -> T) -> T {
        let mut m = self.heights.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut m);
        while m.len() > MAX_HEIGHTS {
            m.pop_first();
        }
        out
    }

    /// The first pre-prepare of `height` (later ones, e.g. in a new view, keep the first mark).
    pub fn pre_prepare(&self, height: u64) {
        self.with(|m| {
            m.entry(height)
                .or_default()
                .pre_prepare
                .get_or_insert_with(Instant::now);
        });
    }

    /// The first commit vote of `height`: returns the prepare phase's length, once.
    pub fn commit_vote(&self, height: u64) -> Option<f64> {
        self.with(|m| {
            let marks = m.get_mut(&height)?;
            if marks.commit.is_some() {
                return None;
            }
            let now = Instant::now();
            marks.commit = Some(now);
            marks.pre_prepare.map(|p| (now - p).as_secs_f64())
        })
    }

    /// The decision of `height`: the commit phase's and the whole round's lengths.
    pub fn decided(&self, height: u64) -> (Option<f64>, Option<f64>) {
        self.with(|m| {
            let Some(marks) = m.remove(&height) else {
                return (None, None);
            };
            let now = Instant::now();
            (
                marks.commit.map(|c| (now - c).as_secs_f64()),
                marks.pre_prepare.map(|p| (now - p).as_secs_f64()),
            )
        })
    }
}

/// Upload start times per event key.
#[derive(Debug, Default)]
pub struct LatencyClock {
    started: Mutex<HashMap<[u8; 32], Instant>>,
}

impl LatencyClock {
    /// An upload began.
    pub fn start(&self, key: [u8; 32]) {
        let mut m = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() < MAX_UPLOADS {
            m.entry(key).or_insert_with(Instant::now);
        }
    }

    /// The upload's event was committed: its latency, once.
    pub fn finish(&self, key: [u8; 32]) -> Option<f64> {
        let mut m = self.started.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&key).map(|t| t.elapsed().as_secs_f64())
    }
}
