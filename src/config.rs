//! Typed configuration of `bluelight serve`: command-line flags, then `BLUELIGHT_*` environment
//! variables (clap reads both), then an optional TOML file, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::access::{AccessFiles, JwtFiles, Shedding};
use crate::error::{Error, Result};
use crate::store::{StoreConfig, Target};
use crate::telemetry::LogFormat;
use crate::tls::TlsFiles;

/// Flags of `bluelight serve`; each also reads its `BLUELIGHT_*` environment variable.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML file with any of the settings below and the tuning settings.
    #[arg(long, env = "BLUELIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC address [default: 127.0.0.1:50051]
    #[arg(long, env = "BLUELIGHT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Prometheus /metrics address [default: 127.0.0.1:9464]
    #[arg(long, env = "BLUELIGHT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Redis to use, e.g. redis://10.0.0.5:6379/. Without it bluelight starts and supervises its
    /// own redis-server with its data in --data-dir.
    #[arg(long, env = "BLUELIGHT_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Find the Redis primary through these sentinels (host:port,host:port,...) and follow
    /// its failovers; needs --redis-master
    #[arg(long, env = "BLUELIGHT_REDIS_SENTINELS", value_delimiter = ',')]
    pub redis_sentinels: Vec<String>,
    /// Use a Redis Cluster through these nodes (host:port,host:port,...)
    #[arg(long, env = "BLUELIGHT_REDIS_CLUSTER", value_delimiter = ',')]
    pub redis_cluster: Vec<String>,
    /// The name the sentinels monitor the primary by
    #[arg(long, env = "BLUELIGHT_REDIS_MASTER")]
    pub redis_master: Option<String>,
    /// With sentinels or a cluster: the password of the Redis nodes
    #[arg(long, env = "BLUELIGHT_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<String>,
    /// Acknowledge a submit only once this many replicas have it (WAIT) [default: 0]
    #[arg(long, env = "BLUELIGHT_MIN_REPLICAS_ACK")]
    pub min_replicas_ack: Option<u32>,
    /// For a rediss:// URL: trust these CA certificates (PEM) instead of the system's
    #[arg(long, env = "BLUELIGHT_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
    /// For a rediss:// URL: this client certificate (PEM), for a Redis that asks for one
    #[arg(long, env = "BLUELIGHT_REDIS_CERT")]
    pub redis_cert: Option<PathBuf>,
    /// The Redis client certificate's key (PEM)
    #[arg(long, env = "BLUELIGHT_REDIS_KEY")]
    pub redis_key: Option<PathBuf>,
    /// Data directory of the managed redis-server [default: .bluelight/redis]
    #[arg(long, env = "BLUELIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Centre id, the hash tag of every Redis key [default: essex]
    #[arg(long, env = "BLUELIGHT_CENTRE")]
    pub centre: Option<String>,
    /// Triage rules file [default: the shipped rules]
    #[arg(long, env = "BLUELIGHT_RULES")]
    pub rules: Option<PathBuf>,
    /// Desks and areas file [default: the shipped Essex desks]
    #[arg(long, env = "BLUELIGHT_DESKS")]
    pub desks: Option<PathBuf>,
    /// Log format [default: text]
    #[arg(long, env = "BLUELIGHT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve gRPC over TLS with this certificate chain (PEM); needs --tls-key. Reloaded on SIGHUP.
    #[arg(long, env = "BLUELIGHT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, env = "BLUELIGHT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Also require client certificates signed by these CAs (PEM): mutual TLS.
    #[arg(long, env = "BLUELIGHT_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Serve /metrics over TLS too, with the same certificate (and client CAs).
    #[arg(long, env = "BLUELIGHT_METRICS_TLS")]
    pub metrics_tls: bool,
    /// Listen on a non-loopback address although nothing checks who connects (no --jwks or
    /// --access, or no TLS)
    #[arg(long, env = "BLUELIGHT_INSECURE")]
    pub insecure: bool,
    /// Take bearer tokens (JWT, ES256 or RS256) signed by the keys of this JWKS file; needs
    /// --jwt-issuer and --jwt-audience. Reloaded on SIGHUP.
    #[arg(long, env = "BLUELIGHT_JWKS")]
    pub jwks: Option<PathBuf>,
    /// The `iss` every token must carry.
    #[arg(long, env = "BLUELIGHT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` every token must carry.
    #[arg(long, env = "BLUELIGHT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Access file (TOML): client certificate common name -> roles, desks and rate; needs
    /// --client-ca. Reloaded on SIGHUP.
    #[arg(long, env = "BLUELIGHT_ACCESS")]
    pub access: Option<PathBuf>,
    /// Serve gRPC reflection [default: true]
    #[arg(long, env = "BLUELIGHT_REFLECTION")]
    pub reflection: Option<bool>,
    /// Origins of portal pages hosted elsewhere that may call the API over gRPC-Web
    /// (https://report.example.org,...); bluelight's own /report and /console need none
    #[arg(long, env = "BLUELIGHT_WEB_ORIGINS", value_delimiter = ',')]
    pub web_origins: Vec<String>,
    /// Requests in flight past which new submits are shed (999, emergencySMS, text relay and
    /// eCall only past a quarter more) [default: 2048]
    #[arg(long, env = "BLUELIGHT_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Shed new non-emergency submits while Redis answers slower than this, ms [default: 250]
    #[arg(long, env = "BLUELIGHT_SHED_REDIS_MS")]
    pub shed_redis_ms: Option<u64>,
}

