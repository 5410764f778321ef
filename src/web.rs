//! The browser's way in, on the gRPC port: the public's report form (`/report`) and the call
//! handler's console (`/console`), served from files embedded in the binary, and gRPC-Web for
//! their calls, with CORS for the portal origins the configuration names.
//!
//! Layers, outermost first: CORS (only with `--web-origins`), [`WebLayer`] (answers the pages'
//! GETs, which tonic-web would refuse over HTTP/1.1, and refuses calls from pages of other
//! origins), gRPC-Web translation, then the access layer, so that a refusal reaches a browser as
//! a gRPC-Web status like any other.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use tonic::body::Body;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::access::{Access, BoxFuture};
use crate::error::{Error, Result};

/// A file the pages need, embedded at build time.
struct Page {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! file {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path))
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const PAGES: &[Page] = &[
    Page {
        path: "/report",
        content_type: HTML,
        body: file!("report.html"),
    },
    Page {
        path: "/console",
        content_type: HTML,
        body: file!("console.html"),
    },
    Page {
        path: "/web/style.css",
        content_type: "text/css; charset=utf-8",
        body: file!("style.css"),
    },
    Page {
        path: "/web/report.js",
        content_type: JS,
        body: file!("dist/report.js"),
    },
    Page {
        path: "/web/console.js",
        content_type: JS,
        body: file!("dist/console.js"),
    },
];

/// The pages run only their own scripts and styles and talk only to this origin; no page may
/// frame them.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn page(path: &str) -> Option<&'static Page> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    PAGES.iter().find(|p| p.path == path)
}

fn answer(req_method: &Method, page: &Page) -> http::Response<Body> {
    let mut b = http::Response::builder();
    let status = match *req_method {
        Method::GET | Method::HEAD => StatusCode::OK,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    };
    b = b
        .status(status)
        .header(header::ALLOW, "GET, HEAD")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CONTENT_SECURITY_POLICY, CSP);
    let body = if status == StatusCode::OK {
        b = b
            .header(header::CONTENT_TYPE, page.content_type)
            .header(header::CONTENT_LENGTH, page.body.len());
        if *req_method == Method::GET {
            Body::new(http_body_util::Full::new(bytes::Bytes::from_static(
                page.body,
            )))
        } else {
            Body::empty()
        }
    } else {
        Body::empty()
    };
    b.body(body).expect("a valid response")
}

/// Answers GET and HEAD of the pages' paths, refuses calls made by pages the service does not
/// trust (see [`origin_allowed`]), and passes everything else on.
#[derive(Clone)]
pub struct WebLayer {
    origins: Arc<[HeaderValue]>,
    access: Arc<Access>,
}

impl WebLayer {
    pub fn new(origins: &[HeaderValue], access: Arc<Access>) -> WebLayer {
        WebLayer {
            origins: origins.into(),
            access,
        }
    }
}

impl<S> tower::Layer<S> for WebLayer {
    type Service = Web<S>;
    fn layer(&self, inner: S) -> Web<S> {
        Web {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Web<S> {
    inner: S,
    layer: WebLayer,
}

impl<S, B> tower::Service<http::Request<B>> for Web<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<std::result::Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if let Some(p) = page(req.uri().path()) {
            let answer = answer(req.method(), p);
            return Box::pin(async move { Ok(answer) });
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let host = req
                .uri()
                .authority()
                .map(|a| a.as_str())
                .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
                .unwrap_or("");
            if !origin_allowed(
                origin,
                host,
                &self.layer.origins,
                self.layer.access.is_open(),
            ) {
                tracing::info!(
                    path = req.uri().path(),
                    "call from a page of another origin refused"
                );
                let refused = http::Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .body(Body::empty())
                    .expect("a valid response");
                return Box::pin(async move { Ok(refused) });
            }
        }
        Box::pin(self.inner.call(req))
    }
}

/// Whether a call a browser makes from a page of `origin` to `host` may go on: from the portal
/// origins named, or from the service's own pages. Without identities, its own pages count only
/// on a loopback address: otherwise any web page whose name a resolver points at this machine
/// (DNS rebinding) would be "its own", and could work the queues of an open service.
fn origin_allowed(origin: &HeaderValue, host: &str, named: &[HeaderValue], open: bool) -> bool {
    if named.contains(origin) {
        return true;
    }
    let Some(authority) = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    }) else {
        return false;
    };
    authority.eq_ignore_ascii_case(host) && (!open || is_loopback(host))
}

