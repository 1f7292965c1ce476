//! Each connection's bytes on their way to hyper: request heads judged,
//! slow clients timed out, and every refusal answered the way the API
//! answers everything (problem+json with the security headers).
//!
//! Why here and not in hyper: hyper answers a request head it cannot parse
//! (a bad request line, a target that is not a URI, conflicting
//! `Content-Length`, too many or too large header fields, a long target)
//! with a bare `400`/`414`/`431` of its own that no service ever sees, and
//! hyper 1 has no idle keep-alive or body timeout. So [`Wire`] sits between
//! the socket (or TLS stream) and hyper and hands hyper a request head only
//! once it is complete and passes the same checks hyper's parser makes (the
//! same `httparse`, stricter limits); a head that fails gets our answer and
//! the connection ends, so hyper never has anything to refuse. To find where
//! the next head starts it follows each body's framing (`Content-Length`, or
//! chunked), which is all of HTTP/1.1's request framing. The alternative of
//! rewriting hyper's answers on the way out would mean parsing responses,
//! whose framing depends on the request (`HEAD`), so reading is the side to
//! guard. Requests that pass go through byte for byte.
//!
//! Refusals are written when hyper closes the connection: [`Wire`] reports
//! end of input after the last good request, hyper finishes the answers it
//! owes and shuts the connection down, and the refusal goes out then, after
//! them, in order.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::http::metrics;

/// Longest request head (request line and header fields) taken.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request target taken (`414` beyond). No route of the API needs
/// more than a few hundred bytes.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// Most header fields taken in one request (`431` beyond); hyper's own limit.
pub const MAX_HEADERS: usize = 100;
/// How long a connection that was refused may take to read its answer.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes read and dropped after a refusal, so closing does not reset the
/// connection before the client has read the answer.
const LINGER_BYTES: usize = 1024 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a request head's first byte (or from connecting, for the first
    /// request) to its end.
    pub header_timeout: Duration,
    /// From the end of a request head to the end of its body.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// What the service tells the connection: whether it is answering a
/// request (then the connection is not idle, however long that takes).
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// When the last answer was made, in milliseconds since `epoch`.
    last_done_ms: AtomicU64,
    /// The reader waiting for the answers to be made (its clock does not
    /// run while the service works).
    waiting: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
            waiting: std::sync::Mutex::new(None),
        })
    }

    /// Marks a request as being answered until the guard drops.
    pub fn begin(self: &Arc<Self>) -> Answering {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Answering(self.clone())
    }

    /// Whether the service is answering; if so, `cx` is woken when it is done.
    fn busy(&self, cx: &mut Context<'_>) -> bool {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            return false;
        }
        if let Ok(mut w) = self.waiting.lock() {
            *w = Some(cx.waker().clone());
        }
        // Re-checked: an answer finished before the waker was stored wakes no one.
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn last_done(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed))
    }
}

/// A request being answered (see [`Activity::begin`]).
pub struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_done_ms.store(ms, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(w) = self.0.waiting.lock().ok().and_then(|mut w| w.take()) {
            w.wake();
        }
    }
}

/// Where the reader is in the stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head; `since` is its first byte.
    Head { since: Option<Instant> },
    /// A `Content-Length` body with `left` bytes to come.
    Body { left: u64, since: Instant },
    /// A chunked body.
    Chunked { at: Chunk, since: Instant },
    /// Framing this reader cannot follow (a malformed chunk): hyper reads the
    /// rest, fails on the same bytes, and closes without answering.
    Through,
    /// No more requests: refused, timed out, or the client closed.
    Done,
}

/// Where in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The size line: its value so far, digits seen, past the digits.
    Size {
        size: u64,
        digits: u8,
        past: bool,
    },
    Data {
        left: u64,
    },
    /// The CRLF after a chunk's data.
    DataEnd {
        left: u8,
    },
    /// Trailer lines after the last chunk; `len` of the current one.
    Trailer {
        len: usize,
    },
}

/// How a judged head's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

/// What a request head's bytes so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Partial,
    Complete { len: usize, framing: Framing },
    Refuse(Refusal),
}

/// A refused request: its status and the reason the client reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub detail: &'static str,
}

const fn refuse(status: u16, detail: &'static str) -> Verdict {
    Verdict::Refuse(Refusal { status, detail })
}

