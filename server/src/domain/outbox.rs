//! The outbox: each event is written, one delivery per subscribed webhook,
//! in the transaction of the change it announces, so there is no event
//! without its change and no change without its event. A worker in every
//! server process takes due deliveries (on PostgreSQL passing over those
//! another process holds), posts them signed in the Standard Webhooks
//! format, and retries failures with exponential backoff and jitter until
//! `retry_for` has passed; then the delivery is dead until retried by hand.
//! Payloads carry ids, times and first names only, never clinical text.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use healthsynx_shared::{DeliveryStatus, EventType};

use super::State;
use crate::error::Result;
use crate::store::{AppointmentRow, DeliveryRow, Tx, WebhookRow};

/// Deliveries one worker round takes at most.
const ROUND: usize = 128;
/// The longest wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long an idle worker waits before looking again (other processes'
/// events; this process's own wake it at once).
const IDLE: Duration = Duration::from_secs(1);

/// The active webhooks that want `event`.
async fn subscribers(tx: &mut (dyn Tx + '_), event: EventType) -> Result<Vec<WebhookRow>> {
    let mut hooks = tx.webhooks().await?;
    hooks.retain(|h| h.active && h.events.contains(&event));
    Ok(hooks)
}

/// Queues `event` with `data` for each of `hooks` in `tx`.
async fn queue(
    tx: &mut (dyn Tx + '_),
    hooks: Vec<WebhookRow>,
    event: EventType,
    now: Timestamp,
    data: Value,
) -> Result<bool> {
    let event_id = Uuid::now_v7();
    let queued = !hooks.is_empty();
    for h in hooks {
        tx.put_delivery(&DeliveryRow {
            id: Uuid::now_v7(),
            webhook_id: h.id,
            event_id,
            event_type: event,
            created_at: now,
            data: data.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            window_from: now,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
        })
        .await?;
    }
    Ok(queued)
}

/// The first name of a patient's account: all an event says of them.
pub async fn first_name(tx: &mut (dyn Tx + '_), patient: Uuid) -> Result<Option<String>> {
    let Some(p) = tx.patient(patient).await? else { return Ok(None) };
    let user = tx.user(p.user_id).await?;
    Ok(user.and_then(|u| u.full_name.split_whitespace().next().map(str::to_owned)))
}

/// An appointment event's data: ids, times, status and the patient's
/// first name (no reason, no full name).
pub async fn appointment_data(tx: &mut (dyn Tx + '_), row: &AppointmentRow) -> Result<Value> {
    Ok(json!({
        "appointment_id": row.id,
        "patient_id": row.patient_id,
        "patient_first_name": first_name(tx, row.patient_id).await?,
        "doctor_id": row.doctor_id,
        "department": row.department,
        "start": row.start,
        "end": row.end,
        "status": row.status,
        "type_id": row.type_id,
    }))
}

/// Queues an appointment event, `extra` fields merged into its data;
/// whether anyone listens.
pub async fn emit_appointment(
    tx: &mut (dyn Tx + '_),
    event: EventType,
    row: &AppointmentRow,
    now: Timestamp,
    extra: Value,
) -> Result<bool> {
    let hooks = subscribers(tx, event).await?;
    if hooks.is_empty() {
        return Ok(false);
    }
    let mut data = appointment_data(tx, row).await?;
    if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    queue(tx, hooks, event, now, data).await
}

/// Queues `invoice.issued` (number and total, no lines: their text may be clinical).
pub async fn emit_invoice_issued(
    tx: &mut (dyn Tx + '_),
    row: &crate::store::InvoiceRow,
    now: Timestamp,
) -> Result<bool> {
    let hooks = subscribers(tx, EventType::InvoiceIssued).await?;
    if hooks.is_empty() {
        return Ok(false);
    }
    let data = json!({
        "invoice_id": row.id,
        "number": row.number,
        "patient_id": row.patient_id,
        "patient_first_name": first_name(tx, row.patient_id).await?,
        "total": row.total(),
        "currency": row.currency,
        "issued_at": row.issued_at,
    });
    queue(tx, hooks, EventType::InvoiceIssued, now, data).await
}

/// Queues `waitlist.offer`: the time an offer holds for a waiting patient.
pub async fn emit_offer(tx: &mut (dyn Tx + '_), offer: &crate::store::OfferRow, now: Timestamp) -> Result<bool> {
    let hooks = subscribers(tx, EventType::WaitlistOffer).await?;
    if hooks.is_empty() {
        return Ok(false);
    }
    let data = json!({
        "offer_id": offer.id,
        "waitlist_entry_id": offer.waitlist_id,
        "appointment_id": offer.appointment_id,
        "patient_id": offer.patient_id,
        "patient_first_name": first_name(tx, offer.patient_id).await?,
        "doctor_id": offer.doctor_id,
        "department": offer.department,
        "start": offer.start,
        "end": offer.end,
        "expires_at": offer.expires_at,
    });
    queue(tx, hooks, EventType::WaitlistOffer, now, data).await
}

/// Wakes this process's delivery worker (after a commit that queued events).
pub fn wake(st: &State) {
    st.deliveries_due.notify_one();
}

/// The body posted: the same bytes on every attempt of a delivery.
#[derive(Serialize)]
struct Body<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: EventType,
    created_at: Timestamp,
    data: &'a Value,
}

pub fn body_of(d: &DeliveryRow) -> Vec<u8> {
    let body = Body { id: d.event_id, event_type: d.event_type, created_at: d.created_at, data: &d.data };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
/// secret's decoded bytes (Standard Webhooks).
pub fn signature(secret: &str, id: Uuid, timestamp: i64, body: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

/// The address a URL's host names itself, if it is one (`[::1]` included).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_matches(['[', ']']).parse().ok()
}

/// Whether `ip` is a public unicast address (not loopback, private,
/// link-local, shared, documentation, multicast or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Resolves delivery hosts and refuses any that reach a non-public
/// address, at the moment of connecting (a name that changed its answer
/// since the webhook was saved is still refused).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    format!("{} resolves to a non-public address", name.as_str()).into();
                return Err(e);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client deliveries go out with: no redirects (a redirect could
/// point inside the network), the attempt's timeout, and public addresses
/// only unless private ones are allowed.
pub fn http_client(st: &State) -> reqwest::Client {
    let o = &st.config.outreach;
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(o.timeout)
        .user_agent(concat!("HealthSynx-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !o.allow_private {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build().unwrap_or_default()
}

/// What one attempt met.
enum Outcome {
    Delivered(u16),
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// Not attempted: the webhook is disabled (or was deleted meanwhile).
    Disabled,
}

async fn attempt(st: &State, http: &reqwest::Client, hook: &WebhookRow, d: &DeliveryRow) -> Outcome {
    let failed = |error: String| Outcome::Failed { status: None, error };
    let Ok(url) = reqwest::Url::parse(&hook.url) else { return failed("the webhook URL does not parse".into()) };
    // An address in the URL itself is not resolved, so it is checked here.
    if !st.config.outreach.allow_private
        && let Some(ip) = url.host_str().and_then(ip_literal)
        && !is_public(ip)
    {
        return failed("the webhook URL names a non-public address".into());
    }
    let Ok(secret) = st.sealer.open(&hook.secret_sealed, hook.id.as_bytes()) else {
        return failed("the signing secret could not be unsealed".into());
    };
    let body = body_of(d);
    let ts = Timestamp::now().as_second();
    let Some(sig) = signature(&secret, d.event_id, ts, &body) else {
        return failed("the signing secret is malformed".into());
    };
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", d.event_id.to_string())
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
        Ok(r) => Outcome::Failed { status: Some(r.status().as_u16()), error: format!("HTTP {}", r.status().as_u16()) },
        Err(e) if e.is_timeout() => failed("timed out".into()),
        Err(e) if e.is_connect() => failed(format!("could not connect: {}", root_cause(&e))),
        Err(e) => failed(root_cause(&e)),
    }
}

/// The innermost error's text (reqwest's own says only "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut at = e;
    while let Some(next) = at.source() {
        at = next;
    }
    at.to_string()
}

/// The wait before retry number `failures` (1 = the first retry): the
/// base doubled each time, capped, times a random factor in [0.5, 1.0].
pub fn backoff(base: Duration, failures: u32) -> Duration {
    use rand::Rng;
    let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let capped = doubled.min(MAX_BACKOFF);
    capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// What `outcome` makes of a taken delivery: delivered, pending again
/// after a backoff, or dead once its retry window is over.
fn settle(st: &State, row: &mut DeliveryRow, outcome: Outcome, now: Timestamp) {
    match outcome {
        // Not attempted: no try to count.
        Outcome::Disabled => {
            row.status = DeliveryStatus::Dead;
            row.last_error = Some("the webhook is disabled".into());
        }
        Outcome::Delivered(status) => {
            row.attempts += 1;
            row.last_attempt_at = Some(now);
            row.status = DeliveryStatus::Delivered;
            row.last_status = Some(status);
            row.last_error = None;
            row.delivered_at = Some(now);
        }
        Outcome::Failed { status, error } => {
            row.attempts += 1;
            row.last_attempt_at = Some(now);
            row.last_status = status;
            row.last_error = Some(error);
            let wait = backoff(st.config.outreach.retry_base, row.attempts);
            let next = now + SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX);
            let window = SignedDuration::try_from(st.config.outreach.retry_for).unwrap_or(SignedDuration::MAX);
            if next > row.window_from + window {
                row.status = DeliveryStatus::Dead;
            } else {
                row.next_attempt_at = next;
            }
        }
    }
}

/// Writes what a round's attempts met, in one transaction (one flush).
async fn record(st: &State, results: Vec<(DeliveryRow, Outcome)>) -> Result<()> {
    let now = super::now();
    let mut tx = st.store.begin().await?;
    for (taken, outcome) in results {
        // Deleted with its webhook, or retried by hand meanwhile: leave it.
        let Some(mut row) = tx.delivery(taken.id).await? else { continue };
        if row.status != DeliveryStatus::Pending || row.next_attempt_at != taken.next_attempt_at {
            continue;
        }
        settle(st, &mut row, outcome, now);
        tx.put_delivery(&row).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One round: takes what is due, attempts it all at once, records the
/// outcomes. Returns how many deliveries it took.
pub async fn deliver_due(st: &State, http: &reqwest::Client) -> Result<usize> {
    let now = super::now();
    // Past the attempt's timeout: a worker that died mid-attempt lets the
    // delivery be taken again after this.
    let lease = SignedDuration::try_from(st.config.outreach.timeout).unwrap_or(SignedDuration::MAX)
        + SignedDuration::from_secs(5);
    let (taken, hooks) = {
        let mut tx = st.store.begin().await?;
        let taken = tx.claim_due_deliveries(now, now + lease, ROUND).await?;
        let hooks = if taken.is_empty() { Vec::new() } else { tx.webhooks().await? };
        tx.commit().await?;
        (taken, hooks)
    };
    let n = taken.len();
    let attempts = taken.into_iter().map(|d| {
        let hook = hooks.iter().find(|h| h.id == d.webhook_id);
        async move {
            let outcome = match hook {
                Some(h) if h.active => attempt(st, http, h, &d).await,
                _ => Outcome::Disabled,
            };
            (d, outcome)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    if !results.is_empty() {
        record(st, results).await?;
    }
    Ok(n)
}

/// Delivery workers per process: while one posts a round, another takes
/// and records the next (on PostgreSQL, those of every process at once).
pub const WORKERS: usize = 2;

/// The delivery worker: rounds back to back while there is work, else
/// waits for a wake, the next due retry, or [`IDLE`].
pub async fn run(state: std::sync::Weak<State>) {
    let Some(http) = state.upgrade().map(|st| http_client(&st)) else { return };
    loop {
        let wait = {
            let Some(st) = state.upgrade() else { return };
            match deliver_due(&st, &http).await {
                Ok(n) if n > 0 => {
                    // A full round leaves more behind: a sibling worker helps.
                    if n == ROUND {
                        wake(&st);
                    }
                    continue;
                }
                Ok(_) => until_next_due(&st).await,
                Err(crate::error::Error::Unavailable(_)) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "a webhook delivery round failed");
                    IDLE
                }
            }
        };
        let due = match state.upgrade() {
            Some(st) => st.deliveries_due.clone(),
            None => return,
        };
        tokio::select! {
            _ = due.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn until_next_due(st: &State) -> Duration {
    let next = match st.store.read().await {
        Ok(mut r) => r.next_delivery_due().await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        Some(t) => {
            let wait = t.duration_since(Timestamp::now());
            Duration::try_from(wait).unwrap_or(Duration::ZERO).min(IDLE)
        }
        None => IDLE,
    }
}
