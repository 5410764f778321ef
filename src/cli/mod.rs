//! The `bluelight` command line: `serve`, the clients a desk or a script uses (`submit`, `claim`,
//! `complete`, `release`, `queue`, `incident`, `desk`, `stats`, `reload`), and the offline tools
//! (`triage`, `rules check`, `desks check`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::contact_to_proto;
use crate::config::{ServeArgs, Settings};
use tonic::service::interceptor::InterceptedService;

use crate::domain::{Answers, Caller, Channel, Contact, Location, LocationSource, OnlineCategory};
use crate::proto as p;
use crate::routing::Table;
use crate::triage::model::TrainOptions;

mod triage;
pub use triage::{read_corpora, read_corpus, read_public, triage_line};

#[derive(Parser, Debug)]
#[command(
    name = "bluelight",
    version,
    about = "Triage, routing and dispatch queues for a joint police and fire contact centre"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServerArg {
    /// The bluelight server
    #[arg(
        long,
        env = "BLUELIGHT_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Reach the server over TLS, trusting the CA certificates in this file (PEM)
    #[arg(long, env = "BLUELIGHT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// For mutual TLS: this client's certificate (PEM); needs --identity-key
    #[arg(long, env = "BLUELIGHT_IDENTITY_CERT", requires = "identity_key")]
    pub identity_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, env = "BLUELIGHT_IDENTITY_KEY", requires = "identity_cert")]
    pub identity_key: Option<PathBuf>,
    /// A bearer token from the centre's identity provider, sent with every request
    #[arg(long, env = "BLUELIGHT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (with its own redis-server unless --redis-url is given)
    Serve(Box<ServeArgs>),
    /// Submit a contact: from flags, or from a JSON file in the `triage` line format
    Submit(SubmitArgs),
    /// Claim the next incident on a desk, or a specific one with --reference
    Claim {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        desk: String,
        /// Claim this incident rather than the next
        #[arg(long)]
        reference: Option<String>,
        /// Who is claiming [default: $USER]
        #[arg(long)]
        dispatcher: Option<String>,
        /// Lease length in seconds [default: the server's]
        #[arg(long, default_value_t = 0)]
        lease_seconds: u32,
        /// When the queue is empty, wait up to this many seconds (at most 60) for work
        #[arg(long, default_value_t = 0, conflicts_with = "reference")]
        wait: u32,
    },
    /// Complete a claimed incident
    Complete {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        reference: String,
        #[arg(long)]
        desk: String,
        #[arg(long)]
        token: u64,
        #[arg(long, default_value = "")]
        outcome: String,
    },
    /// Give a claimed incident back to its queue
    Release {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        reference: String,
        #[arg(long)]
        desk: String,
        #[arg(long)]
        token: u64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Extend a lease
    Renew {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        reference: String,
        #[arg(long)]
        desk: String,
        #[arg(long)]
        token: u64,
        #[arg(long, default_value_t = 0)]
        lease_seconds: u32,
    },
    /// Move a claimed incident to another desk's queue
    Transfer {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        reference: String,
        #[arg(long)]
        desk: String,
        #[arg(long)]
        token: u64,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Change an incident's grade (audited)
    Regrade {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        reference: String,
        /// 1 (Emergency) to 4 (Resolution without deployment)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        grade: u8,
        #[arg(long)]
        reason: String,
        /// Who is regrading [default: $USER]
        #[arg(long)]
        by: Option<String>,
    },
    /// Follow a desk's events live (Ctrl-C to stop)
    Watch {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        desk: String,
        /// Resume after this event id; "0" replays every event still kept
        #[arg(long, default_value = "")]
        after: String,
    },
    /// Submit generated contacts at a rate and report throughput and latency (loopback only)
    Load {
        #[command(flatten)]
        server: ServerArg,
        /// Contacts per second; 0 sends as fast as --concurrency allows
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// Seconds to run (at most 600)
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        duration: u64,
        /// Requests in flight at most (dispatch: dispatchers)
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// submit: contacts; dispatch: CompleteAndClaimNext across the desks; claim-complete:
        /// the same as Complete then ClaimNext
        #[arg(long, value_enum, default_value = "submit")]
        mode: crate::load::Mode,
        /// dispatch: incidents submitted before the clock starts
        #[arg(long, default_value_t = 20_000)]
        prefill: u64,
        /// Read Redis's CPU time and command count from this Redis (INFO) to report them per
        /// operation
        #[arg(long)]
        redis_url: Option<String>,
        /// Read the server's CPU time from /proc to report it per operation
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Show a desk's queue in working order
    Queue {
        #[command(flatten)]
        server: ServerArg,
        #[arg(long)]
        desk: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show an incident
    Incident {
        #[command(flatten)]
        server: ServerArg,
        reference: String,
    },
    /// Open or close a desk
    Desk {
        #[command(flatten)]
        server: ServerArg,
        #[arg(value_parser = ["open", "close"])]
        action: String,
        desk: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Depth and oldest wait of every desk
    Stats {
        #[command(flatten)]
        server: ServerArg,
    },
    /// Make the server reread its rules and desks files
    Reload {
        #[command(flatten)]
        server: ServerArg,
    },
    /// Triage contacts offline: JSON lines on stdin, one JSON result per line on stdout
    Triage {
        /// Rules file [default: the shipped rules]
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Instead, evaluate labelled corpora (lines with a "gold" object; a folder means its
        /// .jsonl files) and print the figures per agency and per channel
        #[arg(long, value_name = "FILE", num_args = 1..)]
        eval: Option<Vec<PathBuf>>,
        /// With --eval, also list every contact triaged differently from its gold label
        #[arg(long, requires = "eval")]
        misses: bool,
        /// With --eval, only this part of the corpora (see `bluelight train`)
        #[arg(long, requires = "eval", value_enum, default_value_t = Part::All)]
        part: Part,
    },
    /// Fit the triage model on labelled corpora and write it beside the rules
    Train {
        /// Rules file the model is trained beside
        #[arg(long, default_value = "config/triage.toml")]
        rules: PathBuf,
        /// Labelled corpora (files, or folders of .jsonl files); blind batches must never be
        /// among them
        #[arg(long, num_args = 1.., default_values = ["tests/data/corpus.jsonl", "tests/data/dev"])]
        corpus: Vec<PathBuf>,
        /// The public texts whose labelled ones join the corpora (their training part only)
        #[arg(long, default_value = "../shared/data/public_texts.jsonl")]
        public_texts: PathBuf,
        /// Labels of public texts: lines of id, sha1 and gold
        #[arg(long, default_value = "tests/data/public/labels.jsonl")]
        public_labels: PathBuf,
        /// Where to write the model [default: the rules file with extension .model]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the shuffling: the same seed and corpus give the same file
        #[arg(long, default_value_t = TrainOptions::default().seed)]
        seed: u64,
        /// Passes over the training part
        #[arg(long, default_value_t = TrainOptions::default().epochs)]
        epochs: u32,
        /// Runs of training, each shuffled with the next seed, whose weights are averaged
        #[arg(long, default_value_t = TrainOptions::default().runs, value_parser = clap::value_parser!(u32).range(1..=50))]
        runs: u32,
        /// log2 of the number of hashed feature buckets
        #[arg(long, default_value_t = TrainOptions::default().bits, value_parser = clap::value_parser!(u32).range(8..=20))]
        bits: u32,
        /// Learning rate of the first pass (it falls as 1/(1+pass))
        #[arg(long, default_value_t = TrainOptions::default().rate)]
        rate: f32,
        /// L2 penalty on the weights
        #[arg(long, default_value_t = TrainOptions::default().l2)]
        l2: f32,
        /// Train, then compare with the file already at --out instead of writing it; fail if
        /// they differ
        #[arg(long)]
        check: bool,
    },
    /// Write the public texts (shared/data) as contact lines, with their labels, for
    /// `triage --eval` or `triage`
    Texts {
        /// The public texts
        #[arg(long, default_value = "../shared/data/public_texts.jsonl")]
        texts: PathBuf,
        /// Labels: lines of id, sha1 and gold
        #[arg(long, default_value = "tests/data/public/labels.jsonl")]
        labels: PathBuf,
        /// Every text, not only the labelled ones
        #[arg(long)]
        all: bool,
    },
    /// Check a triage rules file
    Rules {
        #[command(subcommand)]
        action: CheckAction,
    },
    /// Check a desks and areas file
    Desks {
        #[command(subcommand)]
        action: CheckAction,
    },
}

/// Which part of a corpus to evaluate: the split by contact id that training uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    All,
    Training,
    Development,
}

#[derive(Subcommand, Debug)]
pub enum CheckAction {
    /// Validate FILE without serving; exit non-zero with every problem if it is bad
    Check { file: PathBuf },
}

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    server: ServerArg,
    /// JSON file with one contact in the `bluelight triage` line format
    #[arg(long, conflicts_with_all = ["narrative", "answer"])]
    file: Option<PathBuf>,
    /// Your id for this contact, reused on retry [default: generated]
    #[arg(long)]
    contact_id: Option<String>,
    /// PHONE_999, PHONE_101, ONLINE_FORM, WEBCHAT, EMERGENCY_SMS, TEXT_RELAY, ECALL, ALARM_RECEIVING_CENTRE
    #[arg(long, default_value = "PHONE_999")]
    channel: Channel,
    #[arg(long)]
    narrative: Option<String>,
    /// Online form category, e.g. crime
    #[arg(long)]
    category: Option<OnlineCategory>,
    /// An answer as FIELD=VALUE, e.g. fire=FLAMES or vulnerability=CHILD; repeatable
    #[arg(long = "answer", value_name = "FIELD=VALUE")]
    answer: Vec<String>,
    #[arg(long)]
    postcode: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    lat: Option<f64>,
    #[arg(long, allow_hyphen_values = true)]
    lon: Option<f64>,
    #[arg(long)]
    accuracy_m: Option<u32>,
    /// AML, EISEC, ECALL, CALLER or MAP_PIN
    #[arg(long)]
    source: Option<LocationSource>,
    #[arg(long)]
    caller_name: Option<String>,
    #[arg(long)]
    caller_phone: Option<String>,
}

/// One contact in the JSON line format of `bluelight triage` and `submit --file`. Unknown
/// top-level fields (such as `gold`) are ignored.
#[derive(Deserialize, Debug, Default)]
pub struct ContactLine {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub channel: Channel,
    #[serde(default)]
    pub narrative: String,
    #[serde(default)]
    pub category: OnlineCategory,
    #[serde(default)]
    pub answers: Answers,
    #[serde(default)]
    pub location: Location,
    #[serde(default)]
    pub caller: Caller,
}

impl ContactLine {
    /// The id as text: strings as they are, numbers printed.
    pub fn id_text(&self) -> String {
        match &self.id {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }

    pub fn into_contact(self) -> Contact {
        Contact {
            contact_id: self.id_text(),
            channel: self.channel,
            narrative: self.narrative,
            category: self.category,
            answers: self.answers,
            location: self.location,
            caller: self.caller,
        }
    }
}

/// Runs the command line; the exit code says whether it worked.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Triage {
            rules,
            eval: Some(corpus),
            misses,
            part,
        } => triage::eval_corpus(rules, &corpus, misses, part),
        Command::Triage { rules, .. } => return triage::triage_lines(rules),
        Command::Texts { texts, labels, all } => triage::public_texts(&texts, &labels, !all),
        Command::Train {
            rules,
            corpus,
            public_texts,
            public_labels,
            out,
            seed,
            epochs,
            runs,
            bits,
            rate,
            l2,
            check,
        } => {
            let opts = TrainOptions {
                bits,
                epochs,
                seed,
                runs,
                rate,
                l2,
            };
            triage::train(
                &rules,
                &corpus,
                (&public_texts, &public_labels),
                out,
                opts,
                check,
            )
        }
        Command::Rules {
            action: CheckAction::Check { file },
        } => triage::check_rules(&file),
        Command::Desks {
            action: CheckAction::Check { file },
        } => Table::load(&file)
            .map(|t| {
                println!(
                    "{}: ok, {} desks, {} areas",
                    file.display(),
                    t.desks().len(),
                    t.areas().len()
                )
            })
            .map_err(|e| e.to_string()),
        Command::Serve(args) => serve(*args),
        client => runtime().and_then(|rt| rt.block_on(run_client(client))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bluelight: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = Settings::resolve(args).map_err(|e| e.to_string())?;
    crate::telemetry::init_tracing(settings.log_format);
    runtime()?.block_on(async move {
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading rules, desks and TLS files");
                let _ = reload_tx.try_send(());
            }
        });
        crate::server::run(settings, shutdown_signal(), reload_rx)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("signal handlers can be installed");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}

/// The connection of the client commands; `timeout` bounds each request (None for streams).
/// With --tls-ca the server is reached over TLS (an `http://` address becomes `https://`), and
/// with --identity-cert and --identity-key the client proves who it is.
async fn connect(to: &ServerArg, timeout: Option<std::time::Duration>) -> Result<Conn, String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let server = match (&to.tls_ca, to.server.strip_prefix("http://")) {
        (Some(_), Some(rest)) => format!("https://{rest}"),
        _ => to.server.clone(),
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(server.clone())
        .map_err(|e| format!("--server {server:?}: {e}"))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .tcp_nodelay(true);
    if let Some(ca) = &to.tls_ca {
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?));
        if let (Some(cert), Some(key)) = (&to.identity_cert, &to.identity_key) {
            tls = tls.identity(Identity::from_pem(
                read("--identity-cert", cert)?,
                read("--identity-key", key)?,
            ));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
    }
    if let Some(t) = timeout {
        endpoint = endpoint.timeout(t);
    }
    let loopback = server
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .is_some_and(|h| matches!(h.as_str(), "localhost" | "127.0.0.1" | "[::1]"));
    if to.token.is_some() && to.tls_ca.is_none() && !loopback {
        return Err(format!(
            "--token: the token would cross the network to {server} in clear; give --tls-ca"
        ));
    }
    let bearer = match &to.token {
        None => None,
        Some(t) => Some(
            format!("Bearer {}", t.trim())
                .parse()
                .map_err(|_| "--token: not a token (it has characters a header cannot carry)")?,
        ),
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach {server}: {e}; is `bluelight serve` running?"))?;
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

/// A connection of the client commands: every request carries the bearer token, if any.
pub type Conn = InterceptedService<tonic::transport::Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to each request.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            r.metadata_mut().insert("authorization", v.clone());
        }
        Ok(r)
    }
}