/// Judges the bytes of a request head received so far.
fn judge(head: &[u8]) -> Verdict {
    let first_line = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    // Method, two spaces and `HTTP/1.1\r\n` take less than 64 bytes more.
    if first_line > MAX_TARGET_BYTES + 64 {
        return refuse(414, "the request target is longer than 8 KiB");
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(head) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(_) if head.len() >= MAX_HEAD_BYTES => {
            return refuse(431, "the request head is larger than 64 KiB");
        }
        Ok(httparse::Status::Partial) => return Verdict::Partial,
        Ok(httparse::Status::Complete(_)) => return refuse(431, "the request head is larger than 64 KiB"),
        Err(httparse::Error::TooManyHeaders) => return refuse(431, "a request may carry at most 100 header fields"),
        Err(httparse::Error::Version) => return refuse(400, "the request line must end in HTTP/1.1 or HTTP/1.0"),
        Err(httparse::Error::Token) if req.method.is_none() => return refuse(400, "the request method is malformed"),
        Err(httparse::Error::Token) => return refuse(400, "the request target is malformed"),
        Err(_) => return refuse(400, "the request head is malformed"),
    };
    match check_head(&req) {
        Ok(framing) => Verdict::Complete { len, framing },
        Err(refusal) => Verdict::Refuse(refusal),
    }
}

/// What hyper would refuse after parsing, and what RFC 9112 asks servers to.
fn check_head(req: &httparse::Request<'_, '_>) -> Result<Framing, Refusal> {
    let bad = |detail| Refusal { status: 400, detail };
    // httparse lets bytes above 0x7f through in the target; a URI has none.
    let target = req.path.map(str::as_bytes).unwrap_or_default();
    if target.len() > MAX_TARGET_BYTES {
        return Err(Refusal { status: 414, detail: "the request target is longer than 8 KiB" });
    }
    if warp::http::Uri::try_from(target).is_err() {
        return Err(bad("the request target is not a valid URI (percent-encode anything but ASCII)"));
    }
    let http11 = req.version == Some(1);
    let named = |name: &'static str| req.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name));
    // RFC 9112 3.2: exactly one Host in HTTP/1.1; HTTP/1.0 may have none.
    let hosts = named("host").count();
    if (http11 && hosts != 1) || hosts > 1 {
        return Err(bad("an HTTP/1.1 request must carry exactly one Host header field"));
    }
    let mut length = None;
    for h in named("content-length") {
        let n = digits(h.value).ok_or_else(|| bad("Content-Length must be a decimal number"))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("conflicting Content-Length header fields"));
        }
        length = Some(n);
    }
    let Some(coding) = named("transfer-encoding").next_back() else {
        return Ok(length.map_or(Framing::Empty, Framing::Length));
    };
    if !http11 {
        return Err(bad("HTTP/1.0 has no Transfer-Encoding"));
    }
    // RFC 9112 6.3: either may be used to smuggle a second request past a
    // proxy that reads the other one.
    if length.is_some() {
        return Err(bad("a request may not carry both Transfer-Encoding and Content-Length"));
    }
    let last = coding.value.rsplit(|b| *b == b',').next().unwrap_or_default();
    if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
        return Err(bad("Transfer-Encoding must end in chunked"));
    }
    Ok(Framing::Chunked)
}

/// A decimal number of ASCII digits only (no sign, no list), as hyper reads it.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// Why a connection ended early, for the metrics.
#[derive(Debug, Clone, Copy)]
enum Timeout {
    Header,
    Body,
    Idle,
}

/// A connection's IO with the request heads judged and the clock kept (see
/// the module's comment).
pub struct Wire<IO> {
    io: IO,
    limits: Limits,
    tls: bool,
    activity: Arc<Activity>,
    /// Bytes read and not yet handed to hyper: `buf[start..cleared]` are
    /// judged and may go, `buf[cleared..]` are not judged yet.
    buf: Vec<u8>,
    start: usize,
    cleared: usize,
    /// `buf[cleared..cleared + judged]` held no complete head when last judged.
    judged: usize,
    phase: Phase,
    requests: u64,
    accepted: Instant,
    idle_since: Instant,
    last_write: Instant,
    timer: Pin<Box<Sleep>>,
    /// The refusal to write when hyper closes, and how much of it is out.
    answer: Option<(Vec<u8>, usize)>,
    /// After a refusal: when to stop reading and dropping what comes.
    linger: Option<(Instant, usize)>,
}

