//! Nothing lost, nothing held twice: concurrent dispatchers, a killed service, a killed Redis,
//! Redis gone mid-request, and many retried submits.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bluelight::proto as p;
use bluelight::proto::dispatch_client::DispatchClient;
use bluelight::proto::intake_client::IntakeClient;
use tonic::Code;

use crate::harness::{TestApp, call, connect, free_port, reference};

/// A contact with no caller number or coordinates, so it never links to another.
fn lone(id: &str, narrative: &str) -> p::Contact {
    let mut c = call(id, narrative);
    c.caller = None;
    c
}

const NARRATIVES: &[&str] = &[
    "someone smashed my car window last night and took the stereo",
    "a man is attacking people with a knife outside the shop",
    "there is a suspicious man trying car doors on our street",
    "my shed has been broken into overnight",
    "a fight outside the pub right now",
];

/// Checks Redis for half-written state: every queued task is in its desk's queues, every queue
/// member is an incident with a queued task there, every lease belongs to a claimed task.
async fn assert_consistent(t: &TestApp) {
    let mut c = t.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("bl:{essex}:*")
        .query_async(&mut c)
        .await
        .unwrap();
    for key in &keys {
        if let Some(desk) = key.strip_prefix("bl:{essex}:q:") {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap();
            for r in members {
                let state: Option<String> = redis::cmd("HGET")
                    .arg(format!("bl:{{essex}}:inc:{r}"))
                    .arg(format!("t:{desk}:state"))
                    .query_async(&mut c)
                    .await
                    .unwrap();
                assert_eq!(
                    state.as_deref(),
                    Some("queued"),
                    "{r} in the queue of {desk}"
                );
            }
        }
        if let Some(r) = key.strip_prefix("bl:{essex}:inc:") {
            let f: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut c)
                .await
                .unwrap();
            for desk in f["desks"].split(',') {
                let state = f.get(&format!("t:{desk}:state")).map(String::as_str);
                let queued: Option<f64> = redis::cmd("ZSCORE")
                    .arg(format!("bl:{{essex}}:q:{desk}"))
                    .arg(r)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let leased: Option<f64> = redis::cmd("ZSCORE")
                    .arg("bl:{essex}:leases")
                    .arg(format!("{r}|{desk}"))
                    .query_async(&mut c)
                    .await
                    .unwrap();
                match state {
                    Some("queued") => {
                        assert!(queued.is_some() && leased.is_none(), "{r} at {desk}")
                    }
                    Some("claimed") => {
                        assert!(queued.is_none() && leased.is_some(), "{r} at {desk}")
                    }
                    Some("completed") => {
                        assert!(queued.is_none() && leased.is_none(), "{r} at {desk}")
                    }
                    other => panic!("{r} at {desk} is {other:?}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_dispatchers_claiming_at_once_never_share_an_incident_and_get_them_all() {
    let mut t = TestApp::spawn().await;
    let mut submitted = HashSet::new();
    for i in 0..200 {
        let r = t
            .submit(lone(&format!("a-{i}"), NARRATIVES[i % NARRATIVES.len()]))
            .await
            .unwrap();
        submitted.insert(reference(&r));
    }
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let mut d = t.dispatch.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let r = d
                        .claim_next(p::ClaimNextRequest {
                            desk: "police-west".into(),
                            dispatcher: format!("pw-{w}"),
                            lease_seconds: 0,
                            whole_incident: false,
                            wait_seconds: 0,
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    match r.lease {
                        Some(l) => got.push(l.reference),
                        None => return got,
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "an incident was handed out twice");
    assert_eq!(unique, submitted, "every incident was handed out");
    assert_consistent(&t).await;
}

/// `bluelight serve` as a separate process on the test's Redis.
fn serve(redis_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bluelight"))
        .args([
            "serve",
            "--redis-url",
            redis_url,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bluelight serve starts")
}

#[tokio::test]
async fn after_the_service_is_killed_holding_leases_they_expire_back_to_the_queue() {
    let t = TestApp::spawn().await;
    let port = free_port();
    let mut first = serve(&t.redis.url(), port);
    let channel = connect(port).await;
    let mut intake = IntakeClient::new(channel.clone());
    let mut dispatch = DispatchClient::new(channel);
    let mut order = Vec::new();
    for (i, narrative) in NARRATIVES.iter().take(3).enumerate() {
        let r = intake
            .submit_contact(p::SubmitContactRequest {
                contact: Some(lone(&format!("b-{i}"), narrative)),
            })
            .await
            .unwrap()
            .into_inner();
        order.push(reference(&r));
    }
    let before: Vec<String> = dispatch
        .list_queue(p::ListQueueRequest {
            desk: "police-west".into(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.reference)
        .collect();
    for _ in 0..3 {
        dispatch
            .claim_next(p::ClaimNextRequest {
                desk: "police-west".into(),
                dispatcher: "pw-1".into(),
                lease_seconds: 1,
                whole_incident: false,
                wait_seconds: 0,
            })
            .await
            .unwrap();
    }
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    let mut second = serve(&t.redis.url(), port);
    let mut dispatch = DispatchClient::new(connect(port).await);
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let q = dispatch
            .list_queue(p::ListQueueRequest {
                desk: "police-west".into(),
                limit: 0,
            })
            .await
            .unwrap()
            .into_inner();
        if q.depth == 3 {
            break q
                .entries
                .into_iter()
                .map(|e| e.reference)
                .collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < deadline,
            "the leases never came back ({} queued)",
            q.depth
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(after, before, "back at their original places");
    assert_consistent(&t).await;
}

#[tokio::test]
async fn after_redis_is_killed_and_restarted_every_answered_contact_is_there_in_order() {
    let mut t = TestApp::spawn().await;
    for i in 0..100 {
        t.submit(lone(&format!("c-{i}"), NARRATIVES[i % NARRATIVES.len()]))
            .await
            .unwrap();
    }
    let before = t.queue("police-west").await;
    t.redis.kill().await;
    t.redis.restart().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match t
            .dispatch
            .list_queue(p::ListQueueRequest {
                desk: "police-west".into(),
                limit: 0,
            })
            .await
        {
            Ok(q) => break q.into_inner(),
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                assert!(Instant::now() < deadline, "redis did not come back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(after.depth, 100);
    let refs = |q: &p::ListQueueResponse| {
        q.entries
            .iter()
            .map(|e| e.reference.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(refs(&after), refs(&before));
    assert_consistent(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_mid_request_leaves_nothing_half_written_and_retries_succeed_once() {
    let t = TestApp::spawn().await;
    let submits: Vec<_> = (0..200)
        .map(|i| {
            let mut intake = t.intake.clone();
            tokio::spawn(async move {
                let c = lone(&format!("d-{i}"), NARRATIVES[i % NARRATIVES.len()]);
                intake
                    .submit_contact(p::SubmitContactRequest { contact: Some(c) })
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    t.redis.kill().await;
    let mut failed = Vec::new();
    for (i, s) in submits.into_iter().enumerate() {
        match s.await.unwrap() {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                failed.push(i);
            }
        }
    }
    t.redis.restart().await.unwrap();
    assert_consistent(&t).await;
    let mut intake = t.intake.clone();
    let mut references = HashSet::new();
    for i in 0..200 {
        let c = lone(&format!("d-{i}"), NARRATIVES[i % NARRATIVES.len()]);
        let r = loop {
            match intake
                .submit_contact(p::SubmitContactRequest {
                    contact: Some(c.clone()),
                })
                .await
            {
                Ok(r) => break r.into_inner(),
                Err(e) if e.code() == Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("{e:?}"),
            }
        };
        assert!(
            references.insert(reference(&r)),
            "two contacts share an incident"
        );
    }
    let mut c = t.redis().await;
    let seq: u64 = redis::cmd("GET")
        .arg("bl:{essex}:seq")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        seq,
        200,
        "exactly one incident per contact ({} failed mid-request)",
        failed.len()
    );
    assert_consistent(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_submits_with_random_retries_make_one_incident_per_contact() {
    let t = TestApp::spawn().await;
    const N: usize = 10_000;
    const WORKERS: usize = 16;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let mut intake = t.intake.clone();
            tokio::spawn(async move {
                let mut seen = HashMap::new();
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ w as u64;
                for i in (w..N).step_by(WORKERS) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let tries = 1 + (rng % 3) as usize;
                    let id = format!("e-{i}");
                    for _ in 0..tries {
                        let r = intake
                            .submit_contact(p::SubmitContactRequest {
                                contact: Some(lone(&id, NARRATIVES[i % NARRATIVES.len()])),
                            })
                            .await
                            .unwrap()
                            .into_inner();
                        let prev = seen.insert(id.clone(), reference(&r));
                        assert!(
                            prev.is_none() || prev == Some(reference(&r)),
                            "a retry changed the incident"
                        );
                    }
                }
                seen
            })
        })
        .collect();
    let mut by_contact = HashMap::new();
    for w in workers {
        by_contact.extend(w.await.unwrap());
    }
    assert_eq!(by_contact.len(), N);
    let distinct: HashSet<&String> = by_contact.values().collect();
    assert_eq!(distinct.len(), N, "one incident per contact id");
    let mut c = t.redis().await;
    let seq: u64 = redis::cmd("GET")
        .arg("bl:{essex}:seq")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(seq as usize, N);
}
