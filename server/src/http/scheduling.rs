//! `/api/doctors/…` and `/api/appointments/…`.

use warp::http::{HeaderValue, header};
use warp::reply::Response;

use healthsynx_shared::api::{
    AppointmentAction, AvailabilityUpdate, CancelRequest, DoctorQuery, Empty, RangeQuery, RouteId,
};

use super::representation::{none_match, not_modified, tag_of};
use super::{Req, array_of, created, json_body, no_content, ok, with_etag};
use crate::domain::scheduling::{self, Booked};
use crate::domain::{Caller, State};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::ListDoctors => {
            let q: DoctorQuery = req.query()?;
            ok(&scheduling::doctors(st, q.department.as_deref()).await?)
        }
        RouteId::GetAvailability => ok(&scheduling::availability(st, c, req.id()?).await?),
        RouteId::PutAvailability => {
            let body: AvailabilityUpdate = req.json()?;
            ok(&scheduling::set_rules(st, c, req.id()?, body.rules).await?)
        }
        RouteId::CreateTimeOff => {
            let doctor = req.id()?;
            let t = scheduling::add_time_off(st, c, doctor, req.json()?).await?;
            created(&t, &RouteId::DeleteTimeOff.path(&[doctor, t.id]))
        }
        RouteId::DeleteTimeOff => {
            scheduling::delete_time_off(st, c, req.id()?, req.tid()?).await?;
            no_content()
        }
        RouteId::Slots => ok(&scheduling::slots(st, c, req.id()?, req.query()?).await?),
        RouteId::Calendar => calendar(st, req, c).await,
        RouteId::ListAppointments => ok(&scheduling::list(st, c, req.query()?).await?),
        RouteId::CreateAppointment => {
            let key = req.idempotency_key()?;
            let a = match scheduling::book(st, c, req.json()?, key.as_ref()).await? {
                Booked::New(a) | Booked::Replayed(a) => a,
            };
            Ok(with_etag(created(&a, &RouteId::GetAppointment.path(&[a.id]))?, a.version))
        }
        RouteId::GetAppointment => {
            let a = scheduling::get(st, c, req.id()?).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        RouteId::PatchAppointment => {
            let a = scheduling::reschedule(st, c, req.id()?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        RouteId::CancelAppointment
        | RouteId::CheckInAppointment
        | RouteId::CompleteAppointment
        | RouteId::NoShowAppointment => {
            let action = AppointmentAction::of_route(route).ok_or(Error::NotFound)?;
            let reason = if action == AppointmentAction::Cancel {
                Some(req.json_or_default::<CancelRequest>()?.reason)
            } else {
                let _: Empty = req.json_or_default()?;
                None
            };
            let a = scheduling::transition(st, c, req.id()?, action, req.optional_if_match()?, reason).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        _ => Err(Error::NotFound),
    }
}

/// A doctor's calendar. When the store knows the caller's tag is current,
/// the answer is `304` without reading the calendar (still audited);
/// otherwise it is read, and its tag kept for next time.
async fn calendar(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    let (doctor, q): (_, RangeQuery) = (req.id()?, req.query()?);
    scheduling::check_calendar_read(st, c, doctor, &q).await?;
    if let Some(tag) = st.store.calendar_tag(doctor, q.from, q.to)?.and_then(|t| HeaderValue::from_str(&t).ok())
        && none_match(&req.headers, &tag)
    {
        scheduling::audit_calendar_read(st, c, doctor).await?;
        return Ok(not_modified(tag));
    }
    let read_at = st.store.calendar_generation(doctor)?;
    let (from, to) = (q.from, q.to);
    let body = array_of(&scheduling::calendar(st, c, doctor, q).await?);
    let tag = tag_of(&body);
    if let Ok(text) = tag.to_str() {
        st.store.keep_calendar_tag(doctor, from, to, read_at, text.to_owned())?;
    }
    let mut resp = json_body(body);
    resp.headers_mut().insert(header::ETAG, tag);
    Ok(resp)
}