impl<IO> Wire<IO> {
    pub fn new(io: IO, limits: Limits, tls: bool, activity: Arc<Activity>) -> Self {
        let now = Instant::now();
        Wire {
            io,
            limits,
            tls,
            activity,
            buf: Vec::new(),
            start: 0,
            cleared: 0,
            judged: 0,
            phase: Phase::Head { since: None },
            requests: 0,
            accepted: now,
            idle_since: now,
            last_write: now,
            timer: Box::pin(tokio::time::sleep_until(now + limits.header_timeout)),
            answer: None,
            linger: None,
        }
    }

    /// Judges and frames what has been read, clearing whole heads and the
    /// body bytes that follow them.
    fn advance(&mut self) {
        while self.cleared < self.buf.len() {
            let progressed = match self.phase {
                Phase::Head { since } => self.advance_head(since),
                Phase::Body { left, since } => {
                    let take = left.min((self.buf.len() - self.cleared) as u64);
                    self.cleared += take as usize;
                    self.phase = if take == left { self.next_head() } else { Phase::Body { left: left - take, since } };
                    true
                }
                Phase::Chunked { at, since } => {
                    self.advance_chunked(at, since);
                    true
                }
                Phase::Through => {
                    self.cleared = self.buf.len();
                    true
                }
                Phase::Done => {
                    self.buf.truncate(self.cleared);
                    false
                }
            };
            if !progressed {
                break;
            }
        }
    }

    fn next_head(&mut self) -> Phase {
        self.idle_since = Instant::now();
        Phase::Head { since: None }
    }

    /// Returns whether the head was decided (complete or refused).
    fn advance_head(&mut self, since: Option<Instant>) -> bool {
        let now = Instant::now();
        let since = since.unwrap_or(now);
        self.phase = Phase::Head { since: Some(since) };
        let pending = &self.buf[self.cleared..];
        // A head can only become complete at a line end: a client sending a
        // byte at a time does not get a parse per byte.
        let fresh = &pending[self.judged.min(pending.len())..];
        let over = pending.len() >= MAX_HEAD_BYTES || pending.len() > MAX_TARGET_BYTES + 64;
        if !fresh.contains(&b'\n') && !over {
            self.judged = pending.len();
            return false;
        }
        match judge(pending) {
            Verdict::Partial => {
                self.judged = pending.len();
                false
            }
            Verdict::Complete { len, framing } => {
                self.cleared += len;
                self.judged = 0;
                self.requests += 1;
                self.phase = match framing {
                    Framing::Empty => self.next_head(),
                    Framing::Length(0) => self.next_head(),
                    Framing::Length(left) => Phase::Body { left, since: now },
                    Framing::Chunked => {
                        Phase::Chunked { at: Chunk::Size { size: 0, digits: 0, past: false }, since: now }
                    }
                };
                true
            }
            Verdict::Refuse(refusal) => {
                self.refuse(&refusal);
                true
            }
        }
    }

    /// Follows a chunked body over the unjudged bytes.
    fn advance_chunked(&mut self, mut at: Chunk, since: Instant) {
        while self.cleared < self.buf.len() {
            if let Chunk::Data { left } = at {
                let take = left.min((self.buf.len() - self.cleared) as u64);
                self.cleared += take as usize;
                at = if take == left { Chunk::DataEnd { left: 2 } } else { Chunk::Data { left: left - take } };
                continue;
            }
            let b = self.buf[self.cleared];
            self.cleared += 1;
            match next_chunk_state(at, b) {
                Some(Some(next)) => at = next,
                Some(None) => {
                    self.phase = self.next_head();
                    return;
                }
                None => {
                    self.phase = Phase::Through;
                    return;
                }
            }
        }
        self.phase = Phase::Chunked { at, since };
    }

    /// Ends the stream of requests with `refusal` as the last answer.
    fn refuse(&mut self, refusal: &Refusal) {
        metrics::protocol_error(refusal.status);
        tracing::info!(status = refusal.status, reason = refusal.detail, "request refused before parsing");
        self.answer = Some((answer(refusal.status, refusal.detail, self.tls), 0));
        self.buf.truncate(self.cleared);
        self.phase = Phase::Done;
    }

