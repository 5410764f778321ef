//! Redis: the live state of the centre. Every state change is one Lua script (see `scripts/`),
//! so nothing is ever half-written; clocks come from Redis `TIME`; every key of a centre carries
//! the hash tag `{centre}`.

mod conn;
mod managed;
mod scripts;
mod wakers;

use std::collections::HashMap;
use std::time::Duration;

use redis::{AsyncCommands, Value};

use conn::Conn;
pub use conn::Target;
pub use managed::{CONFIG_FILE as MANAGED_CONFIG_FILE, ManagedRedis, Supervise};
pub use wakers::Wakers;

use crate::domain::{
    Agency, Contact, DeskEvent, DeskStats, DeskTask, Grade, Incident, IncidentBody, IncidentState,
    Lease, Outcome, QueueEntry,
};
use crate::error::{Error, Result};
use scripts::Scripts;

/// How the store behaves; the service fills it from configuration.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Centre id: the hash tag of every key, for example `essex`.
    pub centre: String,
    /// Prefix of incident references, for example `ESX`.
    pub reference_prefix: String,
    /// How long a contact id is remembered for idempotent retries.
    pub idempotency_ttl: Duration,
    /// How long a finished incident is kept.
    pub finished_ttl: Duration,
    /// Queue-wait target per grade (1..=4) before escalation.
    pub queue_wait_targets: [Duration; 4],
    /// Approximate cap of each desk's event stream.
    pub event_cap: u32,
    /// Approximate cap of the audit stream.
    pub audit_cap: u32,
    /// Repeat-call linking: how near (metres) and how recent a contact of the same family must be.
    pub link_radius_m: u32,
    pub link_window: Duration,
    /// A task whose lease expires this many times goes to the supervisor.
    pub max_lease_expiries: u32,
    /// For a `rediss://` URL: the CA and client certificate to use.
    pub tls: RedisTls,
    /// A submit is acknowledged only once this many replicas have it (`WAIT`); 0: at once.
    pub min_replicas_ack: u32,
    /// How long a submit waits for those replicas before answering `UNAVAILABLE`.
    pub replica_ack_timeout: Duration,
}

/// Who acts on a leased task: `name` for the audit (empty: the lease holder), and whether only
/// the holder may (a dispatcher; a supervisor may act on anyone's lease).
#[derive(Clone, Copy, Debug, Default)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub must_hold: bool,
}

impl Actor<'_> {
    fn must_hold(&self) -> &'static str {
        if self.must_hold { "1" } else { "" }
    }
}

/// TLS to Redis, for `rediss://` URLs: the CA certificates to trust instead of the system's,
/// and a client certificate and key for a Redis that asks for one (its default with TLS).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisTls {
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            centre: "essex".into(),
            reference_prefix: "ESX".into(),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            finished_ttl: Duration::from_secs(7 * 24 * 3600),
            queue_wait_targets: [
                Duration::from_secs(30),
                Duration::from_secs(300),
                Duration::from_secs(3600),
                Duration::from_secs(86_400),
            ],
            event_cap: 10_000,
            audit_cap: 100_000,
            link_radius_m: 250,
            link_window: Duration::from_secs(30 * 60),
            max_lease_expiries: 3,
            tls: RedisTls::default(),
            min_replicas_ack: 0,
            replica_ack_timeout: Duration::from_millis(500),
        }
    }
}

/// The outcome of recording a contact.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub incident: Incident,
    pub outcome: Outcome,
}

/// Handle to the centre's state in Redis. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Conn,
    prefix: String,
    config: std::sync::Arc<StoreConfig>,
    scripts: std::sync::Arc<Scripts>,
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        match e.code() {
            Some("BL_NOT_FOUND") => Error::NotFound(e.detail().unwrap_or("not found").to_owned()),
            Some("BL_STALE") => Error::StaleLease(e.detail().unwrap_or("stale lease").to_owned()),
            Some("BL_DENIED") => {
                Error::PermissionDenied(e.detail().unwrap_or("not the lease holder").to_owned())
            }
            Some("BL_CONFLICT") => Error::Conflict(e.detail().unwrap_or("conflict").to_owned()),
            _ if e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || matches!(
                    e.kind(),
                    redis::ErrorKind::Server(
                        redis::ServerErrorKind::BusyLoading
                            | redis::ServerErrorKind::TryAgain
                            | redis::ServerErrorKind::ClusterDown
                            | redis::ServerErrorKind::MasterDown
                            | redis::ServerErrorKind::ReadOnly
                    )
                ) =>
            {
                Error::Unavailable(e.to_string())
            }
            _ => Error::Internal(format!("redis: {e}")),
        }
    }
}

