//! TLS for the gRPC and metrics listeners: a rustls server configuration built from PEM files,
//! swapped whole when the files are read again (on SIGHUP), and a stream of connections whose
//! handshakes run side by side, so that a slow or silent client holds up nobody else.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

/// How long a client may take over its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate chain, its key and (for mutual TLS) the client CAs are.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When given, a client must present a certificate signed by one of these CAs...
    pub client_ca: Option<PathBuf>,
    /// ...unless it may prove who it is another way (a bearer token): then a certificate is
    /// checked when one is presented.
    pub client_cert_optional: bool,
}

/// The protocol a listener speaks inside TLS, agreed in the handshake (ALPN).
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// gRPC.
    Http2,
    /// The metrics endpoint.
    Http1,
}

/// A listener's TLS configuration, replaced whole by [`Tls::reload`].
pub struct Tls {
    files: TlsFiles,
    protocol: Protocol,
    config: ArcSwap<ServerConfig>,
}

impl Tls {
    /// Reads the files; any problem is a configuration error naming the file.
    pub fn load(files: TlsFiles, protocol: Protocol) -> Result<Tls> {
        let config = server_config(&files, protocol)?;
        Ok(Tls {
            files,
            protocol,
            config: ArcSwap::from_pointee(config),
        })
    }

    /// Reads the files again. New connections get the new configuration; on an error the old
    /// one stays, and the error says why.
    pub fn reload(&self) -> Result<()> {
        self.config
            .store(Arc::new(server_config(&self.files, self.protocol)?));
        Ok(())
    }

    /// Whether clients must present a certificate.
    pub fn mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }
}

fn server_config(files: &TlsFiles, protocol: Protocol) -> Result<ServerConfig> {
    let bad = |path: &PathBuf, what: &str, e: &dyn std::fmt::Display| {
        Error::Config(format!("{} ({what}): {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| bad(&files.cert, "TLS certificate chain, PEM", &e))?;
    if chain.is_empty() {
        return Err(bad(
            &files.cert,
            "TLS certificate chain, PEM",
            &"no certificate in it",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| bad(&files.key, "TLS private key, PEM", &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let what = "client CA certificates, PEM";
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(path, what, &e))? {
                roots
                    .add(cert.map_err(|e| bad(path, what, &e))?)
                    .map_err(|e| bad(path, what, &e))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if files.client_cert_optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| bad(path, what, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad(&files.key, "does not match the certificate", &e))?;
    config.alpn_protocols = vec![match protocol {
        Protocol::Http2 => b"h2".to_vec(),
        Protocol::Http1 => b"http/1.1".to_vec(),
    }];
    Ok(config)
}

/// The TLS connections of `listener`: each accepted socket's handshake runs in its own task,
/// bounded by [`HANDSHAKE_TIMEOUT`]; a failed one is logged and dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<Tls>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // Until the server stops reading connections: then the listener closes.
            let accepted = tokio::select! {
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Small request/response exchanges: no Nagle delay.
            let _ = socket.set_nodelay(true);
            let acceptor = tls.acceptor();
            let sender = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// The TLS connections of a listener, for the metrics endpoint's HTTP server.
pub struct TlsListener {
    connections: tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>>,
    local: std::net::SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<Tls>) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        Ok(TlsListener {
            connections: incoming(listener, tls),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        use tokio_stream::StreamExt;
        loop {
            match self.connections.next().await {
                Some(Ok(stream)) => {
                    let peer = stream.get_ref().0.peer_addr().unwrap_or(self.local);
                    return (stream, peer);
                }
                Some(Err(_)) => continue,
                // The accepting task stops only when this listener is dropped.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
