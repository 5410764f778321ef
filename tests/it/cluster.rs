//! Redis Cluster with real processes: three primaries on free ports joined by
//! `redis-cli --cluster create`, and two centres served side by side by two `bluelight serve`
//! processes, each centre's keys in a slot of its own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bluelight::proto as p;

use crate::harness::{Procs, query};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_centres_work_side_by_side_on_one_cluster_in_slots_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| crate::harness::free_port()).collect();
    assert!(!ports.contains(&6379));
    let mut procs = Procs(Vec::new());
    for &port in &ports {
        let data = dir.path().join(port.to_string());
        std::fs::create_dir_all(&data).unwrap();
        procs.0.push(
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", data.to_str().unwrap()])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server starts"),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for &port in &ports {
        while query::<String>(port, &redis::cmd("PING")).await.is_err() {
            assert!(Instant::now() < deadline, "node {port} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    for &port in &ports {
        while !query::<String>(port, redis::cmd("CLUSTER").arg("INFO"))
            .await
            .is_ok_and(|i| i.contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "the cluster did not form");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let mut served = Procs(Vec::new());
    for centre in ["essex", "kent"] {
        let grpc = crate::harness::free_port();
        served.0.push(
            Command::new(env!("CARGO_BIN_EXE_bluelight"))
                .args(["serve", "--listen", &format!("127.0.0.1:{grpc}")])
                .args(["--metrics-listen", "127.0.0.1:0"])
                .args(["--redis-cluster", &nodes.join(","), "--centre", centre])
                .env("RUST_LOG", "warn")
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let channel = crate::harness::connect(grpc).await;
        let mut intake = p::intake_client::IntakeClient::new(channel.clone());
        let mut dispatch = p::dispatch_client::DispatchClient::new(channel);
        let made = intake
            .submit_contact(p::SubmitContactRequest {
                contact: Some(crate::harness::call(
                    &format!("{centre}-1"),
                    "someone has set fire to the bins behind the shops",
                )),
            })
            .await
            .unwrap()
            .into_inner();
        let desk = crate::harness::desks(&made)[0].clone();
        let claimed = dispatch
            .claim_next(p::ClaimNextRequest {
                desk: desk.clone(),
                dispatcher: format!("{centre}-dispatcher"),
                lease_seconds: 0,
                whole_incident: false,
                wait_seconds: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let lease = claimed.lease.expect("the incident is on its desk");
        // Every kind of script runs on the centre's slot: a regrade, and a completion with the
        // next claim.
        dispatch
            .regrade(p::RegradeRequest {
                reference: lease.reference.clone(),
                grade: 2,
                by: format!("{centre}-supervisor"),
                reason: "caller rang back".into(),
            })
            .await
            .unwrap();
        let next = dispatch
            .complete_and_claim_next(p::CompleteAndClaimNextRequest {
                reference: lease.reference.clone(),
                desk: desk.clone(),
                token: lease.token,
                outcome: "crew attended".into(),
                dispatcher: format!("{centre}-dispatcher"),
                lease_seconds: 0,
                whole_incident: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(next.lease.is_none(), "one incident on the desk");
        let done = intake
            .get_incident(p::GetIncidentRequest {
                reference: lease.reference.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .incident
            .unwrap();
        assert_eq!(done.reference, crate::harness::reference(&made));
        let task = done.tasks.iter().find(|t| t.desk == desk).unwrap();
        assert_eq!(task.state, p::IncidentState::Completed as i32, "{centre}");
        assert_eq!(done.triage.as_ref().unwrap().grade, 2, "{centre}");
    }

    // Each centre's keys are in one slot, the two slots differ, and the keys are there.
    let slot = async |key: &str| -> u16 {
        query(ports[0], redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
            .await
            .unwrap()
    };
    let (essex, kent) = (slot("bl:{essex}:seq").await, slot("bl:{kent}:seq").await);
    assert_ne!(essex, kent);
    assert_eq!(slot("bl:{essex}:audit").await, essex);
    let client = redis::cluster::ClusterClient::new(
        nodes
            .iter()
            .map(|n| format!("redis://{n}/"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut c = client.get_async_connection().await.unwrap();
    for key in ["bl:{essex}:seq", "bl:{kent}:seq"] {
        let n: u64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "{key}");
    }
}