/// A Redis URL fit for a log or an error: its password, if any, replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &url[start..start + at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{}{user}{hidden}{}", &url[..start], &url[start + at..])
        }
        None => url.to_owned(),
    }
}

/// The Redis client of `url`; over TLS for `rediss://`, with `tls`'s files.
fn client(url: &str, tls: &RedisTls) -> Result<redis::Client> {
    let bad_url =
        |e: redis::RedisError| Error::Config(format!("redis url {:?}: {e}", redacted(url)));
    if !url.starts_with("rediss://") {
        if *tls != RedisTls::default() {
            return Err(Error::Config(format!(
                "--redis-ca, --redis-cert and --redis-key are for TLS to Redis: use a rediss:// URL, not {:?}",
                redacted(url)
            )));
        }
        return redis::Client::open(url).map_err(bad_url);
    }
    redis::Client::build_with_tls(url, certificates(tls)?).map_err(bad_url)
}

/// The CA and client certificate of `tls`, read.
fn certificates(tls: &RedisTls) -> Result<redis::TlsCertificates> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Error::Config(format!("{flag} {}: {e}", path.display())))
    };
    let client_tls = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("--redis-cert", cert)?,
            client_key: read("--redis-key", key)?,
        }),
        (None, None) => None,
        _ => {
            return Err(Error::Config(
                "--redis-cert and --redis-key come together: the client certificate and its key"
                    .into(),
            ));
        }
    };
    let root_cert = tls
        .ca
        .as_deref()
        .map(|ca| read("--redis-ca", ca))
        .transpose()?;
    Ok(redis::TlsCertificates {
        client_tls,
        root_cert,
    })
}

