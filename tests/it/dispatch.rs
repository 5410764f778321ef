//! Dispatch: claim, complete, release, ordering and fencing.

use bluelight::proto as p;
use tonic::Code;

use crate::harness::{TestApp, call, grade, reference};

#[tokio::test]
async fn submit_then_claim_then_complete_finishes_the_incident() {
    let mut t = TestApp::spawn().await;
    let r = t
        .submit(call("life-1", "my kitchen is on fire"))
        .await
        .unwrap();
    let claimed = t.claim("fire-control", "fc-7").await;
    let lease = claimed.lease.expect("a lease");
    assert_eq!(lease.reference, reference(&r));
    assert_eq!(lease.dispatcher, "fc-7");
    assert!(lease.token > 0);
    assert_eq!(
        claimed.incident.unwrap().state,
        p::IncidentState::Claimed as i32
    );
    assert_eq!(t.queue("fire-control").await.depth, 0);

    let done = t
        .dispatch
        .complete(p::CompleteRequest {
            reference: lease.reference.clone(),
            desk: "fire-control".into(),
            token: lease.token,
            outcome: "two pumps mobilised".into(),
        })
        .await
        .expect("complete")
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(done.state, p::IncidentState::Completed as i32);
    assert_eq!(done.tasks[0].outcome, "two pumps mobilised");
    let mut c = t.redis().await;
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("bl:{{essex}}:inc:{}", lease.reference))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 0, "a finished incident expires (ttl {ttl})");
}

#[tokio::test]
async fn claiming_from_an_empty_queue_returns_no_lease() {
    let mut t = TestApp::spawn().await;
    let r = t.claim("police-north", "pn-1").await;
    assert!(r.lease.is_none() && r.incident.is_none());
}

#[tokio::test]
async fn the_queue_orders_by_grade_then_arrival() {
    let mut t = TestApp::spawn().await;
    let scheduled = t
        .submit(call(
            "o-1",
            "someone broke into my shed last night and took my tools",
        ))
        .await
        .unwrap();
    let emergency_a = t
        .submit(call(
            "o-2",
            "a man is attacking my neighbour with a knife right now",
        ))
        .await
        .unwrap();
    let priority = t
        .submit(call(
            "o-3",
            "a man was trying car doors on our street last night, he has gone now",
        ))
        .await
        .unwrap();
    let emergency_b = t
        .submit(call(
            "o-4",
            "there is a fight outside, someone has a machete",
        ))
        .await
        .unwrap();
    let grades: Vec<i32> = [&scheduled, &emergency_a, &priority, &emergency_b]
        .iter()
        .map(|r| grade(r))
        .collect();
    assert_eq!(grades, vec![3, 1, 2, 1], "the corpus of this test");

    let q = t.queue("police-west").await;
    let order: Vec<String> = q.entries.iter().map(|e| e.reference.clone()).collect();
    let expected: Vec<String> = [&emergency_a, &emergency_b, &priority, &scheduled]
        .iter()
        .map(|r| reference(r))
        .collect();
    assert_eq!(order, expected);
    for r in &expected {
        let claimed = t.claim("police-west", "pw-1").await.lease.unwrap();
        assert_eq!(&claimed.reference, r);
    }
}

