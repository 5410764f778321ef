//! The `bluelight` binary: offline triage, file checks, what `serve` says when Redis is missing,
//! and the load generator.

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
    let port = crate::harness::free_port();
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
    let channel = crate::harness::connect(port).await;
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

#[tokio::test]
async fn sighup_reloads_the_rules_and_a_bad_file_keeps_the_old_ones() {
    use bluelight::proto as p;
    let t = crate::harness::TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, bluelight::triage::DEFAULT_RULES).unwrap();
    let port = crate::harness::free_port();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = bluelight()
        .args([
            "serve",
            "--redis-url",
            &t.redis.url(),
            "--metrics-listen",
            &metrics.to_string(),
        ])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--rules"])
        .arg(&rules)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let channel = crate::harness::connect(port).await;
    let mut intake = p::intake_client::IntakeClient::new(channel);
    let preview = |narrative: &str| p::PreviewTriageRequest {
        contact: Some(crate::harness::call("", narrative)),
    };
    let grade = |r: p::PreviewTriageResponse| r.triage.unwrap().grade;
    let before = grade(
        intake
            .preview_triage(preview("my bike was stolen"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(before, 3);

    // A rules file in which theft is an emergency, then SIGHUP.
    let changed = bluelight::triage::DEFAULT_RULES.replacen(
        "code = \"P08\"\nname = \"Theft\"\nagency = \"POLICE\"\ngrade = 3",
        "code = \"P08\"\nname = \"Theft\"\nagency = \"POLICE\"\ngrade = 1",
        1,
    );
    assert_ne!(
        changed,
        bluelight::triage::DEFAULT_RULES,
        "the test edits the rules"
    );
    std::fs::write(&rules, changed).unwrap();
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    hup(child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while grade(
        intake
            .preview_triage(preview("my bike was stolen"))
            .await
            .unwrap()
            .into_inner(),
    ) != 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload the rules"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A broken file: SIGHUP is refused and the rules in force stay.
    std::fs::write(&rules, "this is not a rules file").unwrap();
    hup(child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::harness::http_get(metrics, "/metrics")
        .await
        .contains("bluelight_config_reloads_total{result=\"rejected\"} 1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the bad reload was never counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = grade(
        intake
            .preview_triage(preview("my bike was stolen"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(after, 1, "the last good rules stay in force");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `bluelight serve` with its own managed Redis in `dir`, JSON logs to `log`; returns the
/// child and its gRPC port.
fn serve_managed(
    dir: &std::path::Path,
    log: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, u16) {
    let port = crate::harness::free_port();
    let child = bluelight()
        .args([
            "serve",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    (child, port)
}

/// Waits for the child to exit; a hang guard, not a timing assertion.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_managed_redis_is_restarted_when_it_dies_and_keeps_every_contact() {
    use bluelight::proto as p;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let (mut child, port) = serve_managed(&dir.path().join("redis"), &log, &[]);
    let channel = crate::harness::connect(port).await;
    let mut intake = p::intake_client::IntakeClient::new(channel);
    let submit = |id: &str| p::SubmitContactRequest {
        contact: Some(crate::harness::call(id, "my kitchen is on fire")),
    };
    let first = intake
        .submit_contact(submit("managed-1"))
        .await
        .unwrap()
        .into_inner();
    let reference = first.incident.unwrap().reference;

    // Find the managed server's port in the start-up log and kill it as a crash would.
    let text = std::fs::read_to_string(&log).unwrap();
    let redis_port = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "started managed redis-server")
        .and_then(|l| l["fields"]["port"].as_u64())
        .expect("the start-up log names the managed redis's port")
        .to_string();
    // It asks for a password, which no log line carries.
    let config = std::fs::read_to_string(
        dir.path()
            .join("redis")
            .join(bluelight::store::MANAGED_CONFIG_FILE),
    )
    .unwrap();
    let password = config
        .lines()
        .find_map(|l| l.strip_prefix("requirepass "))
        .expect("a password in the managed redis's configuration");
    assert!(!text.contains(password), "the password is in the log");
    assert_ne!(redis_port, "6379");
    let killed = std::process::Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("redis-server 127.0.0.1:{redis_port}"),
        ])
        .status()
        .unwrap();
    assert!(killed.success(), "the managed redis-server was running");

    // The supervisor restarts it on the same port and data: the incident is still there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let got = loop {
        match intake
            .get_incident(p::GetIncidentRequest {
                reference: reference.clone(),
            })
            .await
        {
            Ok(r) => break r.into_inner().incident.unwrap(),
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis was not restarted"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(got.reference, reference);
    intake
        .submit_contact(submit("managed-2"))
        .await
        .expect("submits work again");

    // SIGTERM stops the service and its redis-server.
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(wait_exit(&mut child).success());
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("redis-server 127.0.0.1:{redis_port}")])
        .status()
        .unwrap();
    assert!(
        !left.success(),
        "the managed redis-server was stopped with the service"
    );
    assert!(
        dir.path().join("redis/appendonlydir").exists(),
        "AOF data is kept"
    );
}

#[tokio::test]
async fn sigterm_drains_for_a_bounded_time_even_with_a_desk_being_watched() {
    use bluelight::proto as p;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bluelight.toml");
    std::fs::write(&config, "drain_seconds = 1\n").unwrap();
    let log = dir.path().join("serve.log");
    let (mut child, port) = serve_managed(
        &dir.path().join("redis"),
        &log,
        &["--config", config.to_str().unwrap()],
    );
    let channel = crate::harness::connect(port).await;
    let mut dispatch = p::dispatch_client::DispatchClient::new(channel);
    let mut stream = dispatch
        .watch_desk(p::WatchDeskRequest {
            desk: "fire-control".into(),
            after_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(
        wait_exit(&mut child).success(),
        "a clean exit after the drain"
    );
    // The open stream was closed by the shutdown rather than holding it up.
    assert!(!matches!(stream.message().await, Ok(Some(_))));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("shutting down: not serving, draining"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reports_throughput_and_what_each_operation_cost_redis_and_the_server() {
    let t = crate::harness::TestApp::spawn().await;
    let server = format!("http://{}", t.addr);
    let pid = std::process::id().to_string();
    let run = |args: &[&str]| {
        let out = bluelight()
            .args(["load", "--server", &server, "--json", "--duration", "1"])
            .args(["--concurrency", "4", "--redis-url", &t.redis.url()])
            // The server runs inside this test process.
            .args(["--server-pid", &pid])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let submit = run(&[]);
    assert!(submit["ok"].as_u64().unwrap() > 0, "{submit}");
    assert_eq!(submit["mode"], "contacts");
    let dispatch = run(&["--mode", "dispatch", "--prefill", "200"]);
    assert!(dispatch["ok"].as_u64().unwrap() > 0, "{dispatch}");
    assert_eq!(dispatch["mode"], "claim+complete");
    for r in [&submit, &dispatch] {
        // A submit or a dispatch step is a script and a few commands at least.
        assert!(r["redis_commands_per_op"].as_f64().unwrap() >= 1.0, "{r}");
        assert!(r["redis_cpu_us_per_op"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["server_cpu_us_per_op"].as_f64().unwrap() > 0.0, "{r}");
    }
}
