//! Intake: submit, idempotent retries, fan-out, preview, and bad input.

use bluelight::proto as p;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{TestApp, call, desks, grade, reference};

#[tokio::test]
async fn a_submitted_contact_is_triaged_routed_queued_and_given_a_reference() {
    let mut t = TestApp::spawn().await;
    let r = t
        .submit(call(
            "c-1",
            "two men fighting outside the pub, one has a knife",
        ))
        .await
        .expect("submit");
    let i = r.incident.clone().unwrap();
    assert!(i.reference.starts_with("ESX-"), "{}", i.reference);
    assert!(
        r.public_message.contains("incident 1 of"),
        "{}",
        r.public_message
    );
    let triage = i.triage.unwrap();
    assert_eq!(triage.agency, p::Agency::Police as i32);
    assert_eq!(triage.grade, 1);
    assert!(!triage.reasons.is_empty());
    assert_eq!(desks(&r), vec!["police-west"]);
    assert_eq!(i.state, p::IncidentState::Queued as i32);
    assert_eq!(i.contact_ids, vec!["c-1"]);
    assert_eq!(t.queue("police-west").await.depth, 1);

    let got = t
        .intake
        .get_incident(p::GetIncidentRequest {
            reference: i.reference.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .incident
        .unwrap();
    assert_eq!(got.reference, i.reference);
    assert_eq!(got.caller.unwrap().phone, crate::harness::phone_for("c-1"));
}

#[tokio::test]
async fn a_retry_with_the_same_contact_id_returns_the_same_incident_and_writes_nothing() {
    let mut t = TestApp::spawn().await;
    let first = t
        .submit(call("retry-1", "my shed is on fire"))
        .await
        .unwrap();
    let keys = t.key_count().await;
    let again = t
        .submit(call("retry-1", "my shed is on fire"))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(reference(&first), reference(&again));
    assert_eq!(t.key_count().await, keys, "a replay writes no key");
    let fire = t.queue("fire-control").await;
    assert_eq!(fire.depth, 1, "queued once");
}

#[tokio::test]
async fn a_joint_incident_is_queued_for_both_a_police_and_a_fire_desk() {
    let mut t = TestApp::spawn().await;
    let r = t
        .submit(call(
            "joint-1",
            "someone has set fire to the car outside my house, they ran off",
        ))
        .await
        .unwrap();
    let triage = r.incident.as_ref().unwrap().triage.clone().unwrap();
    assert_eq!(triage.agency, p::Agency::Joint as i32);
    assert!(
        matches!(triage.lead_agency, x if x == p::Agency::Fire as i32 || x == p::Agency::Police as i32)
    );
    let d = desks(&r);
    assert!(d.contains(&"police-west".to_string()), "{d:?}");
    assert!(d.contains(&"fire-control".to_string()), "{d:?}");
    assert_eq!(t.queue("police-west").await.depth, 1);
    assert_eq!(t.queue("fire-control").await.depth, 1);
    assert_eq!(r.incident.unwrap().tasks.len(), d.len());
}

#[tokio::test]
async fn preview_triage_decides_what_submit_would_and_writes_nothing() {
    let mut t = TestApp::spawn().await;
    let mut contact = call("", "smoke cumin out of flat 3 cant get out");
    contact.contact_id.clear();
    let preview = t
        .intake
        .preview_triage(p::PreviewTriageRequest {
            contact: Some(contact.clone()),
        })
        .await
        .expect("preview")
        .into_inner();
    assert_eq!(t.key_count().await, 0, "a preview writes nothing");
    contact.contact_id = "after-preview".into();
    let submitted = t.submit(contact).await.unwrap();
    let i = submitted.incident.unwrap();
    assert_eq!(preview.triage, i.triage);
    assert_eq!(preview.route, i.route);
}

fn violations(s: &tonic::Status) -> Vec<String> {
    s.get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_refused_with_field_violations_and_changes_nothing() {
    let mut t = TestApp::spawn().await;
    let no_id = call("", "help");
    let mut nothing = call("empty-1", "");
    nothing.narrative.clear();
    let too_long = call("long-1", &"a".repeat(8 * 1024 + 1));
    let mut bad_enum = call("enum-1", "fire");
    bad_enum.answers = Some(p::Answers {
        fire: 99,
        ..Default::default()
    });
    let mut bad_lat = call("lat-1", "fire");
    bad_lat.location = Some(p::Location {
        lat: Some(91.0),
        lon: Some(0.4),
        ..Default::default()
    });
    let mut bad_channel = call("chan-1", "fire");
    bad_channel.channel = 42;
    let cases = [
        (no_id, "contact.contact_id"),
        (nothing, "contact.narrative"),
        (too_long, "contact.narrative"),
        (bad_enum, "contact.answers.fire"),
        (bad_lat, "contact.location.lat"),
        (bad_channel, "contact.channel"),
    ];
    for (contact, field) in cases {
        let err = t.submit(contact).await.expect_err("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            violations(&err).contains(&field.to_string()),
            "{field}: {:?}",
            violations(&err)
        );
    }
    let err = t
        .intake
        .submit_contact(p::SubmitContactRequest { contact: None })
        .await
        .expect_err("refused");
    assert_eq!(violations(&err), vec!["contact"]);
    // A request far past any contact's size is refused before it is read.
    let huge = call(
        "huge-1",
        &"a".repeat(bluelight::server::MAX_REQUEST_BYTES + 1),
    );
    let err = t.submit(huge).await.expect_err("refused");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert_eq!(t.key_count().await, 0, "bad input changes nothing");
}

#[tokio::test]
async fn several_problems_are_reported_together() {
    let mut t = TestApp::spawn().await;
    let mut c = call("", "");
    c.location = Some(p::Location {
        lat: Some(-200.0),
        lon: Some(0.0),
        ..Default::default()
    });
    let err = t.submit(c).await.expect_err("refused");
    let v = violations(&err);
    assert!(
        v.contains(&"contact.contact_id".into()) && v.contains(&"contact.narrative".into()),
        "{v:?}"
    );
    assert!(v.contains(&"contact.location.lat".into()), "{v:?}");
}

#[tokio::test]
async fn an_unknown_incident_is_not_found() {
    let mut t = TestApp::spawn().await;
    let err = t
        .intake
        .get_incident(p::GetIncidentRequest {
            reference: "ESX-20260101-999".into(),
        })
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Code::NotFound);
    let err = t
        .intake
        .get_incident(p::GetIncidentRequest {
            reference: "not a reference!".into(),
        })
        .await
        .expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn grade_four_referrals_go_to_the_resolution_desk() {
    let mut t = TestApp::spawn().await;
    let mut c = call(
        "fraud-1",
        "I think I've been scammed, I made a bank transfer to a fake website last week",
    );
    c.channel = p::Channel::OnlineForm as i32;
    let r = t.submit(c).await.unwrap();
    assert_eq!(grade(&r), 4);
    assert_eq!(desks(&r), vec!["resolution"]);
    assert!(
        r.public_message.contains("Action Fraud"),
        "{}",
        r.public_message
    );
}

#[tokio::test]
async fn a_preview_that_needs_confirmation_names_the_question_to_ask_and_submit_records_the_doubt()
{
    let mut t = TestApp::spawn().await;
    let contact = call("doubt-1", "help please come quick");
    let preview = t
        .intake
        .preview_triage(p::PreviewTriageRequest {
            contact: Some(contact.clone()),
        })
        .await
        .expect("preview")
        .into_inner()
        .triage
        .unwrap();
    assert!(preview.needs_confirmation, "{preview:?}");
    let q = preview.next_question.expect("a question to ask");
    assert!(!q.field.is_empty() && q.text.ends_with('?'), "{q:?}");
    // Submit records that the decision needs confirming; the question is the preview's.
    let submitted = t.submit(contact).await.unwrap();
    let triage = submitted.incident.unwrap().triage.unwrap();
    assert!(triage.needs_confirmation);
    assert_eq!(triage.grade, preview.grade);
}
