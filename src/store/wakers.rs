//! Wakes claims waiting for work on a desk. While any claim waits on a desk, one follower of the
//! desk's event stream runs, on a connection of its own, and each event that can put work in the
//! queue (queued, released, transferred in, escalated, a desk reopened) wakes one waiting claim,
//! not all of them: a queued incident costs one more claim attempt, however many dispatchers
//! wait. A wake only says "try again": waiting claims also retry on a timer, so an event missed
//! while a follower starts, a wake given to a claim that has just gone, or a follower lost with
//! Redis delays a claim by at most that interval and never loses work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::Store;
use crate::telemetry;

/// How often a follower checks whether anyone still waits.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// How long after a follower is lost before another starts.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// The desks' followers. A desk's entry stays once made: desks are the configured ones.
#[derive(Clone)]
pub struct Wakers {
    store: Store,
    desks: Arc<Mutex<HashMap<String, Arc<Desk>>>>,
}

#[derive(Default)]
struct Desk {
    work: Notify,
    waiting: AtomicUsize,
    followed: AtomicBool,
    /// After a follower is lost (Redis trouble), none starts again before this.
    restart_after: Mutex<Option<Instant>>,
}

/// A claim waiting on a desk; counted until dropped.
pub struct Waiter {
    wakers: Wakers,
    name: String,
    desk: Arc<Desk>,
}

impl Wakers {
    pub fn new(store: Store) -> Wakers {
        Wakers {
            store,
            desks: Arc::default(),
        }
    }

    /// Registers a claim waiting on `desk`.
    pub fn wait_on(&self, desk: &str) -> Waiter {
        let d = self
            .desks
            .lock()
            .expect("the wakers' lock is never poisoned")
            .entry(desk.to_owned())
            .or_default()
            .clone();
        d.waiting.fetch_add(1, Ordering::Relaxed);
        telemetry::claims_waiting(desk, 1.0);
        Waiter {
            wakers: self.clone(),
            name: desk.to_owned(),
            desk: d,
        }
    }

    fn follow(&self, name: String, desk: Arc<Desk>) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut lost = true;
            if let Ok(mut events) = store.watch(&name, "$").await {
                let mut idle =
                    tokio::time::interval_at(tokio::time::Instant::now() + IDLE_CHECK, IDLE_CHECK);
                loop {
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(Ok(e)) if makes_work(&e.kind) => desk.work.notify_one(),
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = idle.tick() => {
                            if desk.waiting.load(Ordering::Relaxed) == 0 {
                                lost = false;
                                break;
                            }
                        }
                    }
                }
            }
            if lost {
                *desk.restart_after.lock().expect("never poisoned") =
                    Some(Instant::now() + RESTART_PAUSE);
            }
            desk.followed.store(false, Ordering::Release);
        });
    }
}

impl Waiter {
    /// Work may have arrived on the desk since this was last awaited (or since `enable`d).
    /// Starts the desk's follower when none runs (the first waiter, or one lost with Redis).
    pub fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        let paused = self
            .desk
            .restart_after
            .lock()
            .expect("never poisoned")
            .is_some_and(|t| Instant::now() < t);
        if !paused && !self.desk.followed.swap(true, Ordering::AcqRel) {
            self.wakers.follow(self.name.clone(), self.desk.clone());
        }
        self.desk.work.notified()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.desk.waiting.fetch_sub(1, Ordering::Relaxed);
        telemetry::claims_waiting(&self.name, -1.0);
    }
}

/// Whether a desk event can put work in its queue.
fn makes_work(kind: &str) -> bool {
    !matches!(
        kind,
        "claimed" | "completed" | "transferred_out" | "linked" | "regraded" | "closed"
    )
}
