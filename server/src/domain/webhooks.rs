//! Webhooks as admins manage them: where the clinic's events are posted,
//! which ones, and what became of each delivery. A URL must be `https` and
//! reach only public addresses unless `HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE`
//! says the receivers sit on the clinic's own network. The signing secret
//! is shown once, when the webhook is made, and kept sealed.

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use healthsynx_shared::api::{DeliveryQuery, NewWebhook, Page, WebhookPatch};
use healthsynx_shared::{Delivery, DeliveryStatus, EventType, Webhook};

use super::{Caller, State, outbox};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy;
use crate::store::{DeliveryRow, WebhookRow};

/// The most webhooks a clinic keeps.
const MAX_WEBHOOKS: usize = 50;
const MAX_URL_CHARS: usize = 2000;
/// How long checking a URL's host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

fn view(row: &WebhookRow, secret: Option<String>) -> Webhook {
    Webhook {
        id: row.id,
        url: row.url.clone(),
        events: row.events.clone(),
        secret,
        active: row.active,
        created_at: row.created_at,
        version: row.version,
    }
}

fn delivery_view(d: &DeliveryRow) -> Delivery {
    Delivery {
        id: d.id,
        webhook_id: d.webhook_id,
        event_id: d.event_id,
        event_type: d.event_type,
        created_at: d.created_at,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        last_attempt_at: d.last_attempt_at,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        delivered_at: d.delivered_at,
    }
}

