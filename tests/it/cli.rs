//! The `bluelight` binary: offline triage, file checks, and what `serve` says when Redis is missing.

use std::io::Write;
use std::process::{Command, Stdio};

fn bluelight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bluelight"))
}

#[test]
fn triage_answers_each_line_in_order_and_names_the_bad_ones() {
    let mut child = bluelight()
        .arg("triage")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = concat!(
        r#"{"id":"a","channel":"PHONE_999","narrative":"my kitchen is on fire and my kids are upstairs","gold":{"agency":"FIRE"}}"#,
        "\n",
        r#"{"id":"b","answers":{"weapons":"SPOON"}}"#,
        "\n",
        r#"{"id":7,"channel":"ONLINE_FORM","category":"lost_found_property","narrative":"lost my wallet in town"}"#,
        "\n",
        "not json\n",
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "a failed line makes the exit status non-zero"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["agency"], "FIRE");
    assert_eq!(lines[0]["grade"], 1);
    assert_eq!(lines[0]["incident_type"], "F02");
    assert!(!lines[0]["reasons"].as_array().unwrap().is_empty());
    assert_eq!(lines[1]["id"], "b");
    assert!(lines[1]["error"].as_str().unwrap().contains("SPOON"));
    assert_eq!(lines[2]["id"], 7);
    assert_eq!(lines[2]["grade"], 4);
    assert!(lines[3]["error"].is_string());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 2") && stderr.contains("line 4"),
        "{stderr}"
    );
}

#[test]
fn rules_check_reports_the_file_line_and_rule_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("rules.toml");
    std::fs::write(
        &bad,
        "[[type]]\ncode = \"F01\"\nname = \"Dwelling fire\"\nagency = \"FIRE\"\ngrade = 1\nwhen.all = [\"fire.flame\"]\n",
    )
    .unwrap();
    let out = bluelight()
        .args(["rules", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rules.toml:1: type F01"), "{err}");
    assert!(err.contains("unknown fact \"fire.flame\""), "{err}");
    assert!(err.contains("last type must have no conditions"), "{err}");

    let ok = bluelight()
        .args(["rules", "check", "config/triage.toml"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn desks_check_refuses_an_overflow_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("desks.toml");
    let text = bluelight::routing::DEFAULT_DESKS.replace(
        "id = \"police-overflow\"\nname = \"Police overflow\"\nagency = \"POLICE\"\noverflow = \"supervisor\"",
        "id = \"police-overflow\"\nname = \"Police overflow\"\nagency = \"POLICE\"\noverflow = \"police-north\"",
    );
    std::fs::write(&file, text).unwrap();
    let out = bluelight()
        .args(["desks", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn serve_without_redis_server_installed_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = bluelight()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("redis-server is not installed")
            && err.contains("apt-get install redis-server"),
        "{err}"
    );
}

#[test]
fn a_bad_flag_value_says_what_to_fix() {
    let out = bluelight()
        .args(["submit", "--channel", "CARRIER_PIGEON"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("PHONE_999"), "{err}");
}

#[tokio::test]
async fn json_logs_carry_the_reference_and_never_the_caller() {
    use bluelight::proto as p;
    let t = crate::harness::TestApp::spawn().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = bluelight()
        .args([
            "serve",
            "--redis-url",
            &t.redis.url(),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let channel = loop {
        let ep =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(c) = ep.connect().await {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut intake = p::intake_client::IntakeClient::new(channel);
    let mut contact = crate::harness::call("privacy-1", "my kitchen is on fire");
    contact.caller = Some(p::Caller {
        name: "Margaret Thatchwell".into(),
        phone: "07700 900461".into(),
    });
    let r = intake
        .submit_contact(p::SubmitContactRequest {
            contact: Some(contact),
        })
        .await
        .unwrap()
        .into_inner();
    let reference = r.incident.unwrap().reference;
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let recorded = lines
        .iter()
        .find(|l| l["fields"]["message"] == "contact recorded")
        .expect("a log line for the contact");
    assert_eq!(recorded["fields"]["reference"], reference.as_str());
    assert_eq!(recorded["span"]["name"], "SubmitContact");
    for secret in [
        "Margaret",
        "Thatchwell",
        "07700 900461",
        "07700900461",
        "900461",
        "privacy-1",
    ] {
        assert!(!text.contains(secret), "{secret} appears in the logs");
    }
}
