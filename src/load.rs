//! The load generator behind `bluelight load`: SubmitContact at a fixed rate (open loop, latency
//! measured from each request's scheduled time, so a slow server cannot hide its queueing) or as
//! fast as a number of workers allow (closed loop); or dispatchers claiming and completing
//! across the desks as fast as they can. With the Redis URL and the server's pid it also
//! reports what each operation cost Redis and the server: CPU and Redis commands. Bounded in
//! count and time; meant for loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use crate::proto as p;
use crate::proto::dispatch_client::DispatchClient;
use crate::proto::intake_client::IntakeClient;

const NARRATIVES: &[&str] = &[
    "there's been a crash on the A12 just past the junction and one of the cars is smoking, the driver is still in the car",
    "my neighbour's house, the curtains have been shut for two days and she's not answering the door, she's in her 80s",
    "someone is trying car doors on our street, he's wearing a dark hoodie and has a torch",
    "I can smell burning coming from the flat upstairs and the smoke alarm is going off",
    "kids have set fire to the bins behind the shops again",
    "my ex is outside shouting and banging on the door, he said he'd kill me",
    "there's a man on the bridge over the river, he's on the wrong side of the railings",
    "I'd like to report my bike stolen from outside the station last week",
];
const POSTCODES: &[&str] = &[
    "CM1 1AA", "SS14 3AB", "CO15 1XY", "RM17 6DD", "IG10 4AA", "CM20 1AB", "SS1 2AA",
];

/// What the load is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// SubmitContact.
    Submit,
    /// Complete and claim the next (one call), across the desks, on incidents submitted
    /// beforehand.
    Dispatch,
    /// The same in two calls, Complete then ClaimNext, as a client without CompleteAndClaimNext.
    ClaimComplete,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: Mode,
    /// Dispatch mode: incidents to submit before the clock starts.
    pub prefill: u64,
    /// Where to read Redis's CPU time and command count (`INFO`), if given.
    pub redis_url: Option<String>,
    /// The server process, to read its CPU time from /proc, if given.
    pub server_pid: Option<u32>,
    /// A connection to the server.
    pub channel: crate::cli::Conn,
    /// Contacts per second; 0 for as fast as `concurrency` allows.
    pub rate: u32,
    pub duration: Duration,
    pub concurrency: usize,
    /// Prefix of the generated contact ids, unique per run.
    pub run_id: String,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub sent: u64,
    pub ok: u64,
    pub errors: Vec<(String, u64)>,
    pub elapsed: Duration,
    /// Latencies in seconds, sorted.
    pub latencies: Vec<f64>,
    /// What the run cost, where it could be read.
    pub cost: Cost,
}

/// CPU seconds and Redis commands spent during the run.
#[derive(Clone, Debug, Default)]
pub struct Cost {
    pub redis_cpu_s: Option<f64>,
    pub redis_commands: Option<u64>,
    pub server_cpu_s: Option<f64>,
    pub load_cpu_s: Option<f64>,
}

impl Cost {
    /// Reads the counters now.
    async fn read(plan: &Plan) -> Cost {
        let (redis_cpu_s, redis_commands) = match &plan.redis_url {
            Some(url) => redis_counters(url).await.unzip(),
            None => (None, None),
        };
        Cost {
            redis_cpu_s,
            redis_commands,
            server_cpu_s: plan
                .server_pid
                .and_then(|pid| process_cpu(&pid.to_string())),
            load_cpu_s: process_cpu("self"),
        }
    }

    fn since(&self, before: &Cost) -> Cost {
        let d = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Cost {
            redis_cpu_s: d(self.redis_cpu_s, before.redis_cpu_s),
            redis_commands: self
                .redis_commands
                .zip(before.redis_commands)
                .map(|(a, b)| a.saturating_sub(b)),
            server_cpu_s: d(self.server_cpu_s, before.server_cpu_s),
            load_cpu_s: d(self.load_cpu_s, before.load_cpu_s),
        }
    }
}

