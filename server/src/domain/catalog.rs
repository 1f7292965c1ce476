//! Appointment types and resources: the visits a department offers (length,
//! buffers, price, the resource they need) and the rooms and devices those
//! visits book. Admins change them; anyone signed in reads the active ones.

use uuid::Uuid;

use healthsynx_shared::api::{AppointmentTypePatch, CatalogQuery, NewAppointmentType, NewResource, ResourcePatch};
use healthsynx_shared::validate::{self, Errors, MAX_SHORT_TEXT};
use healthsynx_shared::value::IdempotencyKey;
use healthsynx_shared::{AppointmentType, Resource};

use super::{Caller, State, idempotent};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy;
use crate::store::{MAX_APPOINTMENT_HOURS, MAX_BUFFER_MINUTES, Txn};

/// The largest price, in minor units (a million in the major unit).
const MAX_PRICE: i64 = 100_000_000;
/// The shortest visit a type may describe, minutes.
const MIN_MINUTES: u16 = 5;

fn wanted(q: &CatalogQuery, department: &str, active: bool) -> bool {
    q.department.as_deref().is_none_or(|d| d == department) && (active || q.include_inactive)
}

fn check_list_query(who: &Caller<'_>, q: &CatalogQuery) -> Result<()> {
    if q.include_inactive {
        policy::manage_catalog(who.who)?;
    }
    Ok(())
}

/// `GET /api/appointment-types?department=`: active types, by department and name.
pub async fn types(st: &State, who: &Caller<'_>, q: CatalogQuery) -> Result<Vec<AppointmentType>> {
    check_list_query(who, &q)?;
    if q.kind.is_some() {
        return Err(Error::invalid("kind", "filters resources, not appointment types"));
    }
    let all = st.store.read().await?.appointment_types().await?;
    Ok(all.into_iter().filter(|t| wanted(&q, &t.department, t.active)).collect())
}

/// `GET /api/appointment-types/{id}`
pub async fn get_type(st: &State, id: Uuid) -> Result<AppointmentType> {
    st.store.read().await?.appointment_type(id).await?.ok_or(Error::NotFound)
}

/// Every rule a type's fields keep, for a new type and a changed one alike.
fn check_type(t: &AppointmentType) -> Result<()> {
    let mut errors = Errors::default();
    errors.check("name", validate::text(&t.name, MAX_SHORT_TEXT));
    let longest = (MAX_APPOINTMENT_HOURS * 60) as u16;
    if !(MIN_MINUTES..=longest).contains(&t.minutes) {
        errors.check("minutes", Err(format!("must be between {MIN_MINUTES} and {longest}")));
    }
    for (field, m) in [("buffer_before", t.buffer_before), ("buffer_after", t.buffer_after)] {
        if m > MAX_BUFFER_MINUTES {
            errors.check(field, Err(format!("must be at most {MAX_BUFFER_MINUTES} minutes")));
        }
    }
    if !(0..=MAX_PRICE).contains(&t.price.amount) {
        errors.check("price.amount", Err(format!("must be between 0 and {MAX_PRICE} (in cents)")));
    }
    errors.finish().map_err(Error::from)
}

async fn check_department(tx: &mut Txn<'_>, code: &str) -> Result<()> {
    match tx.department(code).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid("department", format!("there is no department `{code}`"))),
    }
}

async fn check_type_name_free(tx: &mut Txn<'_>, t: &AppointmentType) -> Result<()> {
    let others = tx.appointment_types().await?.into_iter().map(|o| (o.id, o.department, o.name));
    check_name_free(others, (t.id, &t.department, &t.name), "type")
}

/// No other of `others` (id, department, name) in the department
/// has its name, ignoring case.
fn check_name_free(
    mut others: impl Iterator<Item = (Uuid, String, String)>,
    (id, department, name): (Uuid, &str, &str),
    what: &str,
) -> Result<()> {
    let name_lower = name.to_lowercase();
    if others.any(|(o, d, n)| o != id && d == department && n.to_lowercase() == name_lower) {
        return Err(Error::Conflict(format!("{department} already has a {what} named `{name}`")));
    }
    Ok(())
}

/// `POST /api/appointment-types` (admin).
pub async fn create_type(
    st: &State,
    who: &Caller<'_>,
    req: NewAppointmentType,
    key: Option<&IdempotencyKey>,
) -> Result<AppointmentType> {
    policy::manage_catalog(who.who)?;
    let now = super::now();
    let t = AppointmentType {
        id: Uuid::now_v7(),
        department: req.department.to_string(),
        name: req.name.trim().to_owned(),
        minutes: req.minutes,
        buffer_before: req.buffer_before,
        buffer_after: req.buffer_after,
        price: req.price.clone(),
        patient_bookable: req.patient_bookable,
        resource_kind: req.resource_kind.as_ref().map(|k| k.to_string()),
        active: true,
        version: 1,
    };
    check_type(&t)?;
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &req, now).await?;
    if let Some(id) = once.replayed {
        return tx.appointment_type(id).await?.ok_or(Error::NotFound);
    }
    check_department(&mut tx, &t.department).await?;
    check_type_name_free(&mut tx, &t).await?;
    tx.put_appointment_type(&t).await?;
    once.remember(&mut tx, t.id).await?;
    tx.audit(Draft::new(&who.actor(), Action::AppointmentTypeCreate, "appointment_type", Some(t.id)));
    tx.commit().await?;
    Ok(t)
}

