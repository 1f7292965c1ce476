//! `/api/doctors/…` and `/api/appointments/…`.

use warp::reply::Response;

use healthsynx_shared::api::{AvailabilityUpdate, CancelRequest, DoctorQuery, Empty, RouteId, path};

use super::{Req, created, json_array, no_content, ok, principal, with_etag};
use crate::domain::scheduling::{self, Booked};
use crate::domain::{Caller, State};
use crate::error::{Error, Result};
use crate::policy::ApptAction;

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    let who = principal(st, req).await?;
    let addr = req.addr();
    let c = Caller { who: &who, addr: addr.as_deref() };
    match route {
        RouteId::ListDoctors => {
            let q: DoctorQuery = req.query()?;
            ok(&scheduling::doctors(st, q.department.as_deref()).await?)
        }
        RouteId::GetAvailability => ok(&scheduling::availability(st, &c, req.id(0)?).await?),
        RouteId::PutAvailability => {
            let body: AvailabilityUpdate = req.json()?;
            ok(&scheduling::set_rules(st, &c, req.id(0)?, body.rules).await?)
        }
        RouteId::CreateTimeOff => {
            let doctor = req.id(0)?;
            let t = scheduling::add_time_off(st, &c, doctor, req.json()?).await?;
            created(&t, &path::time_off_item(doctor, t.id))
        }
        RouteId::DeleteTimeOff => {
            scheduling::delete_time_off(st, &c, req.id(0)?, req.id(1)?).await?;
            no_content()
        }
        RouteId::Slots => ok(&scheduling::slots(st, req.id(0)?, req.query()?).await?),
        RouteId::Calendar => Ok(json_array(&scheduling::calendar(st, &c, req.id(0)?, req.query()?).await?)),
        RouteId::ListAppointments => ok(&scheduling::list(st, &c, req.query()?).await?),
        RouteId::CreateAppointment => {
            let key = req.header("idempotency-key");
            let a = match scheduling::book(st, &c, req.json()?, key).await? {
                Booked::New(a) | Booked::Replayed(a) => a,
            };
            Ok(with_etag(created(&a, &path::appointment(a.id))?, a.version))
        }
        RouteId::GetAppointment => {
            let a = scheduling::get(st, &c, req.id(0)?).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        RouteId::PatchAppointment => {
            let a = scheduling::reschedule(st, &c, req.id(0)?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        RouteId::CancelAppointment
        | RouteId::CheckInAppointment
        | RouteId::CompleteAppointment
        | RouteId::NoShowAppointment => {
            let (action, reason) = match route {
                RouteId::CancelAppointment => {
                    let body: CancelRequest = req.json_or_default()?;
                    (ApptAction::Cancel, Some(body.reason))
                }
                RouteId::CheckInAppointment => (ApptAction::CheckIn, None),
                RouteId::CompleteAppointment => (ApptAction::Complete, None),
                _ => (ApptAction::NoShow, None),
            };
            if reason.is_none() {
                let _: Empty = req.json_or_default()?;
            }
            let a = scheduling::transition(st, &c, req.id(0)?, action, req.optional_if_match()?, reason).await?;
            Ok(with_etag(ok(&a)?, a.version))
        }
        _ => Err(Error::NotFound),
    }
}
