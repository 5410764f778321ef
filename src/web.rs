//! The browser's way in, on the gRPC port: the public's report form (`/report`) and the call
//! handler's console (`/console`), served from files embedded in the binary, and gRPC-Web for
//! their calls, with CORS for the portal origins the configuration names.
//!
//! Layers, outermost first: CORS (only with `--web-origins`), [`PagesLayer`] (answers the pages'
//! GETs, which tonic-web would refuse over HTTP/1.1), gRPC-Web translation, then the access
//! layer, so that a refusal reaches a browser as a gRPC-Web status like any other.

use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use tonic::body::Body;
use tower_http::cors::{AllowOrigin, CorsLayer};

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
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
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

/// Answers GET and HEAD of the pages' paths; passes everything else on.
#[derive(Clone, Copy)]
pub struct PagesLayer;

impl<S> tower::Layer<S> for PagesLayer {
    type Service = Pages<S>;
    fn layer(&self, inner: S) -> Pages<S> {
        Pages(inner)
    }
}

#[derive(Clone)]
pub struct Pages<S>(S);

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Pages<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<std::result::Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match page(req.uri().path()) {
            Some(p) => {
                let answer = answer(req.method(), p);
                Box::pin(async move { Ok(answer) })
            }
            None => Box::pin(self.0.call(req)),
        }
    }
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
    fn origins_must_be_a_scheme_and_a_host() {
        assert!(origins(&["https://report.example.org".into()]).is_ok());
        assert!(origins(&["http://127.0.0.1:8080".into()]).is_ok());
        for bad in ["*", "report.example.org", "https://x.org/form", "https://"] {
            let e = origins(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains("--web-origins"), "{bad}: {e}");
        }
    }
}
