//! The dispatch lifecycle: specific claims, renewals, transfers, regrades, escalation, repeat-call
//! linking, live desk events and the audit trail.

use std::time::{Duration, Instant};

use bluelight::proto as p;
use bluelight::store::StoreConfig;
use tonic::Code;

use crate::harness::{TestApp, call, desks, grade, reference};

fn located(id: &str, narrative: &str, lat: f64, lon: f64) -> p::Contact {
    let mut c = call(id, narrative);
    c.location = Some(p::Location {
        postcode: "CM1 1AA".into(),
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: Some(10),
        source: p::LocationSource::Aml as i32,
        ..Default::default()
    });
    c
}

#[tokio::test]
async fn of_eight_dispatchers_claiming_one_incident_exactly_one_wins() {
    let t = TestApp::spawn().await;
    let mut intake = t.intake.clone();
    let r = intake
        .submit_contact(p::SubmitContactRequest {
            contact: Some(call(
                "race-1",
                "a man is smashing windows in the high street right now",
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let reference = reference(&r);
    let claims = (0..8).map(|i| {
        let mut d = t.dispatch.clone();
        let reference = reference.clone();
        tokio::spawn(async move {
            d.claim(p::ClaimRequest {
                reference,
                desk: "police-west".into(),
                dispatcher: format!("pw-{i}"),
                lease_seconds: 0,
            })
            .await
        })
    });
    let results: Vec<_> = futures_join(claims).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one claim wins");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Code::FailedPrecondition, "{r:?}");
        assert!(r.message().contains("not queued"), "{}", r.message());
    }
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn a_lease_can_be_renewed_only_with_its_current_token() {
    let mut t = TestApp::spawn().await;
    t.submit(call("renew-1", "my shed has been broken into"))
        .await
        .unwrap();
    let lease = t.claim("police-west", "pw-1").await.lease.unwrap();
    let renewed = t
        .dispatch
        .renew_lease(p::RenewLeaseRequest {
            reference: lease.reference.clone(),
            desk: "police-west".into(),
            token: lease.token,
            lease_seconds: 600,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    assert!(renewed.expires_at_ms > lease.expires_at_ms);
    assert_eq!(renewed.dispatcher, "pw-1");
    let stale = t
        .dispatch
        .renew_lease(p::RenewLeaseRequest {
            reference: lease.reference.clone(),
            desk: "police-west".into(),
            token: lease.token + 1000,
            lease_seconds: 600,
        })
        .await
        .expect_err("wrong token");
    assert_eq!(stale.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_transfer_moves_the_task_to_another_desk_in_its_place() {
    let mut t = TestApp::spawn().await;
    t.submit(call(
        "tr-1",
        "there is a fight outside the pub, someone has a knife",
    ))
    .await
    .unwrap();
    let lease = t.claim("police-west", "pw-1").await.lease.unwrap();
    let moved = t
        .dispatch
        .transfer(p::TransferRequest {
            reference: lease.reference.clone(),
            desk: "police-west".into(),
            token: lease.token,
            to_desk: "firearms".into(),
            reason: "weapon may be a gun".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(
        moved.route.unwrap().desks,
        vec!["police-west"],
        "the route is what was decided"
    );
    assert_eq!(moved.tasks.len(), 1);
    assert_eq!(moved.tasks[0].desk, "firearms");
    assert_eq!(moved.tasks[0].state, p::IncidentState::Queued as i32);
    assert_eq!(t.queue("police-west").await.depth, 0);
    assert_eq!(
        t.queue("firearms").await.entries[0].reference,
        lease.reference
    );
    // The old lease is gone with the task.
    let err = t
        .dispatch
        .complete(p::CompleteRequest {
            reference: lease.reference.clone(),
            desk: "police-west".into(),
            token: lease.token,
            outcome: "x".into(),
        })
        .await
        .expect_err("no task there any more");
    assert_eq!(err.code(), Code::NotFound);
    let err = t
        .dispatch
        .transfer(p::TransferRequest {
            reference: lease.reference.clone(),
            desk: "firearms".into(),
            token: 1,
            to_desk: "the-moon".into(),
            reason: "".into(),
        })
        .await
        .expect_err("unknown desk");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn a_regrade_reorders_the_queue_and_is_audited() {
    let mut t = TestApp::spawn().await;
    let urgent = t
        .submit(call("rg-1", "a woman is being attacked in the street now"))
        .await
        .unwrap();
    let routine = t
        .submit(call(
            "rg-2",
            "someone broke into my car overnight and took my satnav",
        ))
        .await
        .unwrap();
    assert_eq!((grade(&urgent), grade(&routine)), (1, 3));
    let err = t
        .dispatch
        .regrade(p::RegradeRequest {
            reference: reference(&routine),
            grade: p::Grade::Grade1Emergency as i32,
            by: "sup-1".into(),
            reason: "".into(),
        })
        .await
        .expect_err("a reason is required");
    assert_eq!(err.code(), Code::InvalidArgument);
    let i = t
        .dispatch
        .regrade(p::RegradeRequest {
            reference: reference(&routine),
            grade: p::Grade::Grade1Emergency as i32,
            by: "sup-1".into(),
            reason: "the thief is back and threatening the owner".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(i.triage.unwrap().grade, 1);
    let order: Vec<String> = t
        .queue("police-west")
        .await
        .entries
        .into_iter()
        .map(|e| e.reference)
        .collect();
    assert_eq!(
        order,
        vec![reference(&urgent), reference(&routine)],
        "grade 1 by arrival"
    );
    let mut c = t.redis().await;
    let audit: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg("bl:{essex}:audit")
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    let text = format!("{audit:?}");
    assert!(
        text.contains("regraded")
            && text.contains("sup-1")
            && text.contains("threatening the owner"),
        "{text}"
    );
}

/// A service whose every queue-wait target is 50 ms, so that escalation comes within a test.
async fn spawn_escalating() -> TestApp {
    let config = StoreConfig {
        queue_wait_targets: [Duration::from_millis(50); 4],
        ..Default::default()
    };
    TestApp::spawn_with(config, Default::default()).await
}

/// After a short wait, one sweep; then the audit trail's escalations so far, each entry's fields.
async fn sweep_escalations(
    t: &TestApp,
    c: &mut redis::aio::MultiplexedConnection,
) -> Vec<std::collections::HashMap<String, String>> {
    tokio::time::sleep(Duration::from_millis(60)).await;
    t.app.sweep().await.unwrap();
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg("bl:{essex}:audit")
        .arg("-")
        .arg("+")
        .query_async(c)
        .await
        .unwrap();
    entries
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f["action"] == "escalated")
        .collect()
}

#[tokio::test]
async fn an_overdue_task_is_raised_then_overflowed_then_sent_to_the_supervisor() {
    let mut t = spawn_escalating().await;
    let r = t
        .submit(call(
            "esc-1",
            "a man was trying car doors on our street last night, he has gone now",
        ))
        .await
        .unwrap();
    assert_eq!(grade(&r), 2);
    let mut actions = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut c = t.redis().await;
    while actions.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "escalation stalled after {actions:?}"
        );
        actions = sweep_escalations(&t, &mut c)
            .await
            .into_iter()
            .map(|f| f["step"].clone())
            .collect();
    }
    assert_eq!(
        &actions[..4],
        ["raised", "overflow", "supervisor", "reminder"],
        "{actions:?}"
    );
    assert_eq!(t.queue("supervisor").await.depth, 1);
    assert_eq!(t.queue("police-west").await.depth, 0);
    assert_eq!(t.queue("police-overflow").await.depth, 0);
}

#[tokio::test]
async fn every_desk_of_a_joint_incident_has_its_own_escalation_deadline() {
    let mut t = spawn_escalating().await;
    let r = t
        .submit(call(
            "esc-joint",
            "someone has set fire to the car outside my house, they ran off",
        ))
        .await
        .unwrap();
    let (inc, want) = (reference(&r), desks(&r));
    assert!(
        want.len() >= 2,
        "a joint incident has several desks: {want:?}"
    );
    let mut c = t.redis().await;
    let deadlines: Vec<String> = redis::cmd("ZRANGE")
        .arg("bl:{essex}:deadlines")
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    let mut queued: Vec<String> = deadlines
        .iter()
        .filter_map(|m| m.strip_prefix(&format!("{inc}|")).map(str::to_owned))
        .collect();
    queued.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(queued, sorted, "one deadline a desk");
    // Each desk's task is escalated on its own once its deadline passes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut escalated: Vec<String> = sweep_escalations(&t, &mut c)
            .await
            .into_iter()
            .filter(|f| f["ref"] == inc && want.contains(&f["desk"]))
            .map(|f| f["desk"].clone())
            .collect();
        escalated.sort();
        escalated.dedup();
        if escalated == sorted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "escalated {escalated:?} of {sorted:?}"
        );
    }
}

#[tokio::test]
async fn a_lease_that_keeps_expiring_goes_to_the_supervisor() {
    let config = StoreConfig {
        max_lease_expiries: 2,
        ..Default::default()
    };
    let mut t = TestApp::spawn_with(config, Default::default()).await;
    t.submit(call("exp-1", "my car has been broken into overnight"))
        .await
        .unwrap();
    for round in 0..2 {
        let lease = t
            .dispatch
            .claim_next(p::ClaimNextRequest {
                desk: "police-west".into(),
                dispatcher: format!("pw-{round}"),
                lease_seconds: 1,
                whole_incident: false,
                wait_seconds: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .lease
            .expect("claimable");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            t.app.sweep().await.unwrap();
            let i = t.incident(&lease.reference).await;
            if i.tasks
                .iter()
                .all(|k| k.state == p::IncidentState::Queued as i32)
            {
                break;
            }
            assert!(Instant::now() < deadline, "lease never expired");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(t.queue("police-west").await.depth, 0);
    assert_eq!(t.queue("supervisor").await.depth, 1);
}

#[tokio::test]
async fn a_repeat_call_nearby_links_to_the_incident_and_raises_its_grade() {
    let mut t = TestApp::spawn().await;
    let first = t
        .submit(located(
            "rep-1",
            "a bin is smouldering behind the shops, no one around",
            51.7360,
            0.4690,
        ))
        .await
        .unwrap();
    assert!(!first.linked);
    let g1 = grade(&first);
    // 100 m away, more urgent: linked, regraded.
    let second = t
        .submit(located(
            "rep-2",
            "the shop is on fire and there are people trapped upstairs",
            51.7369,
            0.4690,
        ))
        .await
        .unwrap();
    assert!(second.linked, "a repeat call about the same fire");
    assert_eq!(reference(&second), reference(&first));
    let i = second.incident.unwrap();
    assert_eq!(i.contact_ids, vec!["rep-1", "rep-2"]);
    assert_eq!(i.triage.unwrap().grade, 1);
    assert!(g1 > 1, "the first call was less urgent ({g1})");
    // A police matter at the same spot is another incident.
    let police = t
        .submit(located(
            "rep-3",
            "someone has stolen my handbag from my car",
            51.7360,
            0.4690,
        ))
        .await
        .unwrap();
    assert!(!police.linked);
    // A fire 2 km away is another incident.
    let far = t
        .submit(located(
            "rep-4",
            "smoke coming out of a house",
            51.7540,
            0.4690,
        ))
        .await
        .unwrap();
    assert!(!far.linked);
    assert_eq!(t.queue("fire-control").await.depth, 2);
}

#[tokio::test]
async fn a_second_call_from_the_same_number_links_to_the_first() {
    let mut t = TestApp::spawn().await;
    let first = t
        .submit(call("num-1", "my ex is outside shouting"))
        .await
        .unwrap();
    let mut again = call("num-2", "he is still outside and banging on the door");
    again.caller.as_mut().unwrap().phone = crate::harness::phone_for("num-1");
    let second = t.submit(again).await.unwrap();
    assert!(second.linked);
    assert_eq!(reference(&second), reference(&first));
    assert_eq!(desks(&second), desks(&first));
}

#[tokio::test]
async fn watching_a_desk_streams_its_events_and_resumes_after_the_last_seen() {
    let mut t = TestApp::spawn().await;
    let mut stream = t
        .dispatch
        .watch_desk(p::WatchDeskRequest {
            desk: "fire-control".into(),
            after_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // The watch is subscribed once the call returns; events from now on arrive.
    let r = t
        .submit(call("w-1", "my kitchen is on fire"))
        .await
        .unwrap();
    let queued = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    assert_eq!(
        (queued.kind.as_str(), queued.reference.as_str()),
        ("queued", reference(&r).as_str())
    );
    assert_eq!(queued.details.get("grade").map(String::as_str), Some("1"));
    t.claim("fire-control", "fc-1").await;
    let claimed = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    assert_eq!(claimed.kind, "claimed");
    drop(stream);

    // Resuming after the first event gives the second, not the first.
    let mut resumed = t
        .dispatch
        .watch_desk(p::WatchDeskRequest {
            desk: "fire-control".into(),
            after_id: queued.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = tokio::time::timeout(Duration::from_secs(10), resumed.message())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    assert_eq!(next.id, claimed.id);
}

#[tokio::test]
async fn every_state_change_is_in_the_audit_trail_with_who_and_why() {
    let mut t = TestApp::spawn().await;
    t.submit(call("au-1", "my kitchen is on fire"))
        .await
        .unwrap();
    let lease = t.claim("fire-control", "fc-9").await.lease.unwrap();
    t.dispatch
        .complete(p::CompleteRequest {
            reference: lease.reference.clone(),
            desk: "fire-control".into(),
            token: lease.token,
            outcome: "two pumps".into(),
        })
        .await
        .unwrap();
    let mut c = t.redis().await;
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg("bl:{essex}:audit")
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|(_, f)| f["action"].as_str()).collect();
    assert_eq!(actions, vec!["submitted", "claimed", "completed"]);
    for (_, f) in &entries {
        assert_eq!(f["ref"], lease.reference);
        assert!(!f["who"].is_empty() && f.contains_key("why"), "{f:?}");
    }
    assert_eq!(entries[2].1["who"], "fc-9");
    assert_eq!(entries[2].1["why"], "two pumps");
}