    /// When the current wait ends, and what it is.
    fn deadline(&self, cx: &mut Context<'_>) -> Option<(Instant, Timeout)> {
        let l = &self.limits;
        match self.phase {
            Phase::Head { since: Some(since) } => Some((since + l.header_timeout, Timeout::Header)),
            Phase::Head { since: None } if self.activity.busy(cx) => None,
            Phase::Head { since: None } if self.requests == 0 => {
                Some((self.accepted + l.header_timeout, Timeout::Header))
            }
            Phase::Head { since: None } => {
                let quiet = self.idle_since.max(self.last_write).max(self.activity.last_done());
                Some((quiet + l.idle_timeout, Timeout::Idle))
            }
            Phase::Body { since, .. } | Phase::Chunked { since, .. } => Some((since + l.body_timeout, Timeout::Body)),
            Phase::Through | Phase::Done => None,
        }
    }

    /// Checks the clock while a read waits: `Some` ends the read.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<io::Result<()>> {
        let (at, what) = self.deadline(cx)?;
        if self.timer.deadline() != at {
            self.timer.as_mut().reset(at);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return None;
        }
        metrics::timed_out(match what {
            Timeout::Header => "header",
            Timeout::Body => "body",
            Timeout::Idle => "idle",
        });
        match what {
            // Nothing of a request came: close without a word.
            Timeout::Header if self.buf.len() == self.cleared => {
                self.phase = Phase::Done;
                Some(Ok(()))
            }
            Timeout::Idle => {
                self.phase = Phase::Done;
                Some(Ok(()))
            }
            Timeout::Header => {
                self.refuse(&Refusal { status: 408, detail: "the request head did not arrive in time" });
                Some(Ok(()))
            }
            // The service is reading this body: it sees a failed read.
            Timeout::Body => {
                self.phase = Phase::Done;
                Some(Err(io::Error::new(io::ErrorKind::TimedOut, "the request body did not arrive in time")))
            }
        }
    }
}

/// The chunk state after byte `b`: `Some(Some(next))` goes on, `Some(None)`
/// ends the body, `None` is framing this reader does not follow.
fn next_chunk_state(at: Chunk, b: u8) -> Option<Option<Chunk>> {
    Some(Some(match at {
        Chunk::Size { size, digits, past: false } if b.is_ascii_hexdigit() => {
            if digits >= 15 {
                return None;
            }
            let digit = u64::from(char::from(b).to_digit(16)?);
            Chunk::Size { size: size * 16 + digit, digits: digits + 1, past: false }
        }
        Chunk::Size { digits: 0, .. } => return None,
        Chunk::Size { size: 0, .. } if b == b'\n' => Chunk::Trailer { len: 0 },
        Chunk::Size { size, .. } if b == b'\n' => Chunk::Data { left: size },
        // Extensions and the CR: skipped up to the line end.
        Chunk::Size { size, digits, .. } => Chunk::Size { size, digits, past: true },
        Chunk::Data { left } => Chunk::Data { left },
        Chunk::DataEnd { left: 1 } => Chunk::Size { size: 0, digits: 0, past: false },
        Chunk::DataEnd { left } => Chunk::DataEnd { left: left - 1 },
        Chunk::Trailer { len: 0 } if b == b'\n' => return Some(None),
        Chunk::Trailer { .. } if b == b'\n' => Chunk::Trailer { len: 0 },
        Chunk::Trailer { len } if b == b'\r' => Chunk::Trailer { len },
        Chunk::Trailer { len } => Chunk::Trailer { len: len + 1 },
    }))
}

