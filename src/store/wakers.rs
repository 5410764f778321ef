//! Wakes claims waiting for work on a desk. One follower of a desk's event stream per desk with
//! waiters, on a connection of its own, shared by every claim waiting there; it stops when the
//! last of them is done. A wake only says "try again": waiting claims also retry on a timer, so
//! an event missed while a follower starts, or a follower lost with Redis, delays a claim by at
//! most that interval and never loses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::Store;

/// The followers, by desk.
#[derive(Clone)]
pub struct Wakers {
    store: Store,
    desks: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl Wakers {
    pub fn new(store: Store) -> Wakers {
        Wakers {
            store,
            desks: Arc::default(),
        }
    }

    /// A signal that changes on each new event of `desk` from now on. Its `changed()` fails
    /// when the follower has stopped (Redis lost): subscribe again to start a new one.
    pub fn subscribe(&self, desk: &str) -> watch::Receiver<u64> {
        let mut desks = self
            .desks
            .lock()
            .expect("the wakers' lock is never poisoned");
        if let Some(tx) = desks.get(desk).filter(|tx| !tx.is_closed()) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(0u64);
        desks.insert(desk.to_owned(), tx.clone());
        drop(desks);
        let (store, all, desk) = (self.store.clone(), self.desks.clone(), desk.to_owned());
        tokio::spawn(async move {
            if let Ok(mut events) = store.watch(&desk, "$").await {
                loop {
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(Ok(_)) => tx.send_modify(|n| *n += 1),
                            _ => break,
                        },
                        () = tx.closed() => break,
                    }
                }
            }
            let mut desks = all.lock().expect("the wakers' lock is never poisoned");
            if desks.get(&desk).is_some_and(|t| t.same_channel(&tx)) {
                desks.remove(&desk);
            }
        });
        rx
    }
}
