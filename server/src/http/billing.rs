//! `/api/invoices/…`, `/api/payments/…` and `/api/reports/…`.

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, ok, with_etag};
use crate::domain::billing::{self, Voided};
use crate::domain::{Caller, State};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::CreateInvoice => {
            let i = billing::create(st, c, req.json()?, req.idempotency_key()?.as_ref()).await?;
            Ok(with_etag(created(&i, &RouteId::GetInvoice.path(&[i.id]))?, i.version))
        }
        RouteId::ListInvoices => ok(&billing::list(st, c, req.query()?).await?),
        RouteId::GetInvoice => {
            let i = billing::get(st, c, req.id()?).await?;
            Ok(with_etag(ok(&i)?, i.version))
        }
        RouteId::InvoicePdf => pdf(billing::pdf(st, c, req.id()?).await?),
        RouteId::PatchInvoice => {
            let i = billing::patch(st, c, req.id()?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&i)?, i.version))
        }
        RouteId::IssueInvoice => {
            let i = billing::issue(st, c, req.id()?, req.optional_if_match()?).await?;
            Ok(with_etag(ok(&i)?, i.version))
        }
        RouteId::VoidInvoice => {
            match billing::void(st, c, req.id()?, req.json()?, req.idempotency_key()?.as_ref()).await? {
                Voided::CreditNote(n) => created(&n, &RouteId::GetInvoice.path(&[n.id])),
                Voided::Discarded(i) => Ok(with_etag(ok(&i)?, i.version)),
            }
        }
        RouteId::CreatePayment => {
            let p = billing::pay(st, c, req.id()?, req.json()?, req.idempotency_key()?.as_ref()).await?;
            created(&p, &RouteId::GetInvoice.path(&[p.invoice_id]))
        }
        RouteId::RefundPayment => {
            let p = billing::refund(st, c, req.id()?, req.json_or_default()?, req.idempotency_key()?.as_ref()).await?;
            created(&p, &RouteId::GetInvoice.path(&[p.invoice_id]))
        }
        RouteId::CashReport => ok(&billing::cash(st, c, req.query()?).await?),
        RouteId::OutstandingReport => ok(&billing::outstanding(st, c).await?),
        _ => Err(Error::NotFound),
    }
}

fn pdf(bytes: Vec<u8>) -> Result<Response> {
    let mut r = Response::new(bytes.into());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline; filename=\"invoice.pdf\""));
    Ok(r)
}