/// A complete answer with the security headers and a problem+json body, for
/// answers written below hyper; the connection closes after it.
pub fn answer(status: u16, detail: &str, tls: bool) -> Vec<u8> {
    let body = serde_json::to_vec(&healthsynx_shared::Problem::new(status, detail)).unwrap_or_default();
    let reason = warp::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\ndate: {date}\r\nx-request-id: {}\r\n",
        body.len(),
        uuid::Uuid::now_v7()
    );
    for (name, value) in crate::http::security_headers(tls) {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

impl<IO: AsyncRead + Unpin> Wire<IO> {
    /// Reads more from the client into `buf`.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start > 0 && self.start == self.cleared {
            self.buf.drain(..self.start);
            self.cleared -= self.start;
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let mut read = ReadBuf::new(&mut self.buf[old..]);
        let result = Pin::new(&mut self.io).poll_read(cx, &mut read);
        let n = read.filled().len();
        self.buf.truncate(old + n);
        result.map_ok(|()| n)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Wire<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.start < this.cleared {
                let n = out.remaining().min(this.cleared - this.start);
                out.put_slice(&this.buf[this.start..this.start + n]);
                this.start += n;
                return Poll::Ready(Ok(()));
            }
            if this.phase == Phase::Done {
                // hyper drops an answer it owes when its input ends first.
                if this.activity.busy(cx) {
                    return Poll::Pending;
                }
                return Poll::Ready(Ok(()));
            }
            match this.poll_fill(cx) {
                Poll::Ready(Ok(0)) => {
                    // The client closed; a half-sent head goes nowhere.
                    this.phase = Phase::Done;
                    this.buf.truncate(this.cleared);
                }
                Poll::Ready(Ok(_)) => this.advance(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return match this.poll_deadline(cx) {
                        Some(result) => Poll::Ready(result),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Wire<IO> {
    /// Writes the refusal, if any, after everything hyper wrote.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.answer {
            if *sent == bytes.len() {
                self.answer = None;
                self.linger = Some((Instant::now() + LINGER, 0));
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// After a refusal: reads and drops what the client still sends, for a
    /// moment, so that closing does not reset the connection under its
    /// unread answer.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((until, mut dropped)) = self.linger else { return Poll::Ready(()) };
        if self.timer.deadline() != until {
            self.timer.as_mut().reset(until);
        }
        while dropped < LINGER_BYTES {
            self.buf.clear();
            self.start = 0;
            self.cleared = 0;
            match self.poll_fill(cx) {
                Poll::Ready(Ok(n)) if n > 0 => dropped += n,
                Poll::Pending if self.timer.as_mut().poll(cx).is_pending() => {
                    self.linger = Some((until, dropped));
                    return Poll::Pending;
                }
                _ => break,
            }
        }
        self.linger = None;
        Poll::Ready(())
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Wire<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        self.last_write = Instant::now();
        Pin::new(&mut self.io).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.last_write = Instant::now();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.answer.is_some() {
            ready!(this.poll_answer(cx))?;
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        }
        ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &[u8]) -> Option<u16> {
        match judge(head) {
            Verdict::Refuse(r) => Some(r.status),
            _ => None,
        }
    }

    #[test]
    fn heads_hyper_would_answer_itself_are_refused_here() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
        assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), None, "HTTP/1.0 needs no Host");
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), Some(400), "no Host");
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Some(400), "two Hosts");
        assert_eq!(status(b"GARBAGE\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET /\xc3\x28 HTTP/1.1\r\nHost: a\r\n\r\n"), Some(400), "not UTF-8, not a URI");
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), Some(400));
        let cl = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(status(cl), Some(400), "conflicting lengths");
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"), Some(400));
        let both = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(both), Some(400), "smuggling shape");
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), Some(400));
        assert_eq!(status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), Some(400));
        let long = [b"GET /?".as_slice(), &vec![b'a'; MAX_TARGET_BYTES + 100]].concat();
        assert_eq!(status(&long), Some(414), "long target, even before the line ends");
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(&many), Some(431));
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        big.extend_from_slice(format!("x: {}\r\n", "a".repeat(MAX_HEAD_BYTES)).as_bytes());
        assert_eq!(status(&big), Some(431));
        assert_eq!(judge(b"GET / HTTP/1.1\r\nHost: a\r\n"), Verdict::Partial);
        let post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(judge(post), Verdict::Complete { len: post.len(), framing: Framing::Length(5) });
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(judge(chunked), Verdict::Complete { len: chunked.len(), framing: Framing::Chunked });
    }

    #[test]
    fn a_chunked_body_ends_where_hyper_ends_it() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\n";
        let mut at = Chunk::Size { size: 0, digits: 0, past: false };
        let mut i = 0;
        while i < body.len() {
            if let Chunk::Data { left } = at {
                i += left as usize;
                at = Chunk::DataEnd { left: 2 };
                continue;
            }
            match next_chunk_state(at, body[i]).unwrap() {
                Some(next) => at = next,
                None => {
                    assert_eq!(i, body.len() - 1, "ends on the last byte");
                    return;
                }
            }
            i += 1;
        }
        panic!("the body did not end");
    }
}
