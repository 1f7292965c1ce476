//! How a successful `GET` answer goes on the wire: a strong `ETag` on every
//! one, `304 Not Modified` with no body for a caller that already holds it,
//! and the body compressed (`br`, else `gzip`) for a caller that asks, once
//! it is over 1 KiB.
//!
//! The `ETag` of a versioned object is its version (what `If-Match` takes);
//! every other answer's is a 128-bit hash of its body (xxh3: a calendar's
//! ~16 KB cost ~2 µs, SHA-256 ~8 µs of a ~70 µs request). A `304` is decided
//! after the handler ran, so the read is audited like any other: the caller
//! learnt the data is unchanged. (A calendar can be answered `304` before it
//! is read, when the store knows its tag is current: `http/scheduling.rs`.) Only `GET` answers are compressed; the
//! answers that carry tokens are all `POST`s, which keeps them clear of
//! compression side channels (BREACH).

use std::io::Write;

use bytes::Bytes;
use http_body_util::BodyExt;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

/// Bodies up to this size go as they are: compressing them saves little.
const COMPRESS_OVER: usize = 1024;

/// A content coding we produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// `resp` as a `GET` should be answered, given the request's headers.
pub async fn finish_get(method: &Method, request: &HeaderMap, resp: Response) -> Response {
    if method != Method::GET || resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::error!(error = %e, "reading an answer's body failed");
            let mut r = Response::new(Bytes::new().into());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
    };
    let etag = match parts.headers.get(header::ETAG) {
        Some(tag) => tag.clone(),
        None => {
            let tag = tag_of(&body);
            parts.headers.insert(header::ETAG, tag.clone());
            tag
        }
    };
    if none_match(request, &etag) {
        return not_modified(etag);
    }
    parts.headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if body.len() > COMPRESS_OVER
        && let Some(coding) = accepted(request)
    {
        match compress(coding, &body) {
            Ok(z) => {
                parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
                parts.headers.remove(header::CONTENT_LENGTH);
                return Response::from_parts(parts, z.into());
            }
            Err(e) => tracing::warn!(error = %e, "compressing an answer failed; sent as it is"),
        }
    }
    Response::from_parts(parts, body.into())
}

/// `304` for a caller that holds `etag`: no body, no content headers.
pub fn not_modified(etag: HeaderValue) -> Response {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    r.headers_mut().insert(header::ETAG, etag);
    r.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}

/// `"<xxh3-128 of the body, hex>"`.
pub fn tag_of(body: &[u8]) -> HeaderValue {
    let tag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body));
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 13.1.2).
pub fn none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = opaque(etag.to_str().unwrap_or_default());
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || opaque(t) == ours
    })
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The coding to answer in: `br` if the caller takes it, else `gzip`, else none.
fn accepted(request: &HeaderMap) -> Option<Coding> {
    let mut brotli = None;
    let mut gzip = None;
    let mut any = None;
    for item in
        request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    {
        let mut fields = item.split(';');
        let name = fields.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = fields
            .filter_map(|f| f.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => brotli = Some(q > 0.0),
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    let takes = |named: Option<bool>| named.or(any).unwrap_or(false);
    if takes(brotli) {
        Some(Coding::Brotli)
    } else if takes(gzip) {
        Some(Coding::Gzip)
    } else {
        None
    }
}

/// `body` in `coding`, at a level that costs about what sending it saves.
fn compress(coding: Coding, body: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Brotli => {
            let mut w = brotli::CompressorWriter::new(Vec::with_capacity(body.len() / 4), 4096, 5, 22);
            w.write_all(body)?;
            w.flush()?;
            Ok(w.into_inner())
        }
        Coding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::new(5));
            w.write_all(body)?;
            w.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn accept_encoding_prefers_brotli_and_honours_q_zero() {
        let pick = |v: &str| accepted(&headers(header::ACCEPT_ENCODING, v));
        assert_eq!(pick("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(pick("gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("*"), Some(Coding::Brotli));
        assert_eq!(pick("identity"), None);
        assert_eq!(accepted(&HeaderMap::new()), None);
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let tag = HeaderValue::from_static("\"abc\"");
        let matches = |v: &str| none_match(&headers(header::IF_NONE_MATCH, v), &tag);
        assert!(matches("\"abc\""));
        assert!(matches("W/\"abc\""));
        assert!(matches("\"x\", \"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"abd\""));
        assert!(!matches("abc"));
    }
}
