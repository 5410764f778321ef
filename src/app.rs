//! The use cases of the service: submit, preview, claim, complete, ... Each validates what the
//! cores cannot, runs the pure triage and routing cores on the current configuration snapshot,
//! and makes one store call. The gRPC layer only converts and delegates here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::access::{Limits, Shedding};
use crate::domain::{
    Contact, DeskEvent, DeskStats, Grade, Incident, IncidentBody, Lease, Outcome, QueueEntry,
    Route, Triage, Violations,
};
use crate::error::{Error, Result};
use crate::routing::{Load, Table};
use crate::store::{Actor, Store, Submitted, Wakers};
use crate::telemetry;
use crate::triage::Engine;

/// Where the rules and desks come from, for reloads.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub rules: Option<PathBuf>,
    pub desks: Option<PathBuf>,
}

/// Lease bounds.
#[derive(Clone, Copy, Debug)]
pub struct LeasePolicy {
    pub default: Duration,
    pub max: Duration,
}

/// The running service's state: the store and atomically swappable configuration snapshots.
pub struct App {
    store: Store,
    engine: ArcSwap<Engine>,
    table: ArcSwap<Table>,
    load: ArcSwap<Load>,
    sources: Sources,
    lease: LeasePolicy,
    limits: Arc<Limits>,
    wakers: Wakers,
    claim_retry: Duration,
    stopping: tokio::sync::watch::Sender<bool>,
}

/// The longest a claim may wait for work.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting claim tries again even when nothing woke it, unless set otherwise.
const CLAIM_RETRY: Duration = Duration::from_secs(1);
/// A waiting claim answers this long before its caller's deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// A triage and routing decision.
#[derive(Clone, Debug)]
pub struct Decision {
    pub triage: Triage,
    pub route: Route,
}

impl App {
    /// Loads rules and desks from `sources` (the shipped defaults where none is given).
    pub fn new(store: Store, sources: Sources, lease: LeasePolicy) -> Result<App> {
        let (engine, table) = load_config(&sources)?;
        Ok(App {
            wakers: Wakers::new(store.clone()),
            claim_retry: CLAIM_RETRY,
            stopping: tokio::sync::watch::Sender::new(false),
            store,
            engine: ArcSwap::from_pointee(engine),
            table: ArcSwap::from_pointee(table),
            load: ArcSwap::from_pointee(Load::default()),
            sources,
            lease,
            limits: Arc::new(Limits::new(Shedding::default())),
        })
    }

    /// How often a waiting claim tries again when nothing woke it (a second unless this is
    /// called): the bound on how late a lost wake makes it.
    pub fn with_claim_retry(mut self, every: Duration) -> App {
        self.claim_retry = every;
        self
    }