/// The URL as given, once it is one we may post to.
async fn check_url(st: &State, text: &str) -> Result<String> {
    let bad = |m: &str| Error::invalid("url", m);
    let text = text.trim();
    if text.chars().count() > MAX_URL_CHARS {
        return Err(bad("must be at most 2000 characters"));
    }
    let url = reqwest::Url::parse(text).map_err(|_| bad("must be an absolute URL like https://example.org/hooks"))?;
    let private_ok = st.config.outreach.allow_private;
    match url.scheme() {
        "https" => {}
        "http" if private_ok => {}
        _ => return Err(bad("must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password (the signature authenticates us)"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a #fragment"));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("must name a host"))?;
    if !private_ok {
        let port = url.port_or_known_default().unwrap_or(443);
        for ip in resolve(host, port).await.map_err(|m| bad(&m))? {
            if !outbox::is_public(ip) {
                return Err(bad("must reach a public address, not a loopback, private or link-local one \
                     (HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE=1 allows receivers on the clinic's network)"));
            }
        }
    }
    Ok(url.to_string())
}

/// The addresses `host` stands for (itself, when it is one).
async fn resolve(host: &str, port: u16) -> std::result::Result<Vec<IpAddr>, String> {
    if let Some(ip) = outbox::ip_literal(host) {
        return Ok(vec![ip]);
    }
    let looked = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    let addrs: Vec<IpAddr> = match looked {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    };
    if addrs.is_empty() {
        return Err(format!("names a host that does not resolve ({host})"));
    }
    Ok(addrs)
}

/// The events asked for, each once, in a fixed order.
fn check_events(events: &[EventType]) -> Result<Vec<EventType>> {
    if events.is_empty() {
        return Err(Error::invalid("events", "must name at least one event"));
    }
    let mut out = events.to_vec();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `GET /api/webhooks`: every webhook, without secrets.
pub async fn list(st: &State, who: &Caller<'_>) -> Result<Vec<Webhook>> {
    policy::manage_webhooks(who.who)?;
    let rows = st.store.read().await?.webhooks().await?;
    st.store.append_audit([Draft::new(&who.actor(), Action::WebhookList, "webhook", None)]).await?;
    Ok(rows.iter().map(|r| view(r, None)).collect())
}

/// `POST /api/webhooks`: the webhook with its secret, shown this once.
pub async fn create(st: &State, who: &Caller<'_>, req: NewWebhook) -> Result<Webhook> {
    policy::manage_webhooks(who.who)?;
    let url = check_url(st, &req.url).await?;
    let events = check_events(&req.events)?;
    let now = super::now();
    let id = Uuid::now_v7();
    let secret = outbox::new_secret();
    let row = WebhookRow {
        id,
        url,
        events,
        secret_sealed: st.sealer.seal(&secret, id.as_bytes())?,
        active: req.active,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut tx = st.store.begin().await?;
    if tx.webhooks().await?.len() >= MAX_WEBHOOKS {
        return Err(Error::Conflict(format!("a clinic keeps at most {MAX_WEBHOOKS} webhooks")));
    }
    tx.put_webhook(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::WebhookCreate, "webhook", Some(id)));
    tx.commit().await?;
    Ok(view(&row, Some(secret)))
}

/// `PATCH /api/webhooks/{id}` (optional `If-Match`): URL, events, on or off.
pub async fn patch(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    if_match: Option<u64>,
    req: WebhookPatch,
) -> Result<Webhook> {
    policy::manage_webhooks(who.who)?;
    let url = match &req.url {
        Some(u) => Some(check_url(st, u).await?),
        None => None,
    };
    let events = req.events.as_deref().map(check_events).transpose()?;
    let mut tx = st.store.begin().await?;
    let mut row = tx.webhook(id).await?.ok_or(Error::NotFound)?;
    if if_match.is_some_and(|v| v != row.version) {
        return Err(Error::PreconditionFailed);
    }
    if let Some(u) = url {
        row.url = u;
    }
    if let Some(e) = events {
        row.events = e;
    }
    if let Some(a) = req.active {
        row.active = a;
    }
    row.version += 1;
    row.updated_at = super::now();
    tx.put_webhook(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::WebhookUpdate, "webhook", Some(id)));
    tx.commit().await?;
    Ok(view(&row, None))
}

/// `DELETE /api/webhooks/{id}`: the webhook and every delivery of it.
pub async fn delete(st: &State, who: &Caller<'_>, id: Uuid) -> Result<()> {
    policy::manage_webhooks(who.who)?;
    let mut tx = st.store.begin().await?;
    tx.webhook(id).await?.ok_or(Error::NotFound)?;
    tx.remove_webhook(id).await?;
    tx.audit(Draft::new(&who.actor(), Action::WebhookDelete, "webhook", Some(id)));
    tx.commit().await?;
    Ok(())
}

/// `GET /api/webhooks/{id}/deliveries?status=`: oldest first.
pub async fn deliveries(st: &State, who: &Caller<'_>, id: Uuid, q: DeliveryQuery) -> Result<Page<Delivery>> {
    policy::manage_webhooks(who.who)?;
    let limit = super::limit(q.limit)?;
    let after = super::cursor(q.cursor.as_deref())?;
    let mut r = st.store.read().await?;
    r.webhook(id).await?.ok_or(Error::NotFound)?;
    let rows = r.deliveries_of(id, q.status, after.as_ref(), limit).await?;
    drop(r);
    st.store.append_audit([Draft::new(&who.actor(), Action::DeliveryList, "webhook", Some(id))]).await?;
    let next_cursor = if rows.len() == limit { rows.last().map(|(c, _)| c.encode()) } else { None };
    Ok(Page { items: rows.iter().map(|(_, d)| delivery_view(d)).collect(), next_cursor })
}

/// `POST /api/deliveries/{id}/retry`: a dead delivery is pending again, at
/// once, with a new retry window; its `Webhook-Id` stays the same.
pub async fn retry(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Delivery> {
    policy::manage_webhooks(who.who)?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let mut row = tx.delivery(id).await?.ok_or(Error::NotFound)?;
    if row.status != DeliveryStatus::Dead {
        return Err(Error::Conflict(format!("only a dead delivery is retried; this one is {}", row.status.as_str())));
    }
    let hook = tx.webhook(row.webhook_id).await?.ok_or(Error::NotFound)?;
    if !hook.active {
        return Err(Error::Conflict("the webhook is disabled: enable it first".into()));
    }
    row.status = DeliveryStatus::Pending;
    row.next_attempt_at = now;
    row.window_from = now;
    tx.put_delivery(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::DeliveryRetry, "webhook", Some(row.webhook_id)));
    tx.commit().await?;
    outbox::wake(st);
    Ok(delivery_view(&row))
}