#[tokio::test]
async fn a_desks_oldest_wait_is_its_longest_waiting_task_of_any_grade() {
    let mut t = TestApp::spawn().await;
    assert_eq!(t.desk_stats("police-west").await.oldest_wait_ms, 0);
    let shed = t
        .submit(call(
            "w-1",
            "someone broke into my shed last night and took my tools",
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let knife = t
        .submit(call(
            "w-2",
            "a man is attacking my neighbour with a knife right now",
        ))
        .await
        .unwrap();
    assert_eq!(
        (grade(&shed), grade(&knife)),
        (3, 1),
        "the corpus of this test"
    );
    let wait = |q: &p::ListQueueResponse, r: &p::SubmitContactResponse| {
        q.entries
            .iter()
            .find(|e| e.reference == reference(r))
            .map(|e| e.wait_ms)
            .unwrap()
    };
    let q = t.queue("police-west").await;
    assert!(wait(&q, &shed) >= wait(&q, &knife) + 290, "{q:?}");
    // Read after the queue: at least the shed's wait, though the knife is first in the queue.
    let oldest = t.desk_stats("police-west").await.oldest_wait_ms;
    assert!(oldest >= wait(&q, &shed), "{oldest} {q:?}");
    let first = t.claim("police-west", "pw-1").await.lease.unwrap();
    assert_eq!(first.reference, reference(&knife));
    assert!(t.desk_stats("police-west").await.oldest_wait_ms >= oldest);
    let second = t.claim("police-west", "pw-1").await.lease.unwrap();
    assert_eq!(second.reference, reference(&shed));
    assert_eq!(t.desk_stats("police-west").await.oldest_wait_ms, 0);
}

#[tokio::test]
async fn a_stale_token_is_refused_and_changes_nothing() {
    let mut t = TestApp::spawn().await;
    t.submit(call("s-1", "my car has been broken into overnight"))
        .await
        .unwrap();
    let first = t.claim("police-west", "pw-1").await.lease.unwrap();
    t.dispatch
        .release(p::ReleaseRequest {
            reference: first.reference.clone(),
            desk: "police-west".into(),
            token: first.token,
            reason: "wrong desk".into(),
        })
        .await
        .expect("release");
    let second = t.claim("police-west", "pw-2").await.lease.unwrap();
    assert_eq!(second.reference, first.reference);
    assert!(second.token > first.token, "fencing tokens only grow");

    let stale = t
        .dispatch
        .complete(p::CompleteRequest {
            reference: first.reference.clone(),
            desk: "police-west".into(),
            token: first.token,
            outcome: "done".into(),
        })
        .await
        .expect_err("stale token");
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert!(
        stale.message().contains("not current"),
        "{}",
        stale.message()
    );
    let i = t
        .intake
        .get_incident(p::GetIncidentRequest {
            reference: first.reference.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(i.tasks[0].dispatcher, "pw-2", "the holder is unchanged");
    assert_eq!(i.state, p::IncidentState::Claimed as i32);
}

#[tokio::test]
async fn a_released_incident_goes_back_to_its_original_place() {
    let mut t = TestApp::spawn().await;
    for (id, text) in [
        ("r-1", "a woman is being attacked in the park right now"),
        (
            "r-2",
            "a man with a knife is threatening people outside the shop",
        ),
        ("r-3", "people fighting in the street now"),
    ] {
        t.submit(call(id, text)).await.unwrap();
    }
    let before: Vec<String> = t
        .queue("police-west")
        .await
        .entries
        .into_iter()
        .map(|e| e.reference)
        .collect();
    let lease = t.claim("police-west", "pw-1").await.lease.unwrap();
    assert_eq!(lease.reference, before[0]);
    t.dispatch
        .release(p::ReleaseRequest {
            reference: lease.reference.clone(),
            desk: "police-west".into(),
            token: lease.token,
            reason: "handover".into(),
        })
        .await
        .unwrap();
    let after: Vec<String> = t
        .queue("police-west")
        .await
        .entries
        .into_iter()
        .map(|e| e.reference)
        .collect();
    assert_eq!(after, before);
}

#[tokio::test]
async fn an_expired_lease_is_requeued_by_the_reaper() {
    let mut t = TestApp::spawn().await;
    t.submit(call("e-1", "my garden shed has been broken into"))
        .await
        .unwrap();
    let lease = t
        .dispatch
        .claim_next(p::ClaimNextRequest {
            desk: "police-west".into(),
            dispatcher: "pw-1".into(),
            lease_seconds: 1,
            whole_incident: false,
            wait_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    t.app.sweep().await.unwrap();
    assert_eq!(t.queue("police-west").await.depth, 0, "not yet expired");
    // Redis's clock decides expiry; wait past it without sleeping blindly in a loop forever.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while t.queue("police-west").await.depth == 0 {
        assert!(std::time::Instant::now() < deadline, "lease never expired");
        t.app.sweep().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let again = t.claim("police-west", "pw-2").await.lease.unwrap();
    assert_eq!(again.reference, lease.reference);
}

#[tokio::test]
async fn an_unknown_desk_is_not_found_and_a_missing_dispatcher_is_invalid() {
    let mut t = TestApp::spawn().await;
    let err = t
        .dispatch
        .claim_next(p::ClaimNextRequest {
            desk: "police-mars".into(),
            dispatcher: "x".into(),
            lease_seconds: 0,
            whole_incident: false,
            wait_seconds: 0,
        })
        .await
        .expect_err("unknown desk");
    assert_eq!(err.code(), Code::NotFound);
    let err = t
        .dispatch
        .claim_next(p::ClaimNextRequest {
            desk: "police-west".into(),
            dispatcher: "".into(),
            lease_seconds: 0,
            whole_incident: false,
            wait_seconds: 0,
        })
        .await
        .expect_err("no dispatcher");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn complete_and_claim_next_finishes_one_and_leases_the_next_in_one_step() {
    let mut t = TestApp::spawn().await;
    for (id, text) in [
        ("q-1", "my car has been broken into overnight"),
        (
            "q-2",
            "my car was broken into overnight, the window is smashed",
        ),
    ] {
        t.submit(call(id, text)).await.unwrap();
    }
    let first = t.claim("police-west", "pw-1").await.lease.unwrap();
    let step = |token: u64, reference: &str| p::CompleteAndClaimNextRequest {
        reference: reference.into(),
        desk: "police-west".into(),
        token,
        outcome: "advice given".into(),
        dispatcher: "pw-1".into(),
        lease_seconds: 0,
        whole_incident: false,
    };
    // A stale token completes nothing and claims nothing.
    let stale = t
        .dispatch
        .complete_and_claim_next(step(first.token + 1000, &first.reference))
        .await
        .expect_err("stale token");
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert_eq!(t.queue("police-west").await.depth, 1);

    let next = t
        .dispatch
        .complete_and_claim_next(step(first.token, &first.reference))
        .await
        .unwrap()
        .into_inner();
    let second = next.lease.expect("the next incident is leased");
    assert_ne!(second.reference, first.reference);
    assert_eq!(second.dispatcher, "pw-1");
    assert_eq!(
        next.incident.unwrap().state,
        p::IncidentState::Claimed as i32
    );
    let done = t
        .intake
        .get_incident(p::GetIncidentRequest {
            reference: first.reference.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(done.state, p::IncidentState::Completed as i32);
    assert_eq!(done.tasks[0].outcome, "advice given");

    // The last one: completed, and nothing left to lease.
    let last = t
        .dispatch
        .complete_and_claim_next(step(second.token, &second.reference))
        .await
        .unwrap()
        .into_inner();
    assert!(last.lease.is_none() && last.incident.is_none());
    assert_eq!(t.queue("police-west").await.depth, 0);
}

#[tokio::test]
async fn a_claim_returns_what_the_desk_needs_unless_the_whole_incident_is_asked_for() {
    let mut t = TestApp::spawn().await;
    // A JOINT incident: a task on a police desk and on fire control.
    let made = t
        .submit(call(
            "light-1",
            "car crashed into a tree on the A12 and it's on fire, the driver can't get out",
        ))
        .await
        .unwrap();
    let reference = reference(&made);
    let whole = t.incident(&reference).await;
    assert!(whole.tasks.len() >= 2, "{:?}", whole.tasks);
    t.dispatch
        .regrade(p::RegradeRequest {
            reference: reference.clone(),
            grade: p::Grade::Grade2Priority as i32,
            reason: "caller says everyone is out".into(),
            by: "sup-1".into(),
        })
        .await
        .unwrap();

    let claimed = t.claim("fire-control", "fc-1").await;
    let lease = claimed.lease.expect("a lease");
    let light = claimed.incident.expect("an incident");
    let triage = light.triage.expect("triage");
    let whole_triage = whole.triage.clone().expect("triage");
    // What the desk needs to act: who, how urgent (the grade in force), what, where, who called.
    assert_eq!(light.reference, reference);
    assert_eq!(
        triage.grade,
        p::Grade::Grade2Priority as i32,
        "the regrade holds"
    );
    assert_eq!(triage.agency, whole_triage.agency);
    assert_eq!(triage.incident_type, whole_triage.incident_type);
    assert_eq!(triage.incident_type_name, whole_triage.incident_type_name);
    assert_eq!(light.location, whole.location);
    assert_eq!(light.caller, whole.caller);
    assert_eq!(light.channel, whole.channel);
    assert_eq!(light.created_at_ms, whole.created_at_ms);
    // Its own task, as just leased, and nothing else.
    assert_eq!(light.tasks.len(), 1);
    let task = &light.tasks[0];
    assert_eq!(task.desk, "fire-control");
    assert_eq!(task.state, p::IncidentState::Claimed as i32);
    assert_eq!(task.dispatcher, "fc-1");
    assert_eq!(task.lease_expires_at_ms, lease.expires_at_ms);
    assert!(triage.reasons.is_empty() && light.contact_ids.is_empty());
    assert!(
        light
            .route
            .is_none_or(|r| r.desks.is_empty() && r.reasons.is_empty())
    );

    // Asked for, the whole incident: reasons, route, contacts, every desk's task.
    let next = t
        .dispatch
        .complete_and_claim_next(p::CompleteAndClaimNextRequest {
            reference: reference.clone(),
            desk: "fire-control".into(),
            token: lease.token,
            outcome: "2 pumps".into(),
            dispatcher: "fc-1".into(),
            lease_seconds: 0,
            whole_incident: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(next.lease.is_none(), "nothing else was queued");
    t.submit(call("light-2", "my kitchen is on fire"))
        .await
        .unwrap();
    let r = t
        .dispatch
        .claim_next(p::ClaimNextRequest {
            desk: "fire-control".into(),
            dispatcher: "fc-1".into(),
            lease_seconds: 0,
            whole_incident: true,
            wait_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let full = r.incident.expect("an incident");
    assert!(!full.triage.expect("triage").reasons.is_empty());
    assert!(full.route.is_some_and(|r| !r.desks.is_empty()));
    assert_eq!(full.contact_ids, vec!["light-2".to_string()]);
}

fn waiting_claim(desk: &str, who: &str, wait_seconds: u32) -> p::ClaimNextRequest {
    p::ClaimNextRequest {
        desk: desk.into(),
        dispatcher: who.into(),
        lease_seconds: 0,
        whole_incident: false,
        wait_seconds,
    }
}

/// Waits until `n` claims are waiting on the server.
async fn until_waiting(t: &TestApp, n: usize) {
    for _ in 0..200 {
        if t.app.limits().waiting_now() == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{n} claims never waited");
}

#[tokio::test]
async fn a_waiting_claim_is_woken_by_the_work_that_arrives_while_it_waits() {
    // Retrying only every 40 s: a claim answered before that was woken by the desk's events.
    let mut t = TestApp::spawn_configured(Default::default(), Default::default(), |app| {
        app.with_claim_retry(std::time::Duration::from_secs(40))
    })
    .await;
    let waiting = |who: &'static str| {
        let mut d = t.dispatch.clone();
        tokio::spawn(async move {
            d.claim_next(waiting_claim("fire-control", who, 50))
                .await
                .map(|r| r.into_inner())
        })
    };
    let (first, second) = (waiting("fc-1"), waiting("fc-2"));
    until_waiting(&t, 2).await;

    let a = t
        .submit(call("wait-1", "my kitchen is on fire"))
        .await
        .unwrap();
    let b = t
        .submit(call("wait-2", "the shed next door is on fire"))
        .await
        .unwrap();
    let mut got: Vec<String> = Vec::new();
    for claim in [first, second] {
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), claim)
            .await
            .expect("woken by the new work, not by the 40 s retry")
            .unwrap()
            .expect("a waiting claim answers");
        let lease = r.lease.expect("each waiting claim is given one incident");
        assert_eq!(r.incident.unwrap().reference, lease.reference);
        got.push(lease.reference);
    }
    got.sort();
    let mut want = vec![reference(&a), reference(&b)];
    want.sort();
    assert_eq!(got, want, "each incident leased once, to one of them");
    assert_eq!(t.queue("fire-control").await.depth, 0);
    assert_eq!(t.app.limits().waiting_now(), 0);
}

#[tokio::test]
async fn a_waiting_claim_answers_empty_when_its_wait_ends_and_a_wait_over_a_minute_is_refused() {
    let mut t = TestApp::spawn().await;
    let r = t
        .dispatch
        .claim_next(waiting_claim("police-north", "pn-1", 1))
        .await
        .unwrap()
        .into_inner();
    assert!(r.lease.is_none() && r.incident.is_none());

    let e = t
        .dispatch
        .claim_next(waiting_claim("police-north", "pn-1", 61))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("wait_seconds"), "{}", e.message());
    let e = t
        .dispatch
        .claim_next(waiting_claim("no-such-desk", "pn-1", 5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn shutting_down_ends_a_waiting_claim_empty_instead_of_cutting_it_off() {
    let mut t = TestApp::spawn().await;
    let mut d = t.dispatch.clone();
    let claim = tokio::spawn(async move {
        d.claim_next(waiting_claim("police-north", "pn-1", 60))
            .await
    });
    until_waiting(&t, 1).await;
    // The harness drains for 1 s: a claim still waiting then would be cut off with an error.
    t.begin_shutdown();
    let r = claim
        .await
        .unwrap()
        .expect("the claim is answered, not cut off")
        .into_inner();
    assert!(r.lease.is_none());
}

#[tokio::test]
async fn many_claims_waiting_on_one_desk_share_its_work_one_incident_each() {
    let mut t = TestApp::spawn().await;
    let claims: Vec<_> = (0..6)
        .map(|i| {
            let mut d = t.dispatch.clone();
            tokio::spawn(async move {
                d.claim_next(waiting_claim("fire-control", &format!("fc-{i}"), 30))
                    .await
                    .map(|r| r.into_inner().lease)
            })
        })
        .collect();
    until_waiting(&t, 6).await;
    let mut want = Vec::new();
    for i in 0..6 {
        let r = t
            .submit(call(&format!("many-{i}"), "my kitchen is on fire"))
            .await
            .unwrap();
        want.push(reference(&r));
    }
    let mut got = Vec::new();
    for claim in claims {
        let lease = claim.await.unwrap().expect("answered").expect("a lease");
        got.push(lease.reference);
    }
    got.sort();
    want.sort();
    assert_eq!(got, want, "six waiting claims, six incidents, one each");
}