    /// When to shed new submits (the default until this is called).
    pub fn with_shedding(mut self, shedding: Shedding) -> App {
        self.limits = Arc::new(Limits::new(shedding));
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The service's load and limits, shared with the access layer.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// Triage then route, on the configuration in force. Pure apart from reading snapshots.
    pub fn decide(&self, contact: &Contact) -> Decision {
        self.route(contact, self.engine.load().classify(contact))
    }

    /// As [`App::decide`], and a decision that needs confirming names the question to ask:
    /// for a handler's preview while the caller is still on the line.
    pub fn preview(&self, contact: &Contact) -> Decision {
        self.route(contact, self.engine.load().classify_and_ask(contact))
    }

    fn route(&self, contact: &Contact, triage: crate::domain::Triage) -> Decision {
        let table = self.table.load();
        let decision = table.route(&triage, &contact.location, &self.load.load());
        Decision {
            route: table.explain(&decision),
            triage,
        }
    }

    /// Triage, route and record a validated contact sent by `submitter` (the authenticated
    /// identity; `None` when the service runs open), unless the service is too loaded to.
    pub async fn submit(&self, contact: Contact, submitter: Option<&str>) -> Result<Submitted> {
        self.limits
            .admit_submit(contact.channel)
            .inspect_err(|_| telemetry::contact_received(contact.channel, "shed"))?;
        let started = Instant::now();
        let Decision { triage, route } = self.decide(&contact);
        let took = started.elapsed();
        let body = IncidentBody {
            triage,
            route,
            channel: contact.channel,
            location: contact.location.clone(),
            caller: contact.caller.clone(),
        };
        let sent = Instant::now();
        let stored = self.store.submit(&contact, &body, submitter).await;
        self.limits.redis_took(sent.elapsed());
        match stored {
            Ok(s) => {
                match s.outcome {
                    Outcome::Replayed => telemetry::contact_received(contact.channel, "replayed"),
                    Outcome::Linked => {
                        telemetry::contact_received(contact.channel, "linked");
                        telemetry::triage_decided(&body.triage, took);
                        telemetry::repeat_linked(&body.triage);
                    }
                    Outcome::New if body.triage.referral.is_some() => {
                        telemetry::contact_received(contact.channel, "referral");
                        telemetry::triage_decided(&body.triage, took);
                    }
                    Outcome::New => {
                        telemetry::contact_received(contact.channel, "new_incident");
                        telemetry::triage_decided(&body.triage, took);
                    }
                }
                tracing::info!(
                    reference = %s.incident.reference,
                    agency = %s.incident.triage.agency,
                    grade = s.incident.triage.grade.number(),
                    incident_type = %s.incident.triage.incident_type,
                    desks = %s.incident.route.desks.join(","),
                    outcome = ?s.outcome,
                    "contact recorded"
                );
                Ok(s)
            }
            Err(e) => {
                telemetry::contact_received(contact.channel, "unavailable");
                telemetry::redis_error(&e);
                Err(e)
            }
        }
    }

    pub async fn incident(&self, reference: &str) -> Result<Incident> {
        check_reference(reference)?;
        self.store
            .incident(reference)
            .await
            .inspect_err(telemetry::redis_error)
    }

    /// Leases the next incident on a desk, whole or what the desk needs; `None` when its queue
    /// is empty, after waiting up to `wait_seconds` for work to arrive (a worker's blocking
    /// take: woken by the desk's events, and trying again each [`CLAIM_RETRY`] in any case).
    /// A wait ends early, empty, when the service shuts down, and a second before `time_left`,
    /// the caller's own deadline: a lease taken as the call is cut off would go unseen.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_next(
        &self,
        desk: &str,
        dispatcher: &str,
        lease_seconds: u32,
        whole: bool,
        wait_seconds: u32,
        time_left: Option<Duration>,
    ) -> Result<Option<(Lease, Incident)>> {
        self.check_desk(desk)?;
        check_dispatcher(dispatcher)?;
        let lease = self.lease_length(lease_seconds)?;
        let wait = Duration::from_secs(u64::from(wait_seconds));
        if wait > MAX_CLAIM_WAIT {
            return Err(Violations::one(
                "wait_seconds",
                format!("is over the maximum of {} s", MAX_CLAIM_WAIT.as_secs()),
            )
            .into());
        }
        let wait = time_left.map_or(wait, |t| wait.min(t.saturating_sub(DEADLINE_MARGIN)));
        if wait.is_zero() || *self.stopping.borrow() {
            return recorded(
                "claim",
                self.store.claim_next(desk, dispatcher, lease, whole).await,
            );
        }
        let until = Instant::now() + wait;
        let mut stopping = self.stopping.subscribe();
        let waiter = self.wakers.wait_on(desk);
        // Not counted as load while it waits.
        let _waiting = self.limits.waiting();
        let claimed = loop {
            // Listening before the next try, so that work queued after it wakes this claim.
            let woken = waiter.woken();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let claimed = self.store.claim_next(desk, dispatcher, lease, whole).await;
            let left = until.saturating_duration_since(Instant::now());
            if !matches!(claimed, Ok(None)) || left.is_zero() || *stopping.borrow() {
                break claimed;
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(left.min(self.claim_retry)) => {}
                _ = stopping.changed() => {}
            }
        };
        recorded("claim", claimed)
    }

