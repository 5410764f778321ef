//! Limits that keep the service answering under load: a token bucket per identity that has a
//! rate, and the shedding of new submits when too many requests are in flight or Redis answers
//! slowly. Dispatch is never shed, and the channels that bring grade-1 emergencies (999 by voice,
//! emergencySMS or text relay, and eCall) are shed last.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::identity::{Identity, Rate};
use crate::domain::Channel;
use crate::error::{Error, Result};
use crate::telemetry;

/// How long a shed client is asked to wait before trying again.
const SHED_RETRY: Duration = Duration::from_millis(500);
/// Redis latency readings older than this say nothing about Redis now.
const LATENCY_FRESH: Duration = Duration::from_secs(2);
/// The most identities whose buckets are kept; past it the buckets start afresh.
const MAX_BUCKETS: usize = 100_000;

/// When to shed new submits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shedding {
    /// Requests in flight (all methods) past which submits from other channels than the
    /// emergency ones are shed; emergency submits only past a quarter more.
    pub max_in_flight: usize,
    /// Submits from other channels than the emergency ones are shed while Redis's recent answers
    /// take longer than this.
    pub slow_redis: Duration,
}

impl Default for Shedding {
    fn default() -> Self {
        Shedding {
            max_in_flight: 2048,
            slow_redis: Duration::from_millis(250),
        }
    }
}

/// The service's load and limits, shared by the access layer and the submit path.
pub struct Limits {
    shedding: Shedding,
    in_flight: AtomicUsize,
    /// Of those in flight, the claims waiting for work: no load while they wait.
    waiting: AtomicUsize,
    started: Instant,
    /// A moving average of Redis answer times (µs), and when it was last fed (ms since start).
    redis_us: AtomicU64,
    redis_at_ms: AtomicU64,
    buckets: Mutex<HashMap<String, (Rate, Arc<DefaultDirectRateLimiter>)>>,
}

/// A request in flight; counted until dropped.
pub struct InFlight(Arc<Limits>);