/// `PATCH /api/appointment-types/{id}` with `If-Match` (admin). Booked
/// appointments keep the length and buffers they were booked with.
pub async fn patch_type(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    if_match: u64,
    p: AppointmentTypePatch,
) -> Result<AppointmentType> {
    policy::manage_catalog(who.who)?;
    let mut tx = st.store.begin().await?;
    let old = tx.appointment_type(id).await?.ok_or(Error::NotFound)?;
    if old.version != if_match {
        return Err(Error::PreconditionFailed);
    }
    let mut t = old.clone();
    if let Some(name) = &p.name {
        t.name = name.trim().to_owned();
    }
    t.minutes = p.minutes.unwrap_or(t.minutes);
    t.buffer_before = p.buffer_before.unwrap_or(t.buffer_before);
    t.buffer_after = p.buffer_after.unwrap_or(t.buffer_after);
    t.price = p.price.clone().unwrap_or(t.price);
    t.patient_bookable = p.patient_bookable.unwrap_or(t.patient_bookable);
    if let Some(kind) = &p.resource_kind {
        t.resource_kind = kind.as_ref().map(|k| k.to_string());
    }
    t.active = p.active.unwrap_or(t.active);
    t.version += 1;
    check_type(&t)?;
    check_type_name_free(&mut tx, &t).await?;
    tx.put_appointment_type(&t).await?;
    tx.audit(Draft::new(&who.actor(), Action::AppointmentTypeUpdate, "appointment_type", Some(id)));
    tx.commit().await?;
    Ok(t)
}

/// `GET /api/resources?kind=&department=`: active resources.
pub async fn resources(st: &State, who: &Caller<'_>, q: CatalogQuery) -> Result<Vec<Resource>> {
    check_list_query(who, &q)?;
    let all = st.store.read().await?.resources().await?;
    Ok(all
        .into_iter()
        .filter(|r| wanted(&q, &r.department, r.active) && q.kind.as_deref().is_none_or(|k| k == r.kind))
        .collect())
}

/// `GET /api/resources/{id}`
pub async fn get_resource(st: &State, id: Uuid) -> Result<Resource> {
    st.store.read().await?.resource(id).await?.ok_or(Error::NotFound)
}

async fn check_resource_name_free(tx: &mut Txn<'_>, r: &Resource) -> Result<()> {
    let others = tx.resources().await?.into_iter().map(|o| (o.id, o.department, o.name));
    check_name_free(others, (r.id, &r.department, &r.name), "resource")
}

/// `POST /api/resources` (admin).
pub async fn create_resource(
    st: &State,
    who: &Caller<'_>,
    req: NewResource,
    key: Option<&IdempotencyKey>,
) -> Result<Resource> {
    policy::manage_catalog(who.who)?;
    let now = super::now();
    let r = Resource {
        id: Uuid::now_v7(),
        kind: req.kind.to_string(),
        name: req.name.trim().to_owned(),
        department: req.department.to_string(),
        active: true,
        version: 1,
    };
    validate::text(&r.name, MAX_SHORT_TEXT).map_err(|m| Error::invalid("name", m))?;
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &req, now).await?;
    if let Some(id) = once.replayed {
        return tx.resource(id).await?.ok_or(Error::NotFound);
    }
    check_department(&mut tx, &r.department).await?;
    check_resource_name_free(&mut tx, &r).await?;
    tx.put_resource(&r).await?;
    once.remember(&mut tx, r.id).await?;
    tx.audit(Draft::new(&who.actor(), Action::ResourceCreate, "resource", Some(r.id)));
    tx.commit().await?;
    Ok(r)
}

/// `PATCH /api/resources/{id}` with `If-Match` (admin): rename it, or take
/// it out of use (its booked visits keep it; new ones do not get it).
pub async fn patch_resource(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    if_match: u64,
    p: ResourcePatch,
) -> Result<Resource> {
    policy::manage_catalog(who.who)?;
    let mut tx = st.store.begin().await?;
    let old = tx.resource(id).await?.ok_or(Error::NotFound)?;
    if old.version != if_match {
        return Err(Error::PreconditionFailed);
    }
    let mut r = old.clone();
    if let Some(name) = &p.name {
        r.name = name.trim().to_owned();
        validate::text(&r.name, MAX_SHORT_TEXT).map_err(|m| Error::invalid("name", m))?;
    }
    r.active = p.active.unwrap_or(r.active);
    r.version += 1;
    check_resource_name_free(&mut tx, &r).await?;
    tx.put_resource(&r).await?;
    tx.audit(Draft::new(&who.actor(), Action::ResourceUpdate, "resource", Some(id)));
    tx.commit().await?;
    Ok(r)
}