    /// Ends every waiting claim (empty) and refuses to start new waits: the service is stopping.
    pub fn stop_waiting(&self) {
        self.stopping.send_replace(true);
    }

    /// Leases one specific queued incident; exactly one of concurrent claims wins.
    pub async fn claim(
        &self,
        reference: &str,
        desk: &str,
        dispatcher: &str,
        lease_seconds: u32,
    ) -> Result<(Lease, Incident)> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_dispatcher(dispatcher)?;
        let lease = self.lease_length(lease_seconds)?;
        recorded(
            "claim",
            self.store.claim(reference, desk, dispatcher, lease).await,
        )
    }

    pub async fn renew(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        lease_seconds: u32,
        actor: Actor<'_>,
    ) -> Result<Lease> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_token(token)?;
        let lease = self.lease_length(lease_seconds)?;
        recorded(
            "renew",
            self.store.renew(reference, desk, token, lease, actor).await,
        )
    }

    pub async fn transfer(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        to: &str,
        reason: &str,
        actor: Actor<'_>,
    ) -> Result<Incident> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_token(token)?;
        if to.is_empty() {
            return Err(Violations::one("to_desk", "is required").into());
        }
        self.check_desk(to)?;
        if to == desk {
            return Err(Violations::one("to_desk", "is the desk the task is on").into());
        }
        check_text("reason", reason)?;
        recorded(
            "transfer",
            self.store
                .transfer(reference, desk, token, to, reason, actor)
                .await,
        )
    }

    pub async fn regrade(
        &self,
        reference: &str,
        grade: Grade,
        by: &str,
        reason: &str,
    ) -> Result<Incident> {
        check_reference(reference)?;
        if grade == Grade::Unspecified {
            return Err(Violations::one("grade", "is required: 1 to 4").into());
        }
        check_dispatcher(by)
            .map_err(|_| Error::from(Violations::one("by", "is required: who is regrading")))?;
        if reason.trim().is_empty() {
            return Err(Violations::one("reason", "is required: regrades are audited").into());
        }
        check_text("reason", reason)?;
        recorded(
            "regrade",
            self.store.regrade(reference, grade, by, reason).await,
        )
    }

    /// A desk's events from after `after_id`, as they happen.
    pub async fn watch(
        &self,
        desk: &str,
        after_id: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<DeskEvent>>> {
        self.check_desk(desk)?;
        let valid = after_id.is_empty()
            || after_id == "$"
            || after_id
                .split('-')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid || after_id.split('-').count() > 2 {
            return Err(Violations::one(
                "after_id",
                "must be an event id such as 1763798400000-0, or empty",
            )
            .into());
        }
        self.store
            .watch(desk, after_id)
            .await
            .inspect_err(telemetry::redis_error)
    }

    fn lease_length(&self, lease_seconds: u32) -> Result<Duration> {
        let lease = match lease_seconds {
            0 => self.lease.default,
            s => Duration::from_secs(u64::from(s)),
        };
        if lease > self.lease.max {
            return Err(Violations::one(
                "lease_seconds",
                format!("is over the maximum of {} s", self.lease.max.as_secs()),
            )
            .into());
        }
        Ok(lease)
    }

    pub async fn complete(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        outcome_text: &str,
        actor: Actor<'_>,
    ) -> Result<Incident> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_token(token)?;
        check_text("outcome", outcome_text)?;
        recorded(
            "complete",
            self.store
                .complete(reference, desk, token, outcome_text, actor)
                .await,
        )
    }

    /// Completes a task and leases the next on the same desk, in one round trip.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_and_claim_next(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        outcome_text: &str,
        actor: Actor<'_>,
        dispatcher: &str,
        lease_seconds: u32,
        whole: bool,
    ) -> Result<Option<(Lease, Incident)>> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_token(token)?;
        check_text("outcome", outcome_text)?;
        check_dispatcher(dispatcher)?;
        let lease = self.lease_length(lease_seconds)?;
        recorded(
            "complete_and_claim",
            self.store
                .complete_and_claim_next(
                    reference,
                    desk,
                    token,
                    outcome_text,
                    actor,
                    dispatcher,
                    lease,
                    whole,
                )
                .await,
        )
    }

    pub async fn release(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        reason: &str,
        actor: Actor<'_>,
    ) -> Result<()> {
        check_reference(reference)?;
        self.check_desk(desk)?;
        check_token(token)?;
        check_text("reason", reason)?;
        recorded(
            "release",
            self.store
                .release(reference, desk, token, reason, actor)
                .await,
        )
    }

    pub async fn list_queue(&self, desk: &str, limit: u32) -> Result<(Vec<QueueEntry>, u64)> {
        self.check_desk(desk)?;
        let limit = if limit == 0 { 100 } else { limit.min(1000) };
        self.store
            .list_queue(desk, limit)
            .await
            .inspect_err(telemetry::redis_error)
    }

    /// Depth, oldest wait and status of every configured desk.
    pub async fn desk_stats(&self) -> Result<Vec<DeskStats>> {
        let table = self.table.load();
        let ids: Vec<&str> = table.desks().iter().map(|d| d.id.as_str()).collect();
        self.store
            .desk_stats(&ids)
            .await
            .inspect_err(telemetry::redis_error)
    }

    /// Opens or closes a desk; `who` is the supervisor's authenticated name, if any.
    pub async fn set_desk_status(
        &self,
        desk: &str,
        open: bool,
        reason: &str,
        who: Option<&str>,
    ) -> Result<()> {
        self.check_desk(desk)?;
        self.store
            .set_desk_status(desk, open, who.unwrap_or("operations"), reason)
            .await?;
        self.refresh_load().await
    }

    /// Rereads rules and desks; on any error the configuration in force stays.
    pub fn reload(&self) -> Result<(usize, usize)> {
        match load_config(&self.sources) {
            Ok((engine, table)) => {
                let counts = (engine.type_count(), table.desks().len());
                self.engine.store(Arc::new(engine));
                self.table.store(Arc::new(table));
                telemetry::config_reloaded(true);
                tracing::info!(types = counts.0, desks = counts.1, "configuration reloaded");
                Ok(counts)
            }
            Err(e) => {
                telemetry::config_reloaded(false);
                tracing::error!(error = %e, "configuration reload rejected; keeping the configuration in force");
                Err(e)
            }
        }
    }

    /// Reads desk status and queue depths from Redis into the routing snapshot and the gauges.
    pub async fn refresh_load(&self) -> Result<()> {
        let stats = self.desk_stats().await?;
        let table = self.table.load();
        let mut load = Load::default();
        for d in table.desks() {
            let s = stats.iter().find(|s| s.desk == d.id);
            load.closed.push(s.is_some_and(|s| !s.open));
            load.depth
                .push(s.map_or(0, |s| s.depth.min(u64::from(u32::MAX)) as u32));
            load.oldest_wait_ms.push(s.map_or(0, |s| s.oldest_wait_ms));
        }
        for s in &stats {
            telemetry::desk_gauges(&s.desk, s.open, s.depth, s.oldest_wait_ms);
        }
        self.load.store(Arc::new(load));
        Ok(())
    }

    /// Background upkeep until `shutdown` fires: refresh desk load, requeue expired leases.
    pub async fn run_upkeep(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let pinged = Instant::now();
            let up = self.store.ping().await.is_ok();
            if up {
                self.limits.redis_took(pinged.elapsed());
            }
            telemetry::redis_up(up);
            if !up {
                tracing::error!("redis is unreachable");
                continue;
            }
            if let Err(e) = self.refresh_load().await {
                tracing::warn!(error = %e, "cannot refresh desk load");
            }
            // Counted before the sweep escalates them: the breaches of this tick.
            if let Ok(n) = self.store.overdue_count().await {
                telemetry::overdue_tasks(n);
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "cannot sweep leases and deadlines");
            }
        }
    }

    /// Refreshes the routing snapshot whenever any replica changes a desk's status, until
    /// `shutdown` fires; reconnects after Redis trouble. (The upkeep loop also refreshes every
    /// second, so nothing depends on this stream alone.)
    pub async fn follow_desk_status(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let mut events = match self.store.watch_ops().await {
                Ok(rx) => rx,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow desk status changes");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            loop {
                tokio::select! {
                    e = events.recv() => match e {
                        Some(Ok(_)) => {
                            if let Err(e) = self.refresh_load().await {
                                tracing::warn!(error = %e, "cannot refresh desk load");
                            }
                        }
                        _ => break,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    /// One sweep: requeue expired leases, escalate tasks past their queue-wait target. Safe in
    /// every replica at once: each lease and deadline is acted on by one script run.
    pub async fn sweep(&self) -> Result<()> {
        let table = self.table.load();
        let supervisor = table.desk(table.supervisor()).id.clone();
        let n = self.store.reap_expired_leases(100, &supervisor).await?;
        telemetry::leases_expired(n);
        let actions = self
            .store
            .escalate_due(
                100,
                |d| table.overflow_of(d).map(str::to_owned),
                &supervisor,
            )
            .await?;
        for a in &actions {
            telemetry::escalated(a);
        }
        if !actions.is_empty() {
            tracing::warn!(
                escalated = actions.len(),
                "desk tasks passed their queue-wait target"
            );
        }
        Ok(())
    }

    fn check_desk(&self, desk: &str) -> Result<()> {
        if desk.is_empty() {
            return Err(Violations::one("desk", "is required").into());
        }
        if self.table.load().desk_id(desk).is_none() {
            return Err(Error::NotFound(format!("desk {desk:?} is not configured")));
        }
        Ok(())
    }
}

fn load_config(sources: &Sources) -> Result<(Engine, Table)> {
    let engine = match &sources.rules {
        Some(p) => Engine::load(p).map_err(|e| Error::Config(e.to_string()))?,
        None => Engine::default_rules(),
    };
    let table = match &sources.desks {
        Some(p) => Table::load(p).map_err(|e| Error::Config(e.to_string()))?,
        None => Table::default_desks(),
    };
    Ok((engine, table))
}

/// Counts a dispatch action by its result, and a failed Redis operation by kind.
fn recorded<T>(action: &'static str, r: Result<T>) -> Result<T> {
    telemetry::dispatch_action(action, outcome(&r));
    r.inspect_err(telemetry::redis_error)
}

fn outcome<T>(r: &Result<T>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(Error::StaleLease(_)) => "stale",
        Err(Error::NotFound(_)) => "not_found",
        Err(Error::Conflict(_)) => "conflict",
        Err(_) => "error",
    }
}

fn check_reference(reference: &str) -> Result<()> {
    if reference.is_empty()
        || reference.len() > 64
        || !reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Violations::one(
            "reference",
            "must be an incident reference such as ESX-20261122-42",
        )
        .into());
    }
    Ok(())
}

fn check_dispatcher(dispatcher: &str) -> Result<()> {
    if dispatcher.is_empty() || dispatcher.len() > 64 || dispatcher.contains(['|', ',']) {
        return Err(
            Violations::one("dispatcher", "is required: 1-64 characters, no '|' or ','").into(),
        );
    }
    Ok(())
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.len() > 1024 {
        return Err(Violations::one(field, "is longer than 1024 bytes").into());
    }
    Ok(())
}

fn check_token(token: u64) -> Result<()> {
    if token == 0 {
        return Err(Violations::one("token", "is required: the token of your lease").into());
    }
    Ok(())
}