/// The TOML file: the same settings as the flags, plus tuning.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    redis_url: Option<String>,
    redis_sentinels: Option<Vec<String>>,
    redis_cluster: Option<Vec<String>>,
    redis_master: Option<String>,
    redis_password: Option<String>,
    min_replicas_ack: Option<u32>,
    replica_ack_timeout_ms: Option<u64>,
    redis_ca: Option<PathBuf>,
    redis_cert: Option<PathBuf>,
    redis_key: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    centre: Option<String>,
    rules: Option<PathBuf>,
    desks: Option<PathBuf>,
    log_format: Option<LogFormat>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    metrics_tls: Option<bool>,
    insecure: Option<bool>,
    jwks: Option<PathBuf>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    access: Option<PathBuf>,
    reflection: Option<bool>,
    web_origins: Option<Vec<String>>,
    max_in_flight: Option<usize>,
    shed_redis_ms: Option<u64>,
    reference_prefix: Option<String>,
    lease_seconds: Option<u64>,
    max_lease_seconds: Option<u64>,
    idempotency_ttl_seconds: Option<u64>,
    finished_ttl_seconds: Option<u64>,
    /// Queue-wait targets of grades 1 to 4, seconds.
    queue_wait_seconds: Option<[u64; 4]>,
    event_stream_cap: Option<u32>,
    audit_stream_cap: Option<u32>,
    drain_seconds: Option<u64>,
    link_radius_m: Option<u32>,
    link_window_seconds: Option<u64>,
    max_lease_expiries: Option<u32>,
}

/// Everything `serve` needs, resolved and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// Where Redis is; `None`: a managed redis-server in `data_dir`.
    pub redis: Option<Target>,
    pub data_dir: PathBuf,
    pub rules: Option<PathBuf>,
    pub desks: Option<PathBuf>,
    pub log_format: LogFormat,
    /// TLS for the gRPC listener, if it serves TLS.
    pub tls: Option<TlsFiles>,
    /// Whether the metrics endpoint serves TLS too, with the same files.
    pub metrics_tls: bool,
    /// Whether the gRPC listener may face the network with nothing checking who connects.
    pub insecure: bool,
    /// How callers prove who they are; neither file: the service runs open.
    pub access: AccessFiles,
    pub reflection: bool,
    /// Origins of portal pages elsewhere that may call the API from a browser (CORS).
    pub web_origins: Vec<http::HeaderValue>,
    pub shedding: Shedding,
    pub lease: Duration,
    pub max_lease: Duration,
    pub drain: Duration,
    pub store: StoreConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:50051".parse().expect("valid"),
            metrics_listen: "127.0.0.1:9464".parse().expect("valid"),
            redis: None,
            data_dir: PathBuf::from(".bluelight/redis"),
            rules: None,
            desks: None,
            log_format: LogFormat::Text,
            tls: None,
            metrics_tls: false,
            insecure: false,
            access: AccessFiles::default(),
            reflection: true,
            web_origins: Vec::new(),
            shedding: Shedding::default(),
            lease: Duration::from_secs(120),
            max_lease: Duration::from_secs(3600),
            drain: Duration::from_secs(10),
            store: StoreConfig::default(),
        }
    }
}