/// Redis's CPU seconds (user and system) and commands processed so far.
async fn redis_counters(url: &str) -> Option<(f64, u64)> {
    let client = redis::Client::open(url).ok()?;
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("all")
        .query_async(&mut c)
        .await
        .ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let cpu = field("used_cpu_user")?.parse::<f64>().ok()?
        + field("used_cpu_sys")?.parse::<f64>().ok()?;
    // Counts the two INFO calls of this measurement too: nothing beside thousands of operations.
    let commands = field("total_commands_processed")?.parse().ok()?;
    Some((cpu, commands))
}

/// A process's CPU seconds (user and system, all threads) from /proc; Linux's clock tick is
/// 1/100 s.
fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

impl Report {
    pub fn percentile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i]
    }

    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn contact(run_id: &str, n: u64) -> p::Contact {
    let i = n as usize;
    p::Contact {
        contact_id: format!("{run_id}-{n}"),
        channel: p::Channel::Phone999 as i32,
        narrative: NARRATIVES[i % NARRATIVES.len()].to_owned(),
        location: Some(p::Location {
            postcode: POSTCODES[(i / NARRATIVES.len()) % POSTCODES.len()].to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs the plan and reports.
pub async fn run(plan: Plan) -> Result<Report, String> {
    if plan.mode != Mode::Submit {
        prefill(&plan).await?;
    }
    let before = Cost::read(&plan).await;
    let mut report = match plan.mode {
        Mode::Submit => submit(&plan).await?,
        Mode::Dispatch | Mode::ClaimComplete => dispatch(&plan).await?,
    };
    report.cost = Cost::read(&plan).await.since(&before);
    Ok(report)
}

/// Submits `plan.prefill` contacts, 64 at a time, for the dispatchers to work.
async fn prefill(plan: &Plan) -> Result<(), String> {
    let client = IntakeClient::new(plan.channel.clone());
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (mut client, next, run_id, total) = (
                client.clone(),
                next.clone(),
                plan.run_id.clone(),
                plan.prefill,
            );
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        return Ok::<(), String>(());
                    }
                    client
                        .submit_contact(p::SubmitContactRequest {
                            contact: Some(contact(&format!("{run_id}-pre"), n)),
                        })
                        .await
                        .map_err(|e| format!("prefill: {}", e.message()))?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Dispatchers, as many as `plan.concurrency`, each working down a desk's queue with
/// CompleteAndClaimNext (complete the incident in hand, lease the next), moving to the next
/// desk when one is empty, until time is up or every desk is.
async fn dispatch(plan: &Plan) -> Result<Report, String> {
    let client = DispatchClient::new(plan.channel.clone());
    let desks: Vec<String> =
        crate::proto::operations_client::OperationsClient::new(plan.channel.clone())
            .get_queue_stats(p::GetQueueStatsRequest {})
            .await
            .map_err(|e| e.message().to_owned())?
            .into_inner()
            .desks
            .into_iter()
            .filter(|d| d.depth > 0)
            .map(|d| d.desk)
            .collect();
    let started = Instant::now();
    let end = started + plan.duration;
    let workers: Vec<_> = (0..plan.concurrency.max(1))
        .map(|w| {
            let (mut client, desks) = (client.clone(), desks.clone());
            let one_call = plan.mode == Mode::Dispatch;
            tokio::spawn(async move {
                let mut local = Report::default();
                let mut empty = 0;
                let mut d = w;
                // The lease in hand: each step completes it and leases the next on its desk,
                // in one call; a step is the operation counted.
                let mut held: Option<p::Lease> = None;
                while Instant::now() < end && empty < desks.len() {
                    let t = Instant::now();
                    let Some(lease) = held.take() else {
                        let claimed = client
                            .claim_next(p::ClaimNextRequest {
                                desk: desks[d % desks.len()].clone(),
                                dispatcher: format!("load-{w}"),
                                lease_seconds: 0,
                                whole_incident: false,
                                wait_seconds: 0,
                            })
                            .await;
                        match claimed.map(|r| r.into_inner().lease) {
                            Ok(Some(lease)) => {
                                empty = 0;
                                held = Some(lease);
                            }
                            Ok(None) => {
                                empty += 1;
                                d += 1;
                            }
                            Err(e) => record(&mut local, Some(e), t.elapsed()),
                        }
                        continue;
                    };
                    let step = if one_call {
                        client
                            .complete_and_claim_next(p::CompleteAndClaimNextRequest {
                                reference: lease.reference,
                                desk: lease.desk,
                                token: lease.token,
                                outcome: "load".into(),
                                dispatcher: format!("load-{w}"),
                                lease_seconds: 0,
                                whole_incident: false,
                            })
                            .await
                            .map(|r| r.into_inner().lease)
                    } else {
                        let desk = lease.desk.clone();
                        match client
                            .complete(p::CompleteRequest {
                                reference: lease.reference,
                                desk: lease.desk,
                                token: lease.token,
                                outcome: "load".into(),
                            })
                            .await
                        {
                            Ok(_) => client
                                .claim_next(p::ClaimNextRequest {
                                    desk,
                                    dispatcher: format!("load-{w}"),
                                    lease_seconds: 0,
                                    whole_incident: false,
                                    wait_seconds: 0,
                                })
                                .await
                                .map(|r| r.into_inner().lease),
                            Err(e) => Err(e),
                        }
                    };
                    match step {
                        Ok(next) => {
                            held = next;
                            if held.is_none() {
                                d += 1;
                            }
                            record(&mut local, None, t.elapsed());
                        }
                        Err(e) => record(&mut local, Some(e), t.elapsed()),
                    }
                }
                local
            })
        })
        .collect();
    let mut report = Report::default();
    for w in workers {
        let local = w.await.map_err(|e| e.to_string())?;
        merge_into(&mut report, local);
    }
    report.elapsed = started.elapsed();
    report.latencies.sort_by(f64::total_cmp);
    Ok(report)
}

async fn submit(plan: &Plan) -> Result<Report, String> {
    let client = IntakeClient::new(plan.channel.clone());
    let report = Arc::new(Mutex::new(Report::default()));
    let started = Instant::now();
    let end = started + plan.duration;
    let concurrency = plan.concurrency.max(1);

    if plan.rate == 0 {
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let mut client = client.clone();
                let report = report.clone();
                let run_id = plan.run_id.clone();
                tokio::spawn(async move {
                    let mut n = w as u64;
                    let mut local = Report::default();
                    while Instant::now() < end {
                        let t = Instant::now();
                        let r = client
                            .submit_contact(p::SubmitContactRequest {
                                contact: Some(contact(&run_id, n)),
                            })
                            .await;
                        record(&mut local, r.err(), t.elapsed());
                        n += concurrency as u64;
                    }
                    merge(&report, local).await;
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    } else {
        let permits = Arc::new(Semaphore::new(concurrency));
        let interval = Duration::from_secs_f64(1.0 / f64::from(plan.rate));
        let mut n = 0u64;
        let mut tasks = Vec::new();
        loop {
            let scheduled = started + interval.mul_f64(n as f64);
            if scheduled >= end {
                break;
            }
            tokio::time::sleep_until(scheduled.into()).await;
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())?;
            let mut client = client.clone();
            let report = report.clone();
            let c = contact(&plan.run_id, n);
            tasks.push(tokio::spawn(async move {
                let r = client
                    .submit_contact(p::SubmitContactRequest { contact: Some(c) })
                    .await;
                let mut local = Report::default();
                record(&mut local, r.err(), scheduled.elapsed());
                merge(&report, local).await;
                drop(permit);
            }));
            n += 1;
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    let mut report = Arc::try_unwrap(report)
        .map_err(|_| "workers still running")?
        .into_inner();
    report.elapsed = started.elapsed();
    report.latencies.sort_by(f64::total_cmp);
    Ok(report)
}

fn record(r: &mut Report, err: Option<tonic::Status>, took: Duration) {
    r.sent += 1;
    match err {
        None => {
            r.ok += 1;
            r.latencies.push(took.as_secs_f64());
        }
        Some(s) => {
            let code = format!("{:?}", s.code());
            match r.errors.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => r.errors.push((code, 1)),
            }
        }
    }
}

async fn merge(into: &Mutex<Report>, from: Report) {
    merge_into(&mut *into.lock().await, from);
}

fn merge_into(r: &mut Report, from: Report) {
    r.sent += from.sent;
    r.ok += from.ok;
    r.latencies.extend(from.latencies);
    for (code, n) in from.errors {
        match r.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, m)) => *m += n,
            None => r.errors.push((code, n)),
        }
    }
}