async fn channel(to: &ServerArg) -> Result<Conn, String> {
    connect(to, Some(std::time::Duration::from_secs(10))).await
}

fn status_text(s: tonic::Status) -> String {
    use tonic_types::StatusExt;
    let mut text = format!("{:?}: {}", s.code(), s.message());
    if let Some(br) = s.get_details_bad_request() {
        text = format!("{:?}: invalid request", s.code());
        for v in br.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    text
}

async fn run_client(cmd: Command) -> Result<(), String> {
    use p::dispatch_client::DispatchClient;
    use p::intake_client::IntakeClient;
    use p::operations_client::OperationsClient;
    match cmd {
        Command::Submit(args) => {
            let server = args.server.clone();
            let contact = submit_contact(args)?;
            let mut c = IntakeClient::new(channel(&server).await?);
            let r = c
                .submit_contact(p::SubmitContactRequest {
                    contact: Some(contact_to_proto(&contact)),
                })
                .await
                .map_err(status_text)?
                .into_inner();
            let i = r.incident.unwrap_or_default();
            if server.json {
                println!(
                    "{}",
                    json!({"incident": incident_json(&i), "replayed": r.replayed, "public_message": r.public_message})
                );
            } else {
                print_incident(&i);
                if r.replayed {
                    println!("(already submitted: this is the original answer)");
                }
                println!("tell the caller: {}", r.public_message);
            }
        }
        Command::Claim {
            server,
            desk,
            reference,
            dispatcher,
            lease_seconds,
            wait,
        } => {
            let dispatcher = dispatcher.unwrap_or_else(whoami);
            // A waiting claim's call outlasts the usual 10 s.
            let timeout = std::time::Duration::from_secs(10 + u64::from(wait));
            let mut c = DispatchClient::new(connect(&server, Some(timeout)).await?);
            let (lease, incident) = match reference {
                Some(reference) => {
                    let r = c
                        .claim(p::ClaimRequest {
                            reference,
                            desk: desk.clone(),
                            dispatcher,
                            lease_seconds,
                        })
                        .await
                        .map_err(status_text)?
                        .into_inner();
                    (r.lease, r.incident)
                }
                None => {
                    let r = c
                        .claim_next(p::ClaimNextRequest {
                            desk: desk.clone(),
                            dispatcher,
                            lease_seconds,
                            whole_incident: true,
                            wait_seconds: wait,
                        })
                        .await
                        .map_err(status_text)?
                        .into_inner();
                    (r.lease, r.incident)
                }
            };
            match (lease, incident) {
                (Some(l), Some(i)) if server.json => {
                    println!(
                        "{}",
                        json!({"lease": lease_json(&l), "incident": incident_json(&i)})
                    )
                }
                (Some(l), Some(i)) => {
                    print_incident(&i);
                    println!(
                        "claimed on {} with token {} until {} (unix ms)\n  complete: bluelight complete --reference {} --desk {} --token {}",
                        l.desk, l.token, l.expires_at_ms, l.reference, l.desk, l.token
                    );
                }
                _ if server.json => println!("{}", json!({"lease": null})),
                _ => println!("queue {desk} is empty"),
            }
        }
        Command::Complete {
            server,
            reference,
            desk,
            token,
            outcome,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            let r = c
                .complete(p::CompleteRequest {
                    reference,
                    desk,
                    token,
                    outcome,
                })
                .await
                .map_err(status_text)?
                .into_inner();
            let i = r.incident.unwrap_or_default();
            show_incident(&server, &i);
        }
        Command::Release {
            server,
            reference,
            desk,
            token,
            reason,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            c.release(p::ReleaseRequest {
                reference: reference.clone(),
                desk: desk.clone(),
                token,
                reason,
            })
            .await
            .map_err(status_text)?;
            println!("{reference} is back in the queue of {desk}");
        }
        Command::Renew {
            server,
            reference,
            desk,
            token,
            lease_seconds,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            let l = c
                .renew_lease(p::RenewLeaseRequest {
                    reference,
                    desk,
                    token,
                    lease_seconds,
                })
                .await
                .map_err(status_text)?
                .into_inner()
                .lease
                .unwrap_or_default();
            if server.json {
                println!("{}", lease_json(&l));
            } else {
                println!(
                    "{} on {} held by {} until {} (unix ms)",
                    l.reference, l.desk, l.dispatcher, l.expires_at_ms
                );
            }
        }
        Command::Transfer {
            server,
            reference,
            desk,
            token,
            to,
            reason,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            let i = c
                .transfer(p::TransferRequest {
                    reference,
                    desk,
                    token,
                    to_desk: to,
                    reason,
                })
                .await
                .map_err(status_text)?
                .into_inner()
                .incident
                .unwrap_or_default();
            show_incident(&server, &i);
        }
        Command::Regrade {
            server,
            reference,
            grade,
            reason,
            by,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            let i = c
                .regrade(p::RegradeRequest {
                    reference,
                    grade: i32::from(grade),
                    by: by.unwrap_or_else(whoami),
                    reason,
                })
                .await
                .map_err(status_text)?
                .into_inner()
                .incident
                .unwrap_or_default();
            show_incident(&server, &i);
        }
        Command::Watch {
            server,
            desk,
            after,
        } => {
            // No request timeout: a watch lasts as long as it is wanted.
            let mut c = DispatchClient::new(connect(&server, None).await?);
            let mut stream = c
                .watch_desk(p::WatchDeskRequest {
                    desk: desk.clone(),
                    after_id: after,
                })
                .await
                .map_err(status_text)?
                .into_inner();
            if !server.json {
                eprintln!("watching {desk}; Ctrl-C to stop");
            }
            while let Some(e) = stream.message().await.map_err(status_text)? {
                if server.json {
                    println!(
                        "{}",
                        json!({"id": e.id, "kind": e.kind, "reference": e.reference, "at_ms": e.at_ms, "details": e.details})
                    );
                } else {
                    let mut details: Vec<_> =
                        e.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    details.sort();
                    println!(
                        "{}  {:<16} {:<22} {}",
                        e.id,
                        e.kind,
                        e.reference,
                        details.join(" ")
                    );
                }
            }
        }
        Command::Load {
            server,
            rate,
            duration,
            concurrency,
            mode,
            prefill,
            redis_url,
            server_pid,
        } => {
            let run_id = format!(
                "load-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
            );
            let r = crate::load::run(crate::load::Plan {
                mode,
                prefill,
                redis_url,
                server_pid,
                channel: connect(&server, None).await?,
                rate,
                duration: std::time::Duration::from_secs(duration),
                concurrency,
                run_id,
            })
            .await?;
            let ms = |s: f64| s * 1000.0;
            // Per successful operation: CPU in µs, Redis commands.
            let ok = r.ok.max(1) as f64;
            let us = |s: Option<f64>| s.map(|s| s * 1e6 / ok);
            let c = &r.cost;
            let commands = c.redis_commands.map(|n| n as f64 / ok);
            let what = match mode {
                crate::load::Mode::Submit => "contacts",
                crate::load::Mode::Dispatch | crate::load::Mode::ClaimComplete => "claim+complete",
            };
            if server.json {
                println!(
                    "{}",
                    json!({"mode": what, "sent": r.sent, "ok": r.ok, "errors": r.errors, "seconds": r.elapsed.as_secs_f64(),
                        "throughput": r.throughput(), "p50_ms": ms(r.percentile(0.5)), "p90_ms": ms(r.percentile(0.9)),
                        "p99_ms": ms(r.percentile(0.99)), "max_ms": ms(r.percentile(1.0)),
                        "redis_cpu_us_per_op": us(c.redis_cpu_s), "redis_commands_per_op": commands,
                        "server_cpu_us_per_op": us(c.server_cpu_s), "load_cpu_us_per_op": us(c.load_cpu_s)})
                );
            } else {
                println!(
                    "sent {} ok {} in {:.1} s: {:.0} {what}/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    r.sent,
                    r.ok,
                    r.elapsed.as_secs_f64(),
                    r.throughput(),
                    ms(r.percentile(0.5)),
                    ms(r.percentile(0.9)),
                    ms(r.percentile(0.99)),
                    ms(r.percentile(1.0))
                );
                let shown = |v: Option<f64>, unit: &str| {
                    v.map_or("not read".to_owned(), |v| format!("{v:.1}{unit}"))
                };
                println!(
                    "per operation: redis CPU {}, redis commands {}, server CPU {}, load generator CPU {}",
                    shown(us(c.redis_cpu_s), " µs"),
                    shown(commands, ""),
                    shown(us(c.server_cpu_s), " µs"),
                    shown(us(c.load_cpu_s), " µs")
                );
                for (code, n) in &r.errors {
                    println!("  {n} errors: {code}");
                }
            }
        }
        Command::Queue {
            server,
            desk,
            limit,
        } => {
            let mut c = DispatchClient::new(channel(&server).await?);
            let r = c
                .list_queue(p::ListQueueRequest {
                    desk: desk.clone(),
                    limit,
                })
                .await
                .map_err(status_text)?
                .into_inner();
            if server.json {
                let entries: Vec<Value> = r
                    .entries
                    .iter()
                    .map(|e| json!({"reference": e.reference, "grade": e.grade, "incident_type": e.incident_type,
                        "agency": agency_name(e.agency), "queued_at_ms": e.queued_at_ms, "wait_ms": e.wait_ms}))
                    .collect();
                println!(
                    "{}",
                    json!({"desk": desk, "depth": r.depth, "entries": entries})
                );
            } else {
                println!("{desk}: {} waiting", r.depth);
                for e in r.entries {
                    println!(
                        "  grade {}  {:<4} {:<7} {:<22} waiting {}s",
                        e.grade,
                        e.incident_type,
                        agency_name(e.agency),
                        e.reference,
                        e.wait_ms / 1000
                    );
                }
            }
        }
        Command::Incident { server, reference } => {
            let mut c = IntakeClient::new(channel(&server).await?);
            let r = c
                .get_incident(p::GetIncidentRequest { reference })
                .await
                .map_err(status_text)?
                .into_inner();
            let i = r.incident.unwrap_or_default();
            show_incident(&server, &i);
        }
        Command::Desk {
            server,
            action,
            desk,
            reason,
        } => {
            let mut c = OperationsClient::new(channel(&server).await?);
            c.set_desk_status(p::SetDeskStatusRequest {
                desk: desk.clone(),
                open: action == "open",
                reason,
            })
            .await
            .map_err(status_text)?;
            println!(
                "desk {desk} is {}",
                if action == "open" { "open" } else { "closed" }
            );
        }
        Command::Stats { server } => {
            let mut c = OperationsClient::new(channel(&server).await?);
            let r = c
                .get_queue_stats(p::GetQueueStatsRequest {})
                .await
                .map_err(status_text)?
                .into_inner();
            for d in r.desks {
                if server.json {
                    println!(
                        "{}",
                        json!({"desk": d.desk, "open": d.open, "depth": d.depth, "oldest_wait_ms": d.oldest_wait_ms})
                    );
                } else {
                    println!(
                        "{:<16} {:<6} {:>5} waiting, oldest {}s",
                        d.desk,
                        if d.open { "open" } else { "CLOSED" },
                        d.depth,
                        d.oldest_wait_ms / 1000
                    );
                }
            }
        }
        Command::Reload { server } => {
            let mut c = OperationsClient::new(channel(&server).await?);
            let r = c
                .reload_config(p::ReloadConfigRequest {})
                .await
                .map_err(status_text)?
                .into_inner();
            println!(
                "reloaded: {} incident type rules, {} desks",
                r.incident_types, r.desks
            );
        }
        Command::Serve(_)
        | Command::Triage { .. }
        | Command::Train { .. }
        | Command::Texts { .. }
        | Command::Rules { .. }
        | Command::Desks { .. } => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

/// Builds the contact of `bluelight submit` from its file or flags.
fn submit_contact(a: SubmitArgs) -> Result<Contact, String> {
    let mut contact = match &a.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str::<ContactLine>(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .into_contact()
        }
        None => {
            let mut answers = serde_json::Map::new();
            for kv in &a.answer {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    format!("--answer {kv:?}: write FIELD=VALUE, for example fire=FLAMES")
                })?;
                let value = match k {
                    "vulnerability" | "hazards" => {
                        let list = answers.entry(k.to_owned()).or_insert_with(|| json!([]));
                        list.as_array_mut()
                            .expect("lists stay lists")
                            .push(json!(v));
                        continue;
                    }
                    "casualties" => json!(
                        v.parse::<u32>()
                            .map_err(|_| format!("--answer {kv:?}: casualties is a number"))?
                    ),
                    _ => json!(v),
                };
                answers.insert(k.to_owned(), value);
            }
            let answers: Answers = serde_json::from_value(Value::Object(answers))
                .map_err(|e| format!("--answer: {e}"))?;
            Contact {
                contact_id: String::new(),
                channel: a.channel,
                narrative: a.narrative.clone().unwrap_or_default(),
                category: a.category.unwrap_or_default(),
                answers,
                location: Location {
                    postcode: a.postcode.clone().unwrap_or_default(),
                    address: a.address.clone().unwrap_or_default(),
                    lat: a.lat,
                    lon: a.lon,
                    accuracy_m: a.accuracy_m,
                    source: a.source.unwrap_or_default(),
                },
                caller: Caller {
                    name: a.caller_name.clone().unwrap_or_default(),
                    phone: a.caller_phone.clone().unwrap_or_default(),
                },
            }
        }
    };
    if let Some(id) = a.contact_id {
        contact.contact_id = id;
    }
    if contact.contact_id.is_empty() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        contact.contact_id = format!("cli-{nanos}-{}", std::process::id());
    }
    Ok(contact)
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "dispatcher".into())
}