impl Settings {
    /// Resolves flags and environment (already in `args`) over the file over the defaults.
    pub fn resolve(args: ServeArgs) -> Result<Settings> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let d = Settings::default();
        let secs =
            |v: Option<u64>, default: Duration| v.map(Duration::from_secs).unwrap_or(default);
        let mut store = d.store.clone();
        store.centre = args.centre.or(file.centre).unwrap_or(store.centre);
        if let Some(p) = file.reference_prefix {
            store.reference_prefix = p;
        }
        store.idempotency_ttl = secs(file.idempotency_ttl_seconds, store.idempotency_ttl);
        store.finished_ttl = secs(file.finished_ttl_seconds, store.finished_ttl);
        if let Some(w) = file.queue_wait_seconds {
            store.queue_wait_targets = w.map(Duration::from_secs);
        }
        store.event_cap = file.event_stream_cap.unwrap_or(store.event_cap);
        store.audit_cap = file.audit_stream_cap.unwrap_or(store.audit_cap);
        store.link_radius_m = file.link_radius_m.unwrap_or(store.link_radius_m);
        store.link_window = secs(file.link_window_seconds, store.link_window);
        store.max_lease_expiries = file.max_lease_expiries.unwrap_or(store.max_lease_expiries);
        store.tls = crate::store::RedisTls {
            ca: args.redis_ca.or(file.redis_ca),
            cert: args.redis_cert.or(file.redis_cert),
            key: args.redis_key.or(file.redis_key),
        };
        store.min_replicas_ack = args
            .min_replicas_ack
            .or(file.min_replicas_ack)
            .unwrap_or(store.min_replicas_ack);
        if let Some(ms) = file.replica_ack_timeout_ms {
            store.replica_ack_timeout = Duration::from_millis(ms);
        }
        let sentinels = if args.redis_sentinels.is_empty() {
            file.redis_sentinels.unwrap_or_default()
        } else {
            args.redis_sentinels
        };
        let cluster = if args.redis_cluster.is_empty() {
            file.redis_cluster.unwrap_or_default()
        } else {
            args.redis_cluster
        };
        let redis = redis_target(
            args.redis_url.or(file.redis_url),
            sentinels,
            cluster,
            args.redis_master.or(file.redis_master),
            args.redis_password.or(file.redis_password),
            &store.tls,
        )?;
        let mut s = Settings {
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            metrics_listen: args
                .metrics_listen
                .or(file.metrics_listen)
                .unwrap_or(d.metrics_listen),
            redis,
            data_dir: args.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            rules: args.rules.or(file.rules),
            desks: args.desks.or(file.desks),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            tls: tls_files(
                args.tls_cert.or(file.tls_cert),
                args.tls_key.or(file.tls_key),
                args.client_ca.or(file.client_ca),
            )?,
            metrics_tls: args.metrics_tls || file.metrics_tls.unwrap_or(false),
            insecure: args.insecure || file.insecure.unwrap_or(false),
            access: AccessFiles {
                jwks: jwt_files(
                    args.jwks.or(file.jwks),
                    args.jwt_issuer.or(file.jwt_issuer),
                    args.jwt_audience.or(file.jwt_audience),
                )?,
                access: args.access.or(file.access),
            },
            reflection: args.reflection.or(file.reflection).unwrap_or(true),
            web_origins: crate::web::origins(&if args.web_origins.is_empty() {
                file.web_origins.unwrap_or_default()
            } else {
                args.web_origins
            })?,
            shedding: Shedding {
                max_in_flight: args
                    .max_in_flight
                    .or(file.max_in_flight)
                    .unwrap_or(d.shedding.max_in_flight),
                slow_redis: args
                    .shed_redis_ms
                    .or(file.shed_redis_ms)
                    .map(Duration::from_millis)
                    .unwrap_or(d.shedding.slow_redis),
            },
            lease: secs(file.lease_seconds, d.lease),
            max_lease: secs(file.max_lease_seconds, d.max_lease),
            drain: secs(file.drain_seconds, d.drain),
            store,
        };
        // Callers with a bearer token need no certificate; the access layer still wants one or
        // the other on every call.
        if let Some(tls) = &mut s.tls {
            tls.client_cert_optional = s.access.jwks.is_some();
        }
        s.check()?;
        Ok(s)
    }

    /// Rejects settings that cannot work, saying what to change.
    pub fn check(&self) -> Result<()> {
        let c = &self.store.centre;
        if c.is_empty()
            || c.len() > 32
            || !c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::Config(format!(
                "centre {c:?}: use 1-32 lower-case letters, digits or '-', for example essex"
            )));
        }
        let p = &self.store.reference_prefix;
        if p.is_empty()
            || p.len() > 8
            || !p
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(Error::Config(format!(
                "reference_prefix {p:?}: use 1-8 upper-case letters or digits, for example ESX"
            )));
        }
        if self.lease.is_zero() || self.lease > self.max_lease {
            return Err(Error::Config(
                "lease_seconds must be at least 1 and at most max_lease_seconds".into(),
            ));
        }
        if self.store.link_window.is_zero() || self.store.max_lease_expiries == 0 {
            return Err(Error::Config(
                "link_window_seconds and max_lease_expiries must be at least 1".into(),
            ));
        }
        let identities = self.access.jwks.is_some() || self.access.access.is_some();
        let guarded = identities && self.tls.is_some();
        if !(self.listen.ip().is_loopback() || guarded || self.insecure) {
            return Err(Error::Config(format!(
                "--listen {}: a non-loopback address, and {}: give callers identities (--jwks, \
                 or --access with --client-ca) over TLS (--tls-cert, --tls-key), or give \
                 --insecure to serve anyone who can reach the port",
                self.listen,
                if identities {
                    "bearer tokens would cross the network in clear"
                } else {
                    "nothing checks who connects"
                }
            )));
        }
        let mutual = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if self.access.access.is_some() && !mutual {
            return Err(Error::Config(
                "--access names client certificates: it needs mutual TLS (--tls-cert, --tls-key, \
                 --client-ca)"
                    .into(),
            ));
        }
        if self.shedding.max_in_flight == 0 || self.shedding.slow_redis.is_zero() {
            return Err(Error::Config(
                "max_in_flight and shed_redis_ms must be at least 1".into(),
            ));
        }
        if self.metrics_tls && self.tls.is_none() {
            return Err(Error::Config(
                "--metrics-tls needs --tls-cert and --tls-key: it serves the same certificate"
                    .into(),
            ));
        }
        if !matches!(self.redis, Some(Target::Url(_) | Target::Sentinels { .. }))
            && self.store.min_replicas_ack > 0
        {
            return Err(Error::Config(
                "--min-replicas-ack is for a primary and its replicas (--redis-sentinels or a \
                 --redis-url with replicas), not a cluster or the managed redis-server"
                    .into(),
            ));
        }
        // A WAIT longer than a Redis answer may take would be cut short as a timeout.
        if self.store.replica_ack_timeout.is_zero()
            || self.store.replica_ack_timeout > Duration::from_millis(1500)
        {
            return Err(Error::Config(
                "replica_ack_timeout_ms must be 1 to 1500".into(),
            ));
        }
        if self.store.queue_wait_targets.iter().any(Duration::is_zero) {
            return Err(Error::Config(
                "queue_wait_seconds must all be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The TLS files, all or none: a key without a certificate, or client CAs without both, say
/// what is missing.
fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Result<Option<TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert,
            key,
            client_ca,
            client_cert_optional: false,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, None) => Err(Error::Config(
            "--client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first".into(),
        )),
        (Some(_), None) => Err(Error::Config(
            "--tls-cert needs --tls-key, the certificate's private key".into(),
        )),
        (None, Some(_)) => Err(Error::Config(
            "--tls-key needs --tls-cert, the certificate chain it belongs to".into(),
        )),
    }
}