/// `127.0.0.1:50051`, `localhost:50051`, `[::1]:50051`, with or without the port.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a list of portal origins (`https://report.example.org`, scheme and host, a port when
/// it is not the scheme's own, nothing after): the origins whose pages may call the API.
pub fn origins(list: &[String]) -> Result<Vec<HeaderValue>> {
    list.iter()
        .map(|o| {
            let bad = |why: &str| {
                Error::Config(format!(
                    "--web-origins: {o:?} {why}; give origins like https://report.example.org"
                ))
            };
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(|| bad("does not start with https:// or http://"))?;
            if rest.is_empty() || rest.contains(['/', '?', '#', '*', ' ']) {
                return Err(bad("is not a scheme and host with nothing after"));
            }
            HeaderValue::from_str(o).map_err(|_| bad("is not a valid header value"))
        })
        .collect()
}

/// CORS for the portal origins: the gRPC-Web headers a browser sends and may read. `None`
/// without origins: the pages bluelight serves are on its own origin and need none.
pub fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static("x-grpc-web"),
                header::HeaderName::from_static("x-user-agent"),
                header::HeaderName::from_static("grpc-timeout"),
            ])
            .expose_headers([
                header::HeaderName::from_static("grpc-status"),
                header::HeaderName::from_static("grpc-message"),
                header::HeaderName::from_static("grpc-status-details-bin"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_found_with_or_without_a_trailing_slash_and_nothing_else_is() {
        assert_eq!(page("/report").map(|p| p.path), Some("/report"));
        assert_eq!(page("/console/").map(|p| p.path), Some("/console"));
        assert!(page("/").is_none());
        assert!(page("/bluelight.v1.Intake/SubmitContact").is_none());
        assert!(page("/web/../Cargo.toml").is_none());
    }

    #[test]
    fn only_named_origins_and_the_service_s_own_pages_may_call() {
        let o = |s: &str| HeaderValue::from_str(s).unwrap();
        let named = [o("https://report.example.org")];
        let allowed =
            |origin: &str, host: &str, open: bool| origin_allowed(&o(origin), host, &named, open);
        assert!(allowed(
            "https://report.example.org",
            "bl.example.org:50051",
            false
        ));
        assert!(allowed(
            "https://report.example.org",
            "bl.example.org:50051",
            true
        ));
        // Its own pages: always with identities; open, only on loopback.
        assert!(allowed(
            "https://bl.example.org:50051",
            "bl.example.org:50051",
            false
        ));
        assert!(allowed("http://127.0.0.1:50051", "127.0.0.1:50051", true));
        assert!(allowed("http://localhost:50051", "localhost:50051", true));
        assert!(allowed("http://[::1]:50051", "[::1]:50051", true));
        // DNS rebinding: a stranger's name pointed at an open service.
        assert!(!allowed(
            "http://evil.example:50051",
            "evil.example:50051",
            true
        ));
        assert!(!allowed(
            "https://evil.example",
            "bl.example.org:50051",
            false
        ));
        assert!(!allowed("null", "127.0.0.1:50051", true));
    }

    #[test]
    fn origins_must_be_a_scheme_and_a_host() {
        assert!(origins(&["https://report.example.org".into()]).is_ok());
        assert!(origins(&["http://127.0.0.1:8080".into()]).is_ok());
        for bad in ["*", "report.example.org", "https://x.org/form", "https://"] {
            let e = origins(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains("--web-origins"), "{bad}: {e}");
        }
    }
}
