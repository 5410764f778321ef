//! Assembles the gRPC services and runs them: `serve(app, listener, shutdown)`, and `run`, which
//! brings up everything `bluelight serve` needs from its settings.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::access::{Access, AccessLayer};
use crate::api::{DispatchService, IntakeService, OperationsService};
use crate::app::{App, LeasePolicy, Sources};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::proto::{
    FILE_DESCRIPTOR_SET, dispatch_server::DispatchServer, intake_server::IntakeServer,
    operations_server::OperationsServer,
};
use crate::store::{ManagedRedis, Store, Supervise, Target};
use crate::telemetry;
use crate::tls::{Protocol, Tls};

/// The largest request message accepted: a contact's narrative is at most 8 KiB, and answers,
/// location and ids add little; anything near this is an abuse of memory, refused before it is
/// read (`OUT_OF_RANGE`).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Streams one connection may have open at once (a console watching several desks needs a few).
const MAX_STREAMS_PER_CONNECTION: u32 = 128;
/// The most header bytes a request may carry.
const MAX_HEADER_BYTES: u32 = 16 * 1024;
/// An idle connection is pinged this often, and dropped when a ping goes unanswered this long:
/// a vanished client holds nothing for long.
const KEEPALIVE: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the gRPC API on `listener` (over TLS when `tls` is given), every method behind
/// `access`, to browsers too (gRPC-Web, CORS for `web_origins`, and the pages), until `shutdown` completes; then reports NOT_SERVING, stops accepting, and lets
/// requests in flight finish for at most `drain`.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    access: Arc<Access>,
    web_origins: &[http::HeaderValue],
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IntakeServer<IntakeService>>().await;
    health
        .set_serving::<DispatchServer<DispatchService>>()
        .await;
    health
        .set_serving::<OperationsServer<OperationsService>>()
        .await;
    let reflection = if access.reflection() {
        Some(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()
                .map_err(|e| Error::Internal(format!("reflection: {e}")))?,
        )
    } else {
        None
    };

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let router = Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_max_header_list_size(MAX_HEADER_BYTES)
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(KEEPALIVE))
        // Browsers speak HTTP/1.1 to a server without TLS.
        .accept_http1(true)
        .layer(tower::util::option_layer(crate::web::cors(web_origins)))
        .layer(crate::web::WebLayer::new(web_origins, access.clone()))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(AccessLayer(access))
        .add_service(health_service)
        .add_optional_service(reflection)
        .add_service(
            IntakeServer::new(IntakeService(app.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            DispatchServer::new(DispatchService(app.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            OperationsServer::new(OperationsService(app.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        );
    let stopped = async {
        let _ = stop_rx.await;
    };
    let server: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match tls {
        Some(tls) => Box::pin(
            router.serve_with_incoming_shutdown(crate::tls::incoming(listener, tls), stopped),
        ),
        // Small request/response exchanges: no Nagle delay.
        None => Box::pin(router.serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopped,
        )),
    };
    let mut server = server;

    tokio::select! {
        r = &mut server => return r.map_err(|e| Error::Internal(format!("grpc server: {e}"))),
        _ = shutdown => {}
    }
    tracing::info!(
        drain_s = drain.as_secs(),
        "shutting down: not serving, draining"
    );
    health
        .set_not_serving::<IntakeServer<IntakeService>>()
        .await;
    health
        .set_not_serving::<DispatchServer<DispatchService>>()
        .await;
    health
        .set_not_serving::<OperationsServer<OperationsService>>()
        .await;
    app.stop_waiting();
    let _ = stop_tx.send(());
    match tokio::time::timeout(drain, server).await {
        Ok(r) => r.map_err(|e| Error::Internal(format!("grpc server: {e}"))),
        Err(_) => {
            tracing::warn!("drain time over; closing the remaining connections");
            Ok(())
        }
    }
}

/// Everything `bluelight serve` does: Redis (managed or given), the configuration, the upkeep
/// task, the metrics endpoint and the gRPC server, until `shutdown` completes. `reload` fires on
/// SIGHUP.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut reload: tokio::sync::mpsc::Receiver<()>,
) -> Result<()> {
    let managed = match &settings.redis {
        Some(_) => None,
        None => {
            let m = ManagedRedis::start(&settings.data_dir, Supervise::Restart).await?;
            // Never the URL: it holds the password.
            tracing::info!(port = m.port(), dir = %m.dir().display(), "started managed redis-server");
            Some(m)
        }
    };
    let target = settings
        .redis
        .clone()
        .or_else(|| managed.as_ref().map(|m| Target::Url(m.url())))
        .expect("one of the two");
    let result = run_with_redis(&settings, &target, shutdown, &mut reload).await;
    if let Some(m) = managed {
        m.stop().await;
    }
    result
}

async fn run_with_redis(
    settings: &Settings,
    target: &Target,
    shutdown: impl Future<Output = ()> + Send + 'static,
    reload: &mut tokio::sync::mpsc::Receiver<()>,
) -> Result<()> {
    telemetry::metrics_handle();
    let store = Store::connect_to(target, settings.store.clone()).await?;
    match store.maxmemory_policy().await? {
        Some(p) if p == "noeviction" => {}
        Some(p) => tracing::warn!(
            policy = %p,
            "REDIS maxmemory-policy IS NOT noeviction: Redis may evict live incidents under memory pressure; set it to noeviction"
        ),
        None => tracing::warn!("cannot read redis maxmemory-policy; make sure it is noeviction"),
    }
    let app = Arc::new(
        App::new(
            store,
            Sources {
                rules: settings.rules.clone(),
                desks: settings.desks.clone(),
            },
            LeasePolicy {
                default: settings.lease,
                max: settings.max_lease,
            },
        )?
        .with_shedding(settings.shedding),
    );
    let access = Arc::new(Access::load(
        settings.access.clone(),
        app.limits().clone(),
        settings.reflection,
    )?);
    let _ = app.refresh_load().await;
    let load = |protocol| -> Result<Option<Arc<Tls>>> {
        let mut files = settings.tls.clone();
        // Tokens are for gRPC: with client CAs, /metrics always wants a certificate.
        if let (Some(f), Protocol::Http1) = (&mut files, protocol) {
            f.client_cert_optional = false;
        }
        Ok(files
            .map(|f| Tls::load(f, protocol))
            .transpose()?
            .map(Arc::new))
    };
    let tls = load(Protocol::Http2)?;
    let metrics_tls = if settings.metrics_tls {
        load(Protocol::Http1)?
    } else {
        None
    };

    let grpc = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let metrics = telemetry::bind(settings.metrics_listen).await?;
    tracing::info!(
        grpc = %settings.listen,
        tls = match &tls {
            None => "off",
            Some(t) if t.mutual() => "mutual",
            Some(_) => "on",
        },
        metrics = %settings.metrics_listen,
        metrics_tls = metrics_tls.is_some(),
        identities = match (&settings.access.jwks, &settings.access.access) {
            (None, None) => "none: open to every caller",
            (Some(_), None) => "bearer tokens",
            (None, Some(_)) => "client certificates",
            (Some(_), Some(_)) => "bearer tokens and client certificates",
        },
        centre = %settings.store.centre,
        "bluelight serving"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let upkeep = tokio::spawn(app.clone().run_upkeep(stop_rx.clone()));
    let follower = tokio::spawn(app.clone().follow_desk_status(stop_rx.clone()));
    let mut metrics_stop = stop_rx.clone();
    let metrics_task = tokio::spawn(telemetry::serve_metrics(
        metrics,
        metrics_tls.clone(),
        async move {
            let _ = metrics_stop.changed().await;
        },
    ));
    let reloader = {
        let app = app.clone();
        let access = access.clone();
        let tls: Vec<Arc<Tls>> = tls.iter().chain(&metrics_tls).cloned().collect();
        let mut stop = stop_rx;
        let mut reload = std::mem::replace(reload, tokio::sync::mpsc::channel(1).1);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = reload.recv() => {
                        let _ = app.reload();
                        if let Err(e) = access.reload() {
                            tracing::error!(error = %e, "identity files not reloaded; keeping the ones in use");
                        }
                        for t in &tls {
                            if let Err(e) = t.reload() {
                                tracing::error!(error = %e, "TLS files not reloaded; keeping the ones in use");
                            }
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        })
    };

    let result = serve(
        app,
        grpc,
        tls,
        access,
        &settings.web_origins,
        shutdown,
        settings.drain,
    )
    .await;
    let _ = stop_tx.send(true);
    let _ = tokio::join!(upkeep, follower, metrics_task, reloader);
    result
}
