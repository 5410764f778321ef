//! The pages in a real browser: Debian's Chromium, driven over WebDriver (chromedriver, on a free
//! port), against the real server and a private redis-server. `scripts/ensure-browser` installs
//! both. With `BLUELIGHT_SCREENSHOTS=DIR` the tests also save a screenshot of each page there
//! (how `docs/report.png` and `docs/console.png` were made).

use std::process::Stdio;
use std::time::{Duration, Instant};

use bluelight::proto as p;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::harness::{TestApp, call, free_port, reference};

/// One browser at a time: each is a few hundred MB and a core's worth of start-up.
static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// A headless Chromium session and the chromedriver behind it, both gone when dropped.
struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

/// The first of these programs on the PATH.
fn on_path(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Browser {
    async fn start() -> Browser {
        Self::start_as(None).await
    }

    /// With `phone`, a screen of that many CSS pixels wide (device emulation).
    async fn start_as(phone: Option<u32>) -> Browser {
        let turn = ONE_AT_A_TIME.acquire().await.expect("semaphore");
        let port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (scripts/ensure-browser installs it)");
        let profile = tempfile::tempdir().expect("profile dir");
        let binary = on_path(&["chromium", "chromium-browser"])
            .expect("chromium is installed (scripts/ensure-browser installs it)");
        let mut caps = json!({
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        if let Some(width) = phone {
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": 640, "pixelRatio": 2 }
            });
        }
        let caps = caps.as_object().expect("an object").clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        }
    }

    async fn open(&self, app: &TestApp, path: &str) {
        self.client
            .goto(&format!("http://{}{path}", app.addr))
            .await
            .expect("page loads");
    }

    async fn type_in(&self, id: &str, text: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing in #{id}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn select(&self, id: &str, value: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("#{id} = {value}: {e}"));
    }

    /// The visible text of the element `css`, or empty when it is missing.
    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.attr(name).await.ok().flatten()
    }

    /// Waits (at most 10 s) until the text of `css` satisfies `ok`, and returns it.
    async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.text(css).await;
            if ok(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed what was expected; it shows {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most 10 s) until an element matches `css`; `what` says what never happened.
    async fn wait_for(&self, css: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.client.find(Locator::Css(css)).await.is_err() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("BLUELIGHT_SCREENSHOTS") {
            self.client
                .execute(
                    "window.scrollTo(0, 0); document.activeElement.blur();",
                    vec![],
                )
                .await
                .expect("scroll to the top");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(std::path::Path::new(&dir).join(name), png).expect("write screenshot");
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test]
async fn the_report_form_sends_one_incident_and_shows_its_reference() {
    let mut app = TestApp::spawn().await;
    let b = Browser::start().await;
    b.open(&app, "/report").await;
    b.type_in(
        "what",
        "Someone broke into my garden shed overnight and took two bikes. I noticed this morning.",
    )
    .await;
    b.type_in("postcode", "CM1 1AA").await;
    b.select("category", "ONLINE_CATEGORY_CRIME").await;
    b.select("when", "HAPPENING_PAST").await;
    // In danger now: the page says to call 999 at once.
    b.click("#danger-yes").await;
    let banner = b.wait_text("#call-999", |t| t.contains("999")).await;
    assert!(banner.contains("Call 999"), "{banner}");
    b.click("#danger-no").await;
    b.wait_text("#call-999", str::is_empty).await;
    b.type_in("name", "Sam Jones").await;
    b.type_in("phone", "07700 900123").await;
    b.screenshot("report.png").await;
    // The first answer is lost on the way back (the report is written, the page hears a network
    // error), and the button is clicked twice at once.
    b.client
        .execute(
            "const real = window.fetch; let first = true;
             window.fetch = async (...a) => {
               const r = await real(...a);
               if (first) { first = false; throw new TypeError('the network went away'); }
               return r;
             };
             const send = document.getElementById('send'); send.click(); send.click();",
            vec![],
        )
        .await
        .expect("script");
    let said = b
        .wait_text("#error-summary", |t| t.contains("Send report"))
        .await;
    assert!(said.contains("may not"), "{said}");
    // Sent again: the same contact id, so the same incident, not a second one.
    b.click("#send").await;
    let shown = b.wait_text("#reference", |t| !t.is_empty()).await;
    assert!(
        b.text("#public-message").await.len() > 10,
        "the public is told what happens next"
    );
    let i = app.incident(&shown).await;
    assert_eq!(i.reference, shown);
    assert_eq!(
        i.contact_ids.len(),
        1,
        "the retry was the same contact, not a second one linked to it"
    );
    assert_eq!(i.channel, p::Channel::OnlineForm as i32);
    let t = i.triage.expect("triage");
    assert_eq!(t.agency, p::Agency::Police as i32, "{:?}", t.reasons);
    assert_eq!(
        app.queue("police-west").await.depth
            + app.queue("police-north").await.depth
            + app.queue("police-south").await.depth,
        1,
        "queued once"
    );
    b.screenshot("report-sent.png").await;

    b.close().await;
}

#[tokio::test]
async fn both_pages_read_at_320_css_pixels_without_scrolling_sideways() {
    // WCAG 2.2 reflow: 320 CSS pixels wide, as a 1280-pixel screen at 400% zoom.
    let app = TestApp::spawn().await;
    let b = Browser::start_as(Some(320)).await;
    for page in ["/report", "/console"] {
        b.open(&app, page).await;
        let widths = b
            .client
            .execute(
                "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]",
                vec![],
            )
            .await
            .expect("script");
        let (inner, scroll) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        let wide = b
            .client
            .execute(
                "return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > 321)
                   .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(inner, 320, "{page}: wider than the screen: {wide}");
        assert_eq!(inner, 320, "{page}: the screen is 320 CSS pixels wide");
        assert!(
            scroll <= inner,
            "{page}: {scroll} px of content on a {inner} px screen"
        );
    }
    b.close().await;
}

#[tokio::test]
async fn a_bad_postcode_is_named_in_the_error_summary_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let b = Browser::start().await;
    let keys = app.key_count().await;
    b.open(&app, "/report").await;
    b.type_in("what", "Cars keep racing up and down our road at night.")
        .await;
    // Keyboard only: Enter in a field sends the form.
    b.type_in("postcode", "NOT A POSTCODE\u{E007}").await;
    let summary = b
        .wait_text("#error-summary", |t| t.contains("Postcode"))
        .await;
    assert!(summary.contains("There is a problem"), "{summary}");
    let focused = b
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .expect("script");
    assert_eq!(
        focused,
        json!("error-summary"),
        "focus moves to the summary"
    );
    assert!(summary.contains("not a UK postcode"), "{summary}");
    assert_eq!(
        b.attr("#error-summary a", "href").await.as_deref(),
        Some("#postcode")
    );
    assert_eq!(
        b.attr("#postcode", "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert!(b.text("#reference").await.is_empty());
    assert_eq!(app.key_count().await, keys, "nothing written");
    b.close().await;
}

/// The service's preview of a contact's triage.
async fn preview(app: &mut TestApp, contact: p::Contact) -> p::Triage {
    app.intake
        .preview_triage(p::PreviewTriageRequest {
            contact: Some(contact),
        })
        .await
        .expect("preview")
        .into_inner()
        .triage
        .expect("triage")
}

/// A narrative whose decision needs confirming, and the question the preview asks.
async fn uncertain(app: &mut TestApp) -> (String, p::Question) {
    for narrative in [
        "there's smoke",
        "I can smell burning",
        "something has happened next door, please come",
        "a car has gone into the ditch on the lane",
        "my neighbour's house, I can hear shouting",
        "there's a man outside with something in his hand",
        "my brother hasn't come home and he said some worrying things",
    ] {
        let t = preview(app, call("q", narrative)).await;
        let Some(q) = t.next_question.filter(|_| t.needs_confirmation) else {
            continue;
        };
        // The console's first answer to the question must change what the handler sees, or
        // the test could not tell a re-triage from none.
        let mut answered = call("q", narrative);
        answered.answers = Some(first_value_of(&q.field));
        let a = preview(app, answered).await;
        if a.reasons != t.reasons {
            return (narrative.into(), q);
        }
    }
    panic!(
        "no narrative needs confirming with a question whose first answer changes the decision: pick another"
    );
}

/// Answers with `field` set to its first value after "unknown" (the first button the console
/// shows for it).
fn first_value_of(field: &str) -> p::Answers {
    let mut a = p::Answers::default();
    match field {
        "happening" => a.happening = 1,
        "injuries" => a.injuries = 1,
        "fire" => a.fire = 1,
        "trapped" => a.trapped = 1,
        "weapons" => a.weapons = 1,
        "suspect" => a.suspect = 1,
        "deliberate" => a.deliberate = 1,
        "self_harm" => a.self_harm = 1,
        "access" => a.access = 1,
        "road" => a.road = 1,
        "building" => a.building = 1,
        "alarm" => a.alarm = 1,
        other => panic!("no first value known for {other}: add it here"),
    }
    a
}

#[tokio::test]
async fn the_console_decides_as_the_handler_types_and_asks_the_next_question() {
    let mut app = TestApp::spawn().await;
    let (narrative, question) = uncertain(&mut app).await;
    let b = Browser::start().await;
    b.open(&app, "/console").await;
    b.type_in("postcode", "CM1 1AA").await;
    b.type_in(
        "narrative",
        "my bike was stolen from outside the station last week",
    )
    .await;
    let agency = b.wait_text("#agency", |t| !t.is_empty()).await;
    assert!(agency.contains("POLICE"), "{agency}");

    // The handler clears the account and types another: the decision follows, and asks.
    b.client
        .find(Locator::Id("narrative"))
        .await
        .expect("narrative")
        .clear()
        .await
        .expect("clear");
    b.type_in("narrative", &narrative).await;
    let asked = b.wait_text("#next-question", |t| t == question.text).await;
    assert_eq!(asked, question.text);
    b.screenshot("console.png").await;
    let before = b.text("#reasons").await;

    // Answering with a button re-triages at once, with the answer set.
    let button = format!(
        "#next-question-answers button[data-field=\"{}\"]",
        question.field
    );
    b.click(&button).await;
    let pressed = format!(
        "#answers button[data-field=\"{}\"][aria-pressed=\"true\"]",
        question.field
    );
    b.wait_for(&pressed, "the answer was not recorded").await;
    b.wait_text("#reasons", |t| t != before).await;
    // What the console shows is the service's decision with that answer (its first value).
    let mut answered = call("q", &narrative);
    answered.answers = Some(first_value_of(&question.field));
    let want = preview(&mut app, answered).await;
    let shown = b
        .wait_text("#type", |t| t.starts_with(&want.incident_type))
        .await;
    assert!(shown.contains(&want.incident_type_name), "{shown}");
    let grade = b.attr("#grade", "data-grade").await;
    assert_eq!(grade, Some(want.grade.to_string()));

    // Submit: the reference and what to tell the caller.
    b.click("#submit").await;
    let shown = b.wait_text("#submitted-reference", |t| !t.is_empty()).await;
    assert!(!b.text("#tell-caller").await.is_empty());
    let i = app.incident(&shown).await;
    assert_eq!(i.channel, p::Channel::Phone999 as i32);
    b.close().await;
}

#[tokio::test]
async fn the_desk_view_shows_a_contact_submitted_elsewhere_and_works_it() {
    let mut app = TestApp::spawn().await;
    let b = Browser::start().await;
    b.open(&app, "/console").await;
    b.select("desk", "police-west").await;
    b.click("#watch").await;
    b.wait_text("#queue-caption", |t| t.contains("police-west"))
        .await;

    // Submitted by someone else, over gRPC: it appears without a reload.
    let r = app
        .submit(call(
            "desk-1",
            "a man is shouting and kicking car doors in the street outside",
        ))
        .await
        .expect("submit");
    let reference = reference(&r);
    let row = format!("#queue tr[data-reference=\"{reference}\"]");
    b.wait_for(&row, &format!("{reference} never appeared on the desk"))
        .await;
    b.screenshot("desk.png").await;

    b.click("#claim-next").await;
    let held = b.wait_text("#held-reference", |t| !t.is_empty()).await;
    assert_eq!(held, reference);
    b.type_in("outcome", "two officers sent").await;
    b.click("#complete").await;
    b.wait_text("#desk-status", |t| t.contains("Completed"))
        .await;
    let i = app.incident(&reference).await;
    let task = i
        .tasks
        .iter()
        .find(|t| t.desk == "police-west")
        .expect("the desk's task");
    assert_eq!(task.state, p::IncidentState::Completed as i32);
    assert_eq!(task.outcome, "two officers sent");

    // Another, claimed and given back: it is queued again.
    let r = app
        .submit(call(
            "desk-2",
            "someone has smashed the bus shelter glass on the high street",
        ))
        .await
        .expect("submit");
    let second = super::harness::reference(&r);
    let row = format!("#queue tr[data-reference=\"{second}\"]");
    b.wait_for(&row, &format!("{second} never appeared")).await;
    b.click("#claim-next").await;
    b.wait_text("#held-reference", |t| t == second).await;
    b.click("#release").await;
    b.wait_text("#desk-status", |t| t.contains("Released"))
        .await;
    assert_eq!(app.queue("police-west").await.depth, 1, "back in the queue");
    b.close().await;
}

/// A gRPC-Web request body: one uncompressed, length-prefixed message.
fn grpc_web_frame(message: &impl prost::Message) -> bytes::Bytes {
    let m = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(m.len() as u32).to_be_bytes());
    framed.extend_from_slice(&m);
    framed.into()
}

/// One HTTP/1.1 exchange (what a browser does without TLS): status, headers, body.
async fn http1(
    port: u16,
    req: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> (http::StatusCode, http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://127.0.0.1:{port}{}", parts.uri)
        .parse()
        .expect("uri");
    let answer = client
        .request(http::Request::from_parts(parts, body))
        .await
        .expect("an answer");
    let (parts, body) = answer.into_parts();
    let all = body.collect().await.expect("body");
    let mut headers = parts.headers;
    if let Some(trailers) = all.trailers() {
        headers.extend(trailers.clone());
    }
    (parts.status, headers, all.to_bytes().to_vec())
}

#[tokio::test]
async fn the_binary_serves_the_pages_grpc_web_and_cors_for_the_named_origins_only() {
    use prost::Message;
    let app = TestApp::spawn().await;
    let port = free_port();
    let _served = super::harness::Procs(vec![
        std::process::Command::new(env!("CARGO_BIN_EXE_bluelight"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--redis-url", &app.redis.url()])
            .args(["--web-origins", "https://report.example.org"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("bluelight serve"),
    ]);
    super::harness::connect(port).await;

    let get = |path: &str| {
        http::Request::get(path)
            .body(http_body_util::Full::default())
            .unwrap()
    };
    let (status, headers, body) = http1(port, get("/report")).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(headers.contains_key("content-security-policy"));
    assert!(String::from_utf8_lossy(&body).contains("Send report"));
    for path in [
        "/console",
        "/web/style.css",
        "/web/report.js",
        "/web/console.js",
    ] {
        assert_eq!(http1(port, get(path)).await.0, 200, "{path}");
    }

    // A preflight from the portal's origin is allowed; from any other, it is not.
    let preflight = |origin: &str| {
        http::Request::options("/bluelight.v1.Intake/PreviewTriage")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-grpc-web,authorization",
            )
            .body(http_body_util::Full::default())
            .unwrap()
    };
    let (_, headers, _) = http1(port, preflight("https://report.example.org")).await;
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://report.example.org")
    );
    let (_, headers, _) = http1(port, preflight("https://elsewhere.example.com")).await;
    assert!(!headers.contains_key("access-control-allow-origin"));

    // gRPC-Web over HTTP/1.1: a length-prefixed message in, the answer and trailers out.
    let framed = grpc_web_frame(&p::PreviewTriageRequest {
        contact: Some(call("web-1", "my kitchen is on fire and I can't get out")),
    });
    let post = |origin: &str, host: &str| {
        http::Request::post("/bluelight.v1.Intake/PreviewTriage")
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", origin)
            .header("host", host)
            .body(http_body_util::Full::new(framed.clone()))
            .unwrap()
    };
    // A page whose name a resolver points at this open service (DNS rebinding) is refused.
    let evil = format!("evil.example:{port}");
    let (status, _, _) = http1(port, post(&format!("http://{evil}"), &evil)).await;
    assert_eq!(status, 403);
    // Its own page on loopback, and the named portal's page, are served.
    let own = format!("127.0.0.1:{port}");
    assert_eq!(
        http1(port, post(&format!("http://{own}"), &own)).await.0,
        200
    );
    let post = post("https://report.example.org", &own);
    let (status, headers, body) = http1(port, post).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc-web+proto");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://report.example.org"
    );
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("grpc-status"), "{exposed}");
    assert_eq!(body[0], 0, "a data frame first");
    let n = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let answer = p::PreviewTriageResponse::decode(&body[5..5 + n]).expect("a response");
    let t = answer.triage.expect("triage");
    assert_eq!(t.grade, p::Grade::Grade1Emergency as i32, "{:?}", t.reasons);
    let trailers = String::from_utf8_lossy(&body[5 + n + 5..]).to_lowercase();
    assert_eq!(body[5 + n], 0x80, "then the trailers frame");
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn with_identities_a_browser_call_without_a_token_is_refused_in_grpc_web_terms() {
    use super::access::{AUDIENCE, ISSUER, Idp};
    let app = TestApp::spawn().await;
    let idp = Idp::new();
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, idp.jwks()).expect("jwks");
    let port = free_port();
    let _served = super::harness::Procs(vec![
        std::process::Command::new(env!("CARGO_BIN_EXE_bluelight"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--redis-url", &app.redis.url()])
            .args(["--jwks", jwks.to_str().expect("path")])
            .args(["--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("bluelight serve"),
    ]);
    super::harness::connect(port).await;
    // The pages are served to anyone; every call is decided by role.
    let page = http::Request::get("/console")
        .body(http_body_util::Full::default())
        .unwrap();
    assert_eq!(http1(port, page).await.0, 200);

    let framed = grpc_web_frame(&p::PreviewTriageRequest {
        contact: Some(call("tok-1", "my kitchen is on fire")),
    });
    let own = format!("127.0.0.1:{port}");
    let post = |token: Option<&str>| {
        let mut r = http::Request::post("/bluelight.v1.Intake/PreviewTriage")
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", format!("http://{own}"));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(http_body_util::Full::new(framed.clone())).unwrap()
    };
    let (status, headers, _) = http1(port, post(None)).await;
    assert_eq!(status, 200, "gRPC-Web carries the refusal in its status");
    assert_eq!(headers["content-type"], "application/grpc-web+proto");
    assert_eq!(headers["grpc-status"], "16", "UNAUTHENTICATED: {headers:?}");
    let portal = idp.token("portal-1", &["portal"], json!({}));
    let (_, headers, _) = http1(port, post(Some(&portal))).await;
    assert_eq!(
        headers["grpc-status"], "7",
        "PERMISSION_DENIED for a portal: {headers:?}"
    );
    let handler = idp.token("handler-1", &["handler"], json!({}));
    let (_, headers, body) = http1(port, post(Some(&handler))).await;
    assert_eq!(body[0], 0, "an answer: {headers:?}");
    assert!(
        String::from_utf8_lossy(&body).contains("grpc-status:0"),
        "{headers:?}"
    );
}
