//! The load generator behind `bluelight load`: SubmitContact at a fixed rate (open loop, latency
//! measured from each request's scheduled time, so a slow server cannot hide its queueing) or as
//! fast as a number of workers allow (closed loop). Bounded in count and time; meant for
//! loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use crate::proto as p;
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

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
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
    let mut r = into.lock().await;
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
