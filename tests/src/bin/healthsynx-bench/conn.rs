//! A lean HTTP/1 client: one keep-alive hyper connection per simulated
//! client, counting the bytes it reads off the socket.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use healthsynx_shared::api::RouteId;

use crate::seed::PASSWORD;

/// One answer, and what it cost on the wire.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Bytes read off the socket for this answer: status line, headers,
    /// body and any chunk framing. Exact, because a connection carries one
    /// request at a time and the server sends nothing unasked.
    pub wire_bytes: u64,
}

/// One keep-alive HTTP/1 connection.
pub struct Conn {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
    received: Arc<AtomicU64>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await.context("connect")?;
        stream.set_nodelay(true).context("nodelay")?;
        let received = Arc::new(AtomicU64::new(0));
        let io = Counted { inner: stream, received: received.clone() };
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.context("handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { tx, host: addr.to_string(), received })
    }

    pub async fn send(
        &mut self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Answer> {
        self.send_with(method, uri, token, body, &[]).await
    }

    /// [`Conn::send`] with more request headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        headers: &[(HeaderName, &str)],
    ) -> Result<Answer> {
        self.tx.ready().await.context("connection")?;
        let mut b = hyper::Request::builder().method(method).uri(uri).header(HOST, &self.host);
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            b = b.header(name, *value);
        }
        let req = b.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default()))).context("request")?;
        let before = self.received.load(Ordering::Relaxed);
        let resp = self.tx.send_request(req).await.context("send")?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.context("body")?.to_bytes();
        let wire_bytes = self.received.load(Ordering::Relaxed) - before;
        Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body, wire_bytes })
    }
}

/// A socket that counts what it reads.
struct Counted {
    inner: TcpStream,
    received: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.received.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Logs `email` in; its access token.
pub async fn login(addr: SocketAddr, email: &str) -> Result<String> {
    let mut c = Conn::open(addr).await?;
    let body = serde_json::json!({ "email": email, "password": PASSWORD }).to_string();
    let a = c.send(Method::POST, &RouteId::JwtCreate.path(&[]), None, Some(body.as_bytes())).await?;
    if a.status != 200 {
        bail!("login {email}: {} {}", a.status, String::from_utf8_lossy(&a.body));
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body).context("login answer")?;
    Ok(v["access"].as_str().context("access token")?.to_owned())
}