/// Where Redis is: a URL, or sentinels and the name of the primary they watch (never both);
/// neither: the managed redis-server.
fn redis_target(
    url: Option<String>,
    sentinels: Vec<String>,
    cluster: Vec<String>,
    master: Option<String>,
    password: Option<String>,
    tls: &crate::store::RedisTls,
) -> Result<Option<Target>> {
    let given = [url.is_some(), !sentinels.is_empty(), !cluster.is_empty()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Error::Config(
            "--redis-url, --redis-sentinels and --redis-cluster: give one, the Redis, the \
             sentinels that find it, or the cluster's nodes"
                .into(),
        ));
    }
    if master.is_some() == sentinels.is_empty() {
        return Err(Error::Config(
            "--redis-sentinels and --redis-master come together: the sentinels, and the name \
             they watch the primary by"
                .into(),
        ));
    }
    if password.is_some() && sentinels.is_empty() && cluster.is_empty() {
        return Err(Error::Config(
            "--redis-password is for sentinels and clusters; a --redis-url carries its own".into(),
        ));
    }
    // The URL of a node, its host and port left out: scheme and credentials.
    let scheme = if *tls == crate::store::RedisTls::default() {
        "redis"
    } else {
        "rediss"
    };
    let auth = password.map_or(String::new(), |p| {
        // Percent-encoded: the URL carries it to the client as it is.
        let encoded: String = p
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(":{encoded}@")
    });
    let node_url = format!("{scheme}://{auth}");
    Ok(match (url, master) {
        (Some(url), _) => Some(Target::Url(url)),
        (None, Some(master)) => Some(Target::Sentinels {
            sentinels,
            master,
            url: node_url,
        }),
        (None, None) if !cluster.is_empty() => Some(Target::Cluster {
            nodes: cluster,
            url: node_url,
        }),
        (None, None) => None,
    })
}