/// A request in flight that waits for work (a claim on an empty queue), not counted as load
/// until dropped.
pub struct Waiting<'a>(&'a Limits);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limits {
    pub fn new(shedding: Shedding) -> Limits {
        Limits {
            shedding,
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            started: Instant::now(),
            redis_us: AtomicU64::new(0),
            redis_at_ms: AtomicU64::new(0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Marks a request in flight as waiting for work, so that it is not taken for load (a
    /// waiting claim costs nothing) until the returned guard is dropped.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(self)
    }

    /// How many requests in flight are claims waiting for work.
    pub fn waiting_now(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Takes a token from the identity's bucket, if it has a rate.
    pub fn take(&self, who: &Identity) -> Result<()> {
        let Some(rate) = who.rate else {
            return Ok(());
        };
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&who.sub) {
                buckets.clear();
            }
            let entry = buckets
                .entry(who.sub.clone())
                .or_insert_with(|| (rate, Arc::new(limiter(rate))));
            // A changed rate (a reloaded access file, a new token) starts a new bucket.
            if entry.0 != rate {
                *entry = (rate, Arc::new(limiter(rate)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            telemetry::refused("rate_limited");
            Error::Exhausted {
                why: format!(
                    "{} is over its rate of {} requests a second (bursts of {})",
                    who.sub, rate.per_second, rate.burst
                ),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    /// Whether a new submit from `channel` may go ahead now, or is shed.
    pub fn admit_submit(&self, channel: Channel) -> Result<()> {
        let in_flight = self
            .in_flight
            .load(Ordering::Relaxed)
            .saturating_sub(self.waiting.load(Ordering::Relaxed));
        let emergency = emergency_channel(channel);
        let max = self.shedding.max_in_flight;
        let cap = if emergency { max + max / 4 } else { max };
        if in_flight > cap {
            telemetry::refused("shed_in_flight");
            return Err(Error::Exhausted {
                why: format!(
                    "overloaded: {in_flight} requests in flight; submit again shortly (999, emergencySMS, text relay and eCall contacts are shed last)"
                ),
                retry_after: SHED_RETRY,
            });
        }
        if !emergency {
            let latency = self.redis_latency();
            if latency > self.shedding.slow_redis {
                telemetry::refused("shed_redis_slow");
                return Err(Error::Exhausted {
                    why: format!(
                        "overloaded: Redis answers in {} ms; submit again shortly (999, emergencySMS, text relay and eCall contacts are not shed for this)",
                        latency.as_millis()
                    ),
                    retry_after: SHED_RETRY,
                });
            }
        }
        Ok(())
    }

    /// Records how long a Redis call took.
    pub fn redis_took(&self, took: Duration) {
        let us = took.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.redis_us.load(Ordering::Relaxed);
        // A moving average over about eight calls; a stale one starts again.
        let new = if self.latency_fresh() {
            (old * 7 + us) / 8
        } else {
            us
        };
        self.redis_us.store(new, Ordering::Relaxed);
        self.redis_at_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The recent Redis latency; zero when nothing recent was measured.
    fn redis_latency(&self) -> Duration {
        if !self.latency_fresh() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.redis_us.load(Ordering::Relaxed))
    }

    /// Whether the latency average was fed lately enough to say something of Redis now.
    fn latency_fresh(&self) -> bool {
        let at = self.redis_at_ms.load(Ordering::Relaxed);
        at != 0 && self.now_ms().saturating_sub(at) < LATENCY_FRESH.as_millis() as u64
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }
}

/// The channels that bring grade-1 emergencies: 999 by voice, by emergencySMS and by text
/// relay (the same 999 call for deaf and speech-impaired callers), and eCall.
fn emergency_channel(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Phone999 | Channel::Ecall | Channel::EmergencySms | Channel::TextRelay
    )
}

fn limiter(rate: Rate) -> DefaultDirectRateLimiter {
    let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
    RateLimiter::direct(Quota::per_second(nz(rate.per_second)).allow_burst(nz(rate.burst)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submits_are_shed_past_the_cap_and_999_last() {
        let limits = Arc::new(Limits::new(Shedding {
            max_in_flight: 4,
            slow_redis: Duration::from_millis(100),
        }));
        let held: Vec<_> = (0..5).map(|_| limits.enter()).collect();
        assert!(matches!(
            limits.admit_submit(Channel::OnlineForm),
            Err(Error::Exhausted { .. })
        ));
        assert!(limits.admit_submit(Channel::Phone999).is_ok());
        assert!(limits.admit_submit(Channel::Ecall).is_ok());
        // Claims waiting for work are in flight but no load.
        let waiting: Vec<_> = (0..3).map(|_| limits.waiting()).collect();
        assert!(limits.admit_submit(Channel::OnlineForm).is_ok());
        drop(waiting);
        assert!(limits.admit_submit(Channel::OnlineForm).is_err());
        drop(held);
        assert!(limits.admit_submit(Channel::OnlineForm).is_ok());
        // Slow Redis sheds the others, never 999.
        limits.redis_took(Duration::from_millis(400));
        assert!(limits.admit_submit(Channel::OnlineForm).is_err());
        assert!(limits.admit_submit(Channel::Phone999).is_ok());
    }

    #[test]
    fn an_identity_with_a_rate_gets_its_burst_then_a_wait() {
        let limits = Limits::new(Shedding::default());
        let who = Identity {
            sub: "portal-a".into(),
            roles: vec![],
            desks: vec![],
            rate: Some(Rate {
                per_second: 1,
                burst: 3,
            }),
        };
        for _ in 0..3 {
            limits.take(&who).unwrap();
        }
        match limits.take(&who) {
            Err(Error::Exhausted { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
        let unlimited = Identity { rate: None, ..who };
        for _ in 0..100 {
            limits.take(&unlimited).unwrap();
        }
    }
}
