//! Redis Sentinel with real processes: a primary, two replicas and three sentinels on free ports,
//! `bluelight serve` finding the primary through the sentinels and acknowledging a submit only
//! once the replica has it. The primary is SIGKILLed under a stream of submits; the sentinels
//! promote the replica, bluelight follows, and every acknowledged contact is still there.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bluelight::proto as p;

use crate::harness::{Procs, query};

fn redis(args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

async fn wait_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_loses_no_acknowledged_contact() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port;
    // Two replicas: after the failover one is left to confirm submits to the new primary.
    let (primary, replica, second) = (port(), port(), port());
    let sentinels: Vec<u16> = (0..3).map(|_| port()).collect();
    assert!(![primary, replica, second].contains(&6379) && !sentinels.contains(&6379));
    let node = |p: u16, extra: &[&str]| {
        let data = dir.path().join(p.to_string());
        std::fs::create_dir_all(&data).unwrap();
        let mut args = vec![
            "--port".to_owned(),
            p.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            data.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        redis(&args)
    };
    let mut procs = Procs(vec![node(primary, &[])]);
    let primary_port = primary.to_string();
    for r in [replica, second] {
        // The first replica is the one the sentinels promote.
        let priority = if r == replica { "10" } else { "100" };
        procs.0.push(node(
            r,
            &[
                "--replicaof",
                "127.0.0.1",
                &primary_port,
                "--replica-priority",
                priority,
            ],
        ));
        wait_for("the replica is in sync", 20, async || {
            query::<String>(r, redis::cmd("INFO").arg("replication"))
                .await
                .is_ok_and(|i| i.contains("master_link_status:up"))
        })
        .await;
    }
    for &s in &sentinels {
        let conf = dir.path().join(format!("sentinel-{s}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {s}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor essex 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds essex 1000\n\
                 sentinel failover-timeout essex 10000\n",
                dir.path().display()
            ),
        )
        .unwrap();
        procs.0.push(redis(&[conf.to_str().unwrap(), "--sentinel"]));
    }
    wait_for(
        "the sentinels know each other and the replica",
        30,
        async || {
            let mut ready = true;
            for &s in &sentinels {
                let others: redis::RedisResult<Vec<redis::Value>> =
                    query(s, redis::cmd("SENTINEL").arg("sentinels").arg("essex")).await;
                let replicas: redis::RedisResult<Vec<redis::Value>> =
                    query(s, redis::cmd("SENTINEL").arg("replicas").arg("essex")).await;
                ready &= others.is_ok_and(|o| o.len() == 2) && replicas.is_ok_and(|r| r.len() == 2);
            }
            ready
        },
    )
    .await;

    let grpc = port();
    let list = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{s}"))
        .collect::<Vec<_>>()
        .join(",");
    let server = Command::new(env!("CARGO_BIN_EXE_bluelight"))
        .args(["serve", "--listen", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(["--redis-sentinels", &list, "--redis-master", "essex"])
        .args(["--min-replicas-ack", "1"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Procs(vec![server]);
    let mut intake = p::intake_client::IntakeClient::new(crate::harness::connect(grpc).await);

    // With both replicas stopped, nothing confirms a submit: UNAVAILABLE, not an answer that a
    // failover could make untrue. Once they run again, its retry goes through.
    let signal = |sig: &str, procs: &Procs| {
        for c in &procs.0[1..3] {
            let ok = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
    };
    let unconfirmed = p::SubmitContactRequest {
        contact: Some(crate::harness::call(
            "ha-stopped",
            "a man has collapsed in the street",
        )),
    };
    signal("-STOP", &procs);
    let refused = intake.submit_contact(unconfirmed.clone()).await;
    signal("-CONT", &procs);
    let refused = refused.expect_err("no replica confirmed it");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("replicas confirmed"),
        "{refused:?}"
    );
    let mut confirmed = false;
    for _ in 0..50 {
        if intake.submit_contact(unconfirmed.clone()).await.is_ok() {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(confirmed, "the retry was never confirmed");

    // Submit one contact after another, each retried with its id until acknowledged; kill the
    // primary once some are in, and go on until a run of them has gone through the new one.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    let mut longest_gap = Duration::ZERO;
    let mut last_ok = Instant::now();
    let mut killed_at = None;
    for n in 0.. {
        let id = format!("ha-{n}");
        let reference = loop {
            let r = intake
                .submit_contact(p::SubmitContactRequest {
                    contact: Some(crate::harness::call(
                        &id,
                        "someone has set fire to the bins behind the shops",
                    )),
                })
                .await;
            match r {
                Ok(r) => break crate::harness::reference(&r.into_inner()),
                Err(s) => {
                    assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                    assert!(
                        last_ok.elapsed() < Duration::from_secs(60),
                        "no submit went through for a minute"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        longest_gap = longest_gap.max(last_ok.elapsed());
        last_ok = Instant::now();
        acknowledged.push((id, reference));
        if n == 50 {
            procs.0[0].kill().unwrap();
            procs.0[0].wait().unwrap();
            killed_at = Some(Instant::now());
        }
        if killed_at.is_some_and(|k| k.elapsed() > Duration::from_secs(1)) && n > 50 + 50 {
            break;
        }
    }
    // The first replica is the primary now, and every acknowledged contact made it there.
    let role: Vec<redis::Value> = query(replica, &redis::cmd("ROLE")).await.unwrap();
    assert_eq!(
        redis::from_redis_value::<String>(role[0].clone()).unwrap(),
        "master"
    );
    for (id, reference) in &acknowledged {
        let r = intake
            .get_incident(p::GetIncidentRequest {
                reference: reference.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{id} ({reference}) was acknowledged and is lost: {e:?}"));
        let incident = r.into_inner().incident.unwrap();
        assert!(incident.contact_ids.contains(id), "{id} not in {reference}");
    }
    eprintln!(
        "sentinel failover: {} contacts acknowledged, 0 lost; longest time without a successful submit {} ms",
        acknowledged.len(),
        longest_gap.as_millis()
    );
}