impl Store {
    /// Connects to the Redis of `url`. Fails with `Unavailable` if it cannot be reached.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Store> {
        Store::connect_to(&Target::Url(url.to_owned()), config).await
    }

    /// Connects to the target's primary, and follows it through failovers when sentinels
    /// name it. Fails with `Unavailable` if it cannot be reached.
    pub async fn connect_to(target: &Target, config: StoreConfig) -> Result<Store> {
        let conn = Conn::connect(target, config.tls.clone(), config.min_replicas_ack > 0).await?;
        Ok(Store {
            conn,
            prefix: format!("bl:{{{}}}:", config.centre),
            config: std::sync::Arc::new(config),
            scripts: std::sync::Arc::new(Scripts::new()),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Checks that Redis will not evict live incidents. Returns the policy in force, or `None`
    /// when the server does not let us read it (some managed services).
    pub async fn maxmemory_policy(&self) -> Result<Option<String>> {
        let mut c = self.conn.clone();
        let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut c)
            .await;
        match reply {
            Ok(v) => Ok(v.get(1).cloned()),
            Err(e) if e.is_io_error() || e.is_timeout() => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    /// Answers whether Redis is reachable.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// Records a contact: a new incident queued on its route's desks, or a link to the open
    /// incident it repeats, or (for a contact id seen before) the original answer. Atomic.
    /// `submitter` is the authenticated identity that sent the contact, `None` when the service
    /// runs open: contact ids are its own (two portals' ids never collide), the audit names it,
    /// and the incident remembers it.
    pub async fn submit(
        &self,
        contact: &Contact,
        decision: &IncidentBody,
        submitter: Option<&str>,
    ) -> Result<Submitted> {
        let json = serde_json::to_string(decision).map_err(|e| Error::Internal(e.to_string()))?;
        let grade = decision.triage.grade;
        let family = match decision.triage.lead_agency {
            Agency::Police => "POLICE",
            Agency::Fire => "FIRE",
            _ => "",
        };
        let coord = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        let (lat, lon) = match (contact.location.lat, contact.location.lon) {
            (Some(_), Some(_)) => (coord(contact.location.lat), coord(contact.location.lon)),
            _ => (String::new(), String::new()),
        };
        let phone: String = contact
            .caller
            .phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let phone = if phone.len() >= 6 {
            phone
        } else {
            String::new()
        };
        // Waiting for replicas holds up the connection: not the one dispatch uses.
        let mut c = if self.config.min_replicas_ack > 0 {
            self.conn.replicated()
        } else {
            self.conn.clone()
        };
        // Sent by hand rather than as a script invocation, so that WAIT can follow it in one
        // pipeline: on the same socket, so it waits for this write and no other.
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(self.scripts.submit.get_hash())
            .arg(3)
            // '|' is not in a contact id: no two (submitter, id) pairs share a key.
            .arg(self.key(&match submitter {
                None => format!("idem:{}", contact.contact_id),
                Some(who) => format!("idem:{}|{who}", contact.contact_id),
            }))
            .arg(self.key("seq"))
            .arg(self.key("deadlines"))
            .arg(&self.prefix)
            .arg(&self.config.reference_prefix)
            .arg(self.config.idempotency_ttl.as_secs().max(1))
            .arg(json)
            .arg(grade.number())
            .arg(decision.triage.agency.as_str())
            .arg(&*decision.triage.incident_type)
            .arg(&contact.contact_id)
            .arg(decision.route.desks.join(","))
            .arg(self.targets())
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(submitter.unwrap_or(contact.channel.as_str()))
            .arg(family)
            .arg(lat)
            .arg(lon)
            .arg(self.config.link_radius_m)
            .arg(self.config.link_window.as_millis().max(1) as u64)
            .arg(phone)
            .arg(submitter.unwrap_or(""));
        let reply = self.submitted(&mut c, eval).await?;
        let mut parts = array(reply)?.into_iter();
        let (outcome, incident) = match int(parts.next())? {
            0 => {
                let reference: String = redis::from_redis_value(
                    parts.next().ok_or_else(|| unexpected("no reference"))?,
                )?;
                let created = int(parts.next())?;
                (
                    Outcome::New,
                    new_incident(reference, created, contact, decision, submitter),
                )
            }
            1 => (Outcome::Replayed, parse_incident(hash(parts.next())?)?),
            _ => (Outcome::Linked, parse_incident(hash(parts.next())?)?),
        };
        Ok(Submitted { incident, outcome })
    }

    /// Runs the submit script `eval` (loading it first if Redis has forgotten it); with
    /// `min_replicas_ack`, followed in the same pipeline by a WAIT for that many replicas, for
    /// at most `replica_ack_timeout`: a contact is acknowledged only once a failover cannot lose
    /// it. Short of it, `Unavailable`: the contact may be written, and its retry (same contact
    /// id) is a replay, which writes too (it renews the id's expiry) and so waits again.
    async fn submitted(&self, c: &mut Conn, eval: redis::Cmd) -> Result<Value> {
        let want = self.config.min_replicas_ack;
        // Alone when no replica need confirm it: no pipeline, no copy of the packed command.
        let pipe = (want > 0).then(|| {
            let mut pipe = redis::pipe();
            pipe.add_command(eval.clone())
                .cmd("WAIT")
                .arg(want)
                .arg(self.config.replica_ack_timeout.as_millis().max(1) as u64);
            pipe
        });
        let send = async |c: &mut Conn| -> redis::RedisResult<Vec<Value>> {
            match &pipe {
                Some(pipe) => pipe.query_async(c).await,
                None => Ok(vec![eval.query_async(c).await?]),
            }
        };
        let mut answer = send(c).await;
        if answer
            .as_ref()
            .is_err_and(|e| e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
        {
            self.scripts.submit.prepare_invoke().load_async(c).await?;
            answer = send(c).await;
        }
        let mut answer = answer?.into_iter();
        let reply = answer.next().ok_or_else(|| unexpected("no submit reply"))?;
        if want == 0 {
            return Ok(reply);
        }
        let got: u32 =
            redis::from_redis_value(answer.next().ok_or_else(|| unexpected("no WAIT reply"))?)?;
        if got < want {
            return Err(Error::Unavailable(format!(
                "only {got} of {want} replicas confirmed the contact within {} ms",
                self.config.replica_ack_timeout.as_millis()
            )));
        }
        Ok(reply)
    }

    /// Queue-wait targets of grades 1-4 in ms, as the scripts take them.
    fn targets(&self) -> String {
        self.config
            .queue_wait_targets
            .iter()
            .map(|t| t.as_millis().max(1).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The incident with this reference.
    pub async fn incident(&self, reference: &str) -> Result<Incident> {
        let mut c = self.conn.clone();
        let fields: HashMap<String, String> =
            c.hgetall(self.key(&format!("inc:{reference}"))).await?;
        if fields.is_empty() {
            return Err(Error::NotFound(format!(
                "incident {reference} does not exist"
            )));
        }
        parse_incident(fields)
    }

    /// Leases the first incident of a desk's queue, if any: the whole incident, or what the
    /// desk needs ([`Store::incident`] has the rest).
    pub async fn claim_next(
        &self,
        desk: &str,
        dispatcher: &str,
        lease: Duration,
        whole: bool,
    ) -> Result<Option<(Lease, Incident)>> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .claim_next
            .key(self.key(&format!("q:{desk}")))
            .arg(&self.prefix)
            .arg(desk)
            .arg(dispatcher)
            .arg(lease.as_millis() as u64)
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(if whole { "1" } else { "0" })
            .invoke_async(&mut c)
            .await?;
        let parts = array(reply)?;
        if parts.is_empty() {
            return Ok(None);
        }
        leased(parts, desk, dispatcher, whole).map(Some)
    }

    /// Leases one specific queued incident; of concurrent claims exactly one wins, the others
    /// get `Conflict`.
    pub async fn claim(
        &self,
        reference: &str,
        desk: &str,
        dispatcher: &str,
        lease: Duration,
    ) -> Result<(Lease, Incident)> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .claim
            .key(self.key(&format!("q:{desk}")))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(dispatcher)
            .arg(lease.as_millis() as u64)
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .invoke_async(&mut c)
            .await?;
        leased(array(reply)?, desk, dispatcher, true)
    }

    /// Extends a current lease.
    pub async fn renew(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        lease: Duration,
        actor: Actor<'_>,
    ) -> Result<Lease> {
        let mut c = self.conn.clone();
        let (expires_at_ms, dispatcher): (i64, String) = self
            .scripts
            .renew
            .key(self.key("leases"))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(token)
            .arg(lease.as_millis() as u64)
            .arg(self.config.audit_cap)
            .arg(actor.name)
            .arg(actor.must_hold())
            .invoke_async(&mut c)
            .await?;
        Ok(Lease {
            reference: reference.to_owned(),
            desk: desk.to_owned(),
            dispatcher,
            token,
            expires_at_ms,
        })
    }

    /// Moves a desk task held under lease `token` to another desk, keeping its place.
    pub async fn transfer(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        to: &str,
        reason: &str,
        actor: Actor<'_>,
    ) -> Result<Incident> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .transfer
            .key(self.key(&format!("inc:{reference}")))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(token)
            .arg(to)
            .arg(reason)
            .arg(self.targets())
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(actor.name)
            .arg(actor.must_hold())
            .invoke_async(&mut c)
            .await?;
        parse_incident(hash(Some(reply))?)
    }

    /// Changes an incident's grade, audited.
    pub async fn regrade(
        &self,
        reference: &str,
        grade: Grade,
        who: &str,
        reason: &str,
    ) -> Result<Incident> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .regrade
            .key(self.key(&format!("inc:{reference}")))
            .arg(&self.prefix)
            .arg(reference)
            .arg(grade.number())
            .arg(who)
            .arg(reason)
            .arg(self.targets())
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .invoke_async(&mut c)
            .await?;
        parse_incident(hash(Some(reply))?)
    }

    /// Escalates desk tasks whose queue-wait deadline has passed, at most `batch`; returns the
    /// actions taken. `overflow_of` names a desk's overflow desk.
    pub async fn escalate_due(
        &self,
        batch: u32,
        overflow_of: impl Fn(&str) -> Option<String>,
        supervisor: &str,
    ) -> Result<Vec<String>> {
        let mut c = self.conn.clone();
        let now = redis_now_ms(&mut c).await?;
        let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.key("deadlines"))
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(batch)
            .query_async(&mut c)
            .await?;
        let mut actions = Vec::new();
        for member in due {
            let desk = member.rsplit('|').next().unwrap_or_default();
            let action: String = self
                .scripts
                .escalate
                .key(self.key("deadlines"))
                .arg(&self.prefix)
                .arg(&member)
                .arg(overflow_of(desk).unwrap_or_default())
                .arg(supervisor)
                .arg(self.targets())
                .arg(self.config.event_cap)
                .arg(self.config.audit_cap)
                .invoke_async(&mut c)
                .await?;
            if !action.is_empty() {
                actions.push(action);
            }
        }
        Ok(actions)
    }

    /// Follows a desk's events from after `after_id` ("$" for new ones only, "0" for all kept),
    /// on a connection of its own, until the receiver is dropped.
    pub async fn watch(
        &self,
        desk: &str,
        after_id: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<DeskEvent>>> {
        self.follow(&format!("ev:{desk}"), after_id).await
    }

    /// Follows the centre's operations stream (desk status changes) from now on.
    pub async fn watch_ops(&self) -> Result<tokio::sync::mpsc::Receiver<Result<DeskEvent>>> {
        self.follow("ops", "$").await
    }

    /// Follows one stream of the centre on a connection of its own (a blocking read must not
    /// hold up the shared connection), until the receiver is dropped.
    async fn follow(
        &self,
        suffix: &str,
        after_id: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<DeskEvent>>> {
        // Reads block for 5 s at most.
        let mut conn = self.conn.own(Duration::from_secs(10)).await?;
        let key = self.key(suffix);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        // "$" is read as the newest event now, once: read again from "$" after a read that
        // found nothing, it would skip whatever came between the two reads.
        let mut last = if after_id.is_empty() || after_id == "$" {
            let newest: redis::streams::StreamRangeReply =
                conn.xrevrange_count(&key, "+", "-", 1).await?;
            newest
                .ids
                .first()
                .map_or_else(|| "0-0".to_owned(), |e| e.id.clone())
        } else {
            after_id.to_owned()
        };
        tokio::spawn(async move {
            loop {
                let opts = redis::streams::StreamReadOptions::default()
                    .block(5000)
                    .count(100);
                let reply: redis::RedisResult<Option<redis::streams::StreamReadReply>> =
                    conn.xread_options(&[&key], &[&last], &opts).await;
                let events = match reply {
                    Ok(r) => r.map(|r| r.keys).unwrap_or_default(),
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                if events.is_empty() && tx.is_closed() {
                    return;
                }
                for id in events.into_iter().flat_map(|k| k.ids) {
                    last = id.id.clone();
                    let at_ms = id
                        .id
                        .split('-')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    let mut kind = String::new();
                    let mut reference = String::new();
                    let mut details = Vec::new();
                    for (k, v) in id.map {
                        let v: String = redis::from_redis_value(v).unwrap_or_default();
                        match k.as_str() {
                            "kind" => kind = v,
                            "ref" => reference = v,
                            _ => details.push((k, v)),
                        }
                    }
                    details.sort();
                    let event = DeskEvent {
                        id: id.id,
                        kind,
                        reference,
                        at_ms,
                        details,
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Finishes a desk task held under lease `token`.
    pub async fn complete(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        outcome: &str,
        actor: Actor<'_>,
    ) -> Result<Incident> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .complete
            .key(self.key("leases"))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(token)
            .arg(outcome)
            .arg(self.config.finished_ttl.as_secs().max(1))
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(actor.name)
            .arg(actor.must_hold())
            .invoke_async(&mut c)
            .await?;
        parse_incident(hash(Some(reply))?)
    }

    /// Finishes a desk task held under lease `token`, then leases the next incident on the same
    /// desk to `dispatcher`, atomically, with the whole incident or what the desk needs; `None`
    /// when the queue is empty.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_and_claim_next(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        outcome: &str,
        actor: Actor<'_>,
        dispatcher: &str,
        lease: Duration,
        whole: bool,
    ) -> Result<Option<(Lease, Incident)>> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .complete_claim_next
            .key(self.key("leases"))
            .key(self.key(&format!("q:{desk}")))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(token)
            .arg(outcome)
            .arg(self.config.finished_ttl.as_secs().max(1))
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(actor.name)
            .arg(actor.must_hold())
            .arg(dispatcher)
            .arg(lease.as_millis() as u64)
            .arg(if whole { "1" } else { "0" })
            .invoke_async(&mut c)
            .await?;
        let parts = array(reply)?;
        if parts.is_empty() {
            return Ok(None);
        }
        leased(parts, desk, dispatcher, whole).map(Some)
    }

    /// Gives a desk task held under lease `token` back to its queue, at its original place.
    pub async fn release(
        &self,
        reference: &str,
        desk: &str,
        token: u64,
        reason: &str,
        actor: Actor<'_>,
    ) -> Result<()> {
        let mut c = self.conn.clone();
        let _: Value = self
            .scripts
            .release
            .key(self.key("leases"))
            .arg(&self.prefix)
            .arg(reference)
            .arg(desk)
            .arg(token)
            .arg(reason)
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .arg(actor.name)
            .arg(actor.must_hold())
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// Returns expired leases to their queues (or, after too many expiries, to `supervisor`);
    /// returns how many. Safe to run anywhere, any time.
    pub async fn reap_expired_leases(&self, batch: u32, supervisor: &str) -> Result<u64> {
        let mut c = self.conn.clone();
        let n: u64 = self
            .scripts
            .reap
            .key(self.key("leases"))
            .arg(&self.prefix)
            .arg(batch)
            .arg(self.config.max_lease_expiries.max(1))
            .arg(supervisor)
            .arg(self.targets())
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .invoke_async(&mut c)
            .await?;
        Ok(n)
    }

    /// A desk's queue in working order (at most `limit` entries) and its depth.
    pub async fn list_queue(&self, desk: &str, limit: u32) -> Result<(Vec<QueueEntry>, u64)> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .list_queue
            .key(self.key(&format!("q:{desk}")))
            .arg(&self.prefix)
            .arg(desk)
            .arg(limit.max(1))
            .invoke_async(&mut c)
            .await?;
        let mut parts = array(reply)?.into_iter();
        let depth = int(parts.next())? as u64;
        let now = int(parts.next())?;
        let entries = parts
            .map(|row| {
                let f: Vec<String> = redis::from_redis_value(row)?;
                let queued_at_ms: i64 = f.get(4).and_then(|s| s.parse().ok()).unwrap_or(0);
                Ok(QueueEntry {
                    reference: f[0].clone(),
                    grade: f[1]
                        .parse::<u8>()
                        .ok()
                        .and_then(Grade::from_number)
                        .unwrap_or(Grade::Unspecified),
                    incident_type: f[2].clone(),
                    agency: f[3].parse().unwrap_or(Agency::Unspecified),
                    queued_at_ms,
                    wait_ms: (now - queued_at_ms).max(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((entries, depth))
    }

    /// Depth, oldest wait and open/closed of each desk, in one round trip.
    pub async fn desk_stats(&self, desks: &[&str]) -> Result<Vec<DeskStats>> {
        let mut c = self.conn.clone();
        let reply: Value = self
            .scripts
            .desk_stats
            .key(self.key("desks"))
            .arg(&self.prefix)
            .arg(desks)
            .invoke_async(&mut c)
            .await?;
        let mut parts = array(reply)?.into_iter();
        let now = int(parts.next())?;
        let status: HashMap<String, String> =
            redis::from_redis_value(parts.next().unwrap_or(Value::Nil))?;
        desks
            .iter()
            .zip(parts)
            .map(|(d, row)| {
                let (depth, oldest): (u64, i64) = redis::from_redis_value(row)?;
                Ok(DeskStats {
                    desk: (*d).to_owned(),
                    open: status.get(*d).is_none_or(|s| s != "closed"),
                    depth,
                    oldest_wait_ms: if oldest < 0 { 0 } else { (now - oldest).max(0) },
                })
            })
            .collect()
    }

    /// How many queued desk tasks are past their escalation deadline.
    pub async fn overdue_count(&self) -> Result<u64> {
        let mut c = self.conn.clone();
        let now = redis_now_ms(&mut c).await?;
        Ok(c.zcount(self.key("deadlines"), "-inf", now).await?)
    }

    /// Opens or closes a desk, with an event and an audit record.
    pub async fn set_desk_status(
        &self,
        desk: &str,
        open: bool,
        who: &str,
        reason: &str,
    ) -> Result<()> {
        let mut c = self.conn.clone();
        let _: Value = self
            .scripts
            .set_desk_status
            .key(self.key("desks"))
            .arg(&self.prefix)
            .arg(desk)
            .arg(if open { "open" } else { "closed" })
            .arg(who)
            .arg(reason)
            .arg(self.config.event_cap)
            .arg(self.config.audit_cap)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}

/// A Redis `TIME` reply (seconds, microseconds) in milliseconds: the one clock of the centre.
fn time_ms(time: (i64, i64)) -> i64 {
    time.0 * 1000 + time.1 / 1000
}

async fn redis_now_ms(c: &mut Conn) -> Result<i64> {
    Ok(time_ms(redis::cmd("TIME").query_async(c).await?))
}

impl From<redis::ParsingError> for Error {
    fn from(e: redis::ParsingError) -> Self {
        unexpected(&e.to_string())
    }
}

fn unexpected(what: &str) -> Error {
    Error::Internal(format!("unexpected reply from redis: {what}"))
}

fn array(v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Nil => Ok(Vec::new()),
        other => Err(unexpected(&format!("{other:?}"))),
    }
}

fn int(v: Option<Value>) -> Result<i64> {
    Ok(redis::from_redis_value(
        v.ok_or_else(|| unexpected("missing integer"))?,
    )?)
}

fn hash(v: Option<Value>) -> Result<HashMap<String, String>> {
    Ok(redis::from_redis_value(
        v.ok_or_else(|| unexpected("missing hash"))?,
    )?)
}

/// The incident the submit script just wrote, built from what was sent rather than read back.
fn new_incident(
    reference: String,
    created: i64,
    contact: &Contact,
    body: &IncidentBody,
    submitter: Option<&str>,
) -> Incident {
    Incident {
        reference,
        triage: body.triage.clone(),
        route: body.route.clone(),
        channel: body.channel,
        location: body.location.clone(),
        caller: body.caller.clone(),
        contact_ids: vec![contact.contact_id.clone()],
        submitted_by: submitter.map(str::to_owned).into_iter().collect(),
        tasks: body
            .route
            .desks
            .iter()
            .map(|d| DeskTask {
                desk: d.clone(),
                state: IncidentState::Queued,
                dispatcher: String::new(),
                lease_expires_at_ms: 0,
                outcome: String::new(),
            })
            .collect(),
        created_at_ms: created,
        updated_at_ms: created,
    }
}

/// A lease script's reply: {token, expires ms, HGETALL of the incident}.
fn leased(
    parts: Vec<Value>,
    desk: &str,
    dispatcher: &str,
    whole: bool,
) -> Result<(Lease, Incident)> {
    let mut parts = parts.into_iter();
    let token = int(parts.next())? as u64;
    let expires_at_ms = int(parts.next())?;
    let incident = if whole {
        parse_incident(hash(parts.next())?)?
    } else {
        let task = DeskTask {
            desk: desk.to_owned(),
            state: IncidentState::Claimed,
            dispatcher: dispatcher.to_owned(),
            lease_expires_at_ms: expires_at_ms,
            outcome: String::new(),
        };
        for_the_desk(parts.next(), task)?
    };
    let lease = Lease {
        reference: incident.reference.clone(),
        desk: desk.to_owned(),
        dispatcher: dispatcher.to_owned(),
        token,
        expires_at_ms,
    };
    Ok((lease, incident))
}

/// The grade in force: the incident's `grade` field, which regrades and more urgent repeat calls
/// change after triage, else the grade triage `decided`.
fn grade_in_force(stored: Option<&str>, decided: Grade) -> Grade {
    stored
        .and_then(|g| g.parse().ok())
        .and_then(Grade::from_number)
        .unwrap_or(decided)
}

/// The stored decision without the reasons and route: what a desk taking an incident needs,
/// read without allocating what it does not.
#[derive(serde::Deserialize)]
struct DeskView {
    triage: TriageHead,
    channel: crate::domain::Channel,
    location: crate::domain::Location,
    caller: crate::domain::Caller,
}

#[derive(serde::Deserialize)]
struct TriageHead {
    agency: Agency,
    lead_agency: Agency,
    grade: Grade,
    incident_type: std::sync::Arc<str>,
    incident_type_name: std::sync::Arc<str>,
    qualifiers: Vec<std::sync::Arc<str>>,
    referral: Option<crate::domain::Referral>,
    confidence: f32,
    #[serde(default)]
    needs_confirmation: bool,
}

/// An incident from the fields `lease_task` reads for a desk (ref, grade, decision, created,
/// updated), with the desk's own `task`.
fn for_the_desk(v: Option<Value>, task: DeskTask) -> Result<Incident> {
    let f: Vec<Option<String>> =
        redis::from_redis_value(v.ok_or_else(|| unexpected("missing incident fields"))?)?;
    let get = |i: usize, k: &str| {
        f.get(i)
            .and_then(Option::as_deref)
            .ok_or_else(|| unexpected(&format!("incident without {k}")))
    };
    let view: DeskView = serde_json::from_str(get(2, "decision")?)
        .map_err(|e| Error::Internal(format!("stored decision: {e}")))?;
    let t = view.triage;
    Ok(Incident {
        reference: get(0, "ref")?.to_owned(),
        triage: crate::domain::Triage {
            agency: t.agency,
            lead_agency: t.lead_agency,
            grade: grade_in_force(get(1, "grade").ok(), t.grade),
            incident_type: t.incident_type,
            incident_type_name: t.incident_type_name,
            qualifiers: t.qualifiers,
            referral: t.referral,
            confidence: t.confidence,
            reasons: Vec::new(),
            needs_confirmation: t.needs_confirmation,
            next_question: None,
        },
        route: Default::default(),
        channel: view.channel,
        location: view.location,
        caller: view.caller,
        contact_ids: Vec::new(),
        submitted_by: Vec::new(),
        tasks: vec![task],
        created_at_ms: get(3, "created")?.parse().unwrap_or(0),
        updated_at_ms: get(4, "updated")?.parse().unwrap_or(0),
    })
}

fn parse_incident(f: HashMap<String, String>) -> Result<Incident> {
    let get = |k: &str| {
        f.get(k)
            .ok_or_else(|| unexpected(&format!("incident without {k}")))
    };
    let decision: IncidentBody = serde_json::from_str(get("decision")?)
        .map_err(|e| Error::Internal(format!("stored decision: {e}")))?;
    let tasks = get("desks")?
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| {
            let field = |name: &str| f.get(&format!("t:{d}:{name}")).cloned().unwrap_or_default();
            DeskTask {
                desk: d.to_owned(),
                state: match field("state").as_str() {
                    "queued" => IncidentState::Queued,
                    "claimed" => IncidentState::Claimed,
                    "completed" => IncidentState::Completed,
                    _ => IncidentState::Unspecified,
                },
                dispatcher: field("by"),
                lease_expires_at_ms: field("exp").parse().unwrap_or(0),
                outcome: field("outcome"),
            }
        })
        .collect();
    let mut triage = decision.triage;
    triage.grade = grade_in_force(f.get("grade").map(String::as_str), triage.grade);
    Ok(Incident {
        reference: get("ref")?.clone(),
        triage,
        route: decision.route,
        channel: decision.channel,
        location: decision.location,
        caller: decision.caller,
        contact_ids: get("contacts")?.split(',').map(str::to_owned).collect(),
        submitted_by: f
            .keys()
            .filter_map(|k| k.strip_prefix("src:"))
            .map(str::to_owned)
            .collect(),
        tasks,
        created_at_ms: get("created")?.parse().unwrap_or(0),
        updated_at_ms: get("updated")?.parse().unwrap_or(0),
    })
}

#[cfg(test)]
mod redaction {
    use super::redacted;

    #[test]
    fn a_redis_url_loses_its_password_and_keeps_the_rest() {
        assert_eq!(
            redacted("redis://:s3cret@127.0.0.1:6380/"),
            "redis://:***@127.0.0.1:6380/"
        );
        assert_eq!(
            redacted("rediss://bluelight:s3cret@redis.internal:6379/0"),
            "rediss://bluelight:***@redis.internal:6379/0"
        );
        assert_eq!(
            redacted("redis://redis.internal:6379/"),
            "redis://redis.internal:6379/"
        );
        assert_eq!(redacted("not a url"), "not a url");
    }
}