/// The token settings, all or none: a JWKS file without the issuer and audience a token must
/// name would take tokens meant for other services.
fn jwt_files(
    jwks: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
) -> Result<Option<JwtFiles>> {
    match (jwks, issuer, audience) {
        (None, None, None) => Ok(None),
        (Some(jwks), Some(issuer), Some(audience))
            if !issuer.is_empty() && !audience.is_empty() =>
        {
            Ok(Some(JwtFiles {
                jwks,
                issuer,
                audience,
            }))
        }
        _ => Err(Error::Config(
            "--jwks, --jwt-issuer and --jwt-audience come together: the identity provider's \
             keys, and the iss and aud its tokens for bluelight carry"
                .into(),
        )),
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| Error::Config(format!("config file {}: {}", path.display(), e.message())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("bl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bluelight.toml");
        std::fs::write(
            &file,
            "centre = \"kent\"\nlisten = \"127.0.0.1:1\"\nlease_seconds = 30\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(file),
            listen: Some("127.0.0.1:2".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.listen.port(), 2);
        assert_eq!(s.store.centre, "kent");
        assert_eq!(s.lease, Duration::from_secs(30));
        assert_eq!(s.metrics_listen.port(), 9464);
    }

    #[test]
    fn sentinels_come_with_the_primary_name_and_never_with_a_url() {
        let resolve = |url: Option<&str>, sentinels: &[&str], master: Option<&str>| {
            Settings::resolve(ServeArgs {
                redis_url: url.map(str::to_owned),
                redis_sentinels: sentinels.iter().map(|s| s.to_string()).collect(),
                redis_master: master.map(str::to_owned),
                redis_password: Some("p@ss word".into()),
                ..Default::default()
            })
        };
        let s = resolve(None, &["10.0.0.1:26379", "10.0.0.2:26379"], Some("essex")).unwrap();
        assert_eq!(
            s.redis,
            Some(Target::Sentinels {
                sentinels: vec!["10.0.0.1:26379".into(), "10.0.0.2:26379".into()],
                master: "essex".into(),
                url: "redis://:p%40ss%20word@".into(),
            })
        );
        let e = resolve(None, &["10.0.0.1:26379"], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--redis-master"), "{e}");
        let e = resolve(Some("redis://x/"), &["10.0.0.1:26379"], Some("essex"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("give one"), "{e}");
        let s = Settings::resolve(ServeArgs {
            redis_cluster: vec!["10.0.0.1:7000".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            s.redis,
            Some(Target::Cluster {
                nodes: vec!["10.0.0.1:7000".into()],
                url: "redis://".into()
            })
        );
    }

    #[test]
    fn a_bad_centre_is_refused_with_what_to_use() {
        let err = Settings::resolve(ServeArgs {
            centre: Some("Essex {x}".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("lower-case"), "{err}");
    }

    #[test]
    fn tls_files_come_all_together_or_say_what_is_missing() {
        let resolve = |cert: Option<&str>, key: Option<&str>, ca: Option<&str>| {
            Settings::resolve(ServeArgs {
                tls_cert: cert.map(PathBuf::from),
                tls_key: key.map(PathBuf::from),
                client_ca: ca.map(PathBuf::from),
                ..ServeArgs::default()
            })
        };
        assert_eq!(resolve(None, None, None).unwrap().tls, None);
        // Facing the network, someone must check who connects, or the operator says not.
        let public = |ca: Option<&str>, insecure| {
            Settings::resolve(ServeArgs {
                listen: Some("0.0.0.0:50051".parse().unwrap()),
                tls_cert: ca.map(|_| PathBuf::from("c.pem")),
                tls_key: ca.map(|_| PathBuf::from("k.pem")),
                client_ca: ca.map(PathBuf::from),
                insecure,
                ..ServeArgs::default()
            })
        };
        let e = public(None, false).unwrap_err().to_string();
        assert!(e.contains("--insecure") && e.contains("--access"), "{e}");
        assert!(public(None, true).is_ok());
        // Mutual TLS alone gives no roles: every certificate could do everything.
        assert!(public(Some("ca.pem"), false).is_err());
        let with_access = Settings::resolve(ServeArgs {
            listen: Some("0.0.0.0:50051".parse().unwrap()),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            client_ca: Some("ca.pem".into()),
            access: Some("access.toml".into()),
            ..ServeArgs::default()
        });
        assert!(with_access.is_ok());
        // Tokens without TLS would cross the network in clear.
        let e = Settings::resolve(ServeArgs {
            listen: Some("0.0.0.0:50051".parse().unwrap()),
            jwks: Some("keys.json".into()),
            jwt_issuer: Some("https://idp.example".into()),
            jwt_audience: Some("bluelight".into()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("in clear"), "{e}");
        let e = Settings::resolve(ServeArgs {
            jwks: Some("keys.json".into()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--jwt-issuer"), "{e}");
        let e = Settings::resolve(ServeArgs {
            access: Some("access.toml".into()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs mutual TLS"), "{e}");
        let e = Settings::resolve(ServeArgs {
            metrics_tls: true,
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("--metrics-tls needs --tls-cert"),
            "{e}"
        );
        let s = resolve(Some("c.pem"), Some("k.pem"), Some("ca.pem")).unwrap();
        assert_eq!(s.tls.unwrap().client_ca, Some(PathBuf::from("ca.pem")));
        for (cert, key, ca, says) in [
            (Some("c.pem"), None, None, "--tls-cert needs --tls-key"),
            (None, Some("k.pem"), None, "--tls-key needs --tls-cert"),
            (None, None, Some("ca.pem"), "--client-ca needs --tls-cert"),
        ] {
            let e = resolve(cert, key, ca).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