fn agency_name(code: i32) -> &'static str {
    crate::domain::Agency::from_code(code).map_or("?", |a| a.as_str())
}

fn incident_json(i: &p::Incident) -> Value {
    let t = i.triage.clone().unwrap_or_default();
    let r = i.route.clone().unwrap_or_default();
    json!({
        "reference": i.reference,
        "state": crate::domain::IncidentState::from_code(i.state).map_or("?", |s| s.as_str()),
        "agency": agency_name(t.agency),
        "lead_agency": agency_name(t.lead_agency),
        "grade": t.grade,
        "incident_type": t.incident_type,
        "incident_type_name": t.incident_type_name,
        "qualifiers": t.qualifiers,
        "confidence": t.confidence,
        "reasons": t.reasons,
        "desks": r.desks,
        "area": r.area,
        "route_reasons": r.reasons,
        "contact_ids": i.contact_ids,
        "tasks": i.tasks.iter().map(|t| json!({"desk": t.desk, "state": crate::domain::IncidentState::from_code(t.state).map_or("?", |s| s.as_str()), "dispatcher": t.dispatcher, "outcome": t.outcome})).collect::<Vec<_>>(),
        "created_at_ms": i.created_at_ms,
    })
}

fn lease_json(l: &p::Lease) -> Value {
    json!({"reference": l.reference, "desk": l.desk, "dispatcher": l.dispatcher, "token": l.token, "expires_at_ms": l.expires_at_ms})
}

/// Prints an incident as JSON (`--json`) or as text.
fn show_incident(server: &ServerArg, i: &p::Incident) {
    if server.json {
        println!("{}", incident_json(i));
    } else {
        print_incident(i);
    }
}

fn print_incident(i: &p::Incident) {
    let t = i.triage.clone().unwrap_or_default();
    let r = i.route.clone().unwrap_or_default();
    println!(
        "{}  {} grade {}  {} {}  ({})",
        i.reference,
        agency_name(t.agency),
        t.grade,
        t.incident_type,
        t.incident_type_name,
        crate::domain::IncidentState::from_code(i.state).map_or("?", |s| s.as_str())
    );
    println!("  desks: {}  (area {})", r.desks.join(", "), r.area);
    for reason in t.reasons.iter().chain(r.reasons.iter()) {
        println!("  because {reason}");
    }
    for task in &i.tasks {
        let state = crate::domain::IncidentState::from_code(task.state).map_or("?", |s| s.as_str());
        println!(
            "  {}: {state} {} {}",
            task.desk, task.dispatcher, task.outcome
        );
    }
}
