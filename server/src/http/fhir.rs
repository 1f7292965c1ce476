//! `/fhir/r4/…`: FHIR R4 read and search. Every read goes through the
//! domain function the native route uses, so the caller's scope, the
//! `404` for what is outside it and the audit entries are the native ones;
//! this module only parses FHIR search parameters and maps the answers
//! (`domain::fhir`). Every error here is an `OperationOutcome`.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde_json::Value;
use uuid::Uuid;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use healthsynx_shared::api::{AppointmentQuery, FHIR_BASE, PatientQuery, RouteId, SlotQuery};
use healthsynx_shared::{Appointment, Doctor};

use super::{Req, error_answer};
use crate::domain::fhir as map;
use crate::domain::patients::{self, Match};
use crate::domain::{Caller, State, catalog, scheduling};
use crate::error::{Error, Result};

/// The media type of every answer here.
const FHIR_JSON: &str = "application/fhir+json";
/// `_count` when none is given, and the most one page holds (a larger
/// `_count` gets this many: FHIR lets a server return fewer than asked).
const DEFAULT_COUNT: usize = 50;
const MAX_COUNT: usize = 200;

/// An error as an `OperationOutcome`, with the status the native API
/// answers, except that a bad value (our `422`) is FHIR's `400`: on these
/// routes it is always a search parameter (a range, a cursor).
pub fn outcome(e: &Error) -> Response {
    let status = match e.status() {
        422 => 400,
        s => s,
    };
    let detail = e.to_problem().detail.unwrap_or_else(|| healthsynx_shared::api::title_for(status).to_owned());
    let body = serde_json::to_vec(&map::operation_outcome(status, &detail)).unwrap_or_default();
    error_answer(e, status, FHIR_JSON, body)
}

/// `GET /fhir/r4/metadata` (public): the CapabilityStatement.
pub fn metadata(st: &State, req: &Req) -> Result<Response> {
    Search::parse(req, &[])?;
    fhir_json(&map::capability_statement(&base_url(st, req)?))
}

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::FhirPatient => read_patient(st, req, c).await,
        RouteId::FhirSearchPatients => search_patients(st, req, c).await,
        RouteId::FhirPractitioner => {
            Search::parse(req, &[])?;
            fhir_json(&map::practitioner(&doctor(st, req.id()?).await?))
        }
        RouteId::FhirSearchPractitioners => search_directory(st, req, route).await,
        RouteId::FhirSchedule => {
            Search::parse(req, &[])?;
            fhir_json(&map::schedule(&doctor(st, req.id()?).await?))
        }
        RouteId::FhirSearchSchedules => search_directory(st, req, route).await,
        RouteId::FhirSearchSlots => search_slots(st, req, c).await,
        RouteId::FhirAppointment => read_appointment(st, req, c).await,
        RouteId::FhirSearchAppointments => search_appointments(st, req, c).await,
        _ => Err(Error::NotFound),
    }
}

// ---- patients ----

async fn read_patient(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    Search::parse(req, &[])?;
    fhir_json(&map::patient(&patients::get(st, c, req.id()?).await?))
}

/// `Patient?name=`: the native patient list (scope, pages, an audited read
/// per patient shown), matching the name only.
async fn search_patients(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    let s = Search::parse(req, &["name", "_count", "_cursor"])?;
    let q = PatientQuery { q: s.one("name")?.map(str::to_owned), limit: Some(s.count()?), cursor: s.cursor()? };
    let page = patients::search(st, c, q, Match::Name).await?;
    let links = Links::new(st, req, RouteId::FhirSearchPatients, &s)?;
    let entries = page.items.iter().map(|p| (links.full_url("Patient", p.id), map::patient(p))).collect();
    fhir_json(&map::bundle(&links.this, links.next(page.next_cursor).as_deref(), entries))
}

// ---- doctors: Practitioner and Schedule ----

/// An active doctor of the directory (`GET /api/doctors`, any role).
async fn doctor(st: &State, id: Uuid) -> Result<Doctor> {
    scheduling::doctors(st, None).await?.into_iter().find(|d| d.id == id).ok_or(Error::NotFound)
}

/// `Practitioner` and `Schedule?actor=`: the directory, one resource of
/// each per doctor, in name order. The directory is not paged natively,
/// so the cursor is the position in it.
async fn search_directory(st: &State, req: &Req, route: RouteId) -> Result<Response> {
    let schedules = route == RouteId::FhirSearchSchedules;
    let known: &[&str] = if schedules { &["actor", "_count", "_cursor"] } else { &["_count", "_cursor"] };
    let s = Search::parse(req, known)?;
    let actor = s.one("actor")?.map(|v| reference_id(v, "Practitioner", "actor")).transpose()?;
    let mut doctors = scheduling::doctors(st, None).await?;
    doctors.retain(|d| actor.is_none_or(|a| d.id == a));
    let skip = s.cursor()?.map(|c| position(&c)).transpose()?.unwrap_or(0);
    let count = s.count()?;
    let page: Vec<&Doctor> = doctors.iter().skip(skip).take(count).collect();
    let more = doctors.len() > skip.saturating_add(count);
    let links = Links::new(st, req, route, &s)?;
    let (kind, to_fhir): (&str, fn(&Doctor) -> Value) =
        if schedules { ("Schedule", map::schedule) } else { ("Practitioner", map::practitioner) };
    let entries = page.iter().map(|d| (links.full_url(kind, d.id), to_fhir(d))).collect();
    let next = more.then(|| (skip + count).to_string());
    fhir_json(&map::bundle(&links.this, links.next(next).as_deref(), entries))
}

/// A directory cursor: how many doctors the pages before held.
fn position(cursor: &str) -> Result<usize> {
    cursor.parse().map_err(|_| Error::BadRequest("_cursor is not a cursor this server gave out".into()))
}

// ---- slots ----

/// `Slot?schedule=&start=ge…&start=lt…`: the native free-slot grid
/// (`GET /api/doctors/{id}/slots`, any role; a patient sees what the online
/// booking rules let them book). Its cursor is the last start shown.
async fn search_slots(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    let s = Search::parse(req, &["schedule", "start", "_count", "_cursor"])?;
    let schedule = s.one("schedule")?.ok_or_else(|| Error::BadRequest("schedule=Schedule/<id> is required".into()))?;
    let doctor = reference_id(schedule, "Schedule", "schedule")?;
    let range = s.range("start", &st.config.tz)?;
    let (Some(from), Some(to)) = (range.from, range.to) else {
        return Err(Error::BadRequest("start=ge… and start=lt… are both required".into()));
    };
    let after = s.cursor()?.map(|c| slot_cursor(&c)).transpose()?;
    let slots = match scheduling::slots(st, c, doctor, SlotQuery { from, to, type_id: None }).await {
        // No such schedule: nothing matches (the directory is no secret).
        Err(Error::NotFound) => Vec::new(),
        other => other?,
    };
    let count = s.count()?;
    let mut rest = slots.into_iter().filter(|sl| after.is_none_or(|a| sl.start > a)).peekable();
    let page: Vec<_> = rest.by_ref().take(count).collect();
    let more = rest.peek().is_some();
    let links = Links::new(st, req, RouteId::FhirSearchSlots, &s)?;
    let next = page.last().filter(|_| more).map(|sl| sl.start.as_second().to_string());
    let entries = page.iter().map(|sl| (links.full_url("Slot", map::slot_id(doctor, sl.start)), map::slot(doctor, sl)));
    fhir_json(&map::bundle(&links.this, links.next(next).as_deref(), entries.collect()))
}

fn slot_cursor(cursor: &str) -> Result<Timestamp> {
    let bad = || Error::BadRequest("_cursor is not a cursor this server gave out".into());
    Timestamp::from_second(cursor.parse().map_err(|_| bad())?).map_err(|_| bad())
}

// ---- appointments ----

async fn read_appointment(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    Search::parse(req, &[])?;
    let a = scheduling::get(st, c, req.id()?).await?;
    let mut types = TypeNames::default();
    fhir_json(&map::appointment(&a, types.of(st, &a).await?.as_deref()))
}

/// `Appointment?patient=&practitioner=&date=&status=`: the native list
/// (`GET /api/appointments`: scope, pages, audit) with the same filters.
async fn search_appointments(st: &State, req: &Req, c: &Caller<'_>) -> Result<Response> {
    let s = Search::parse(req, &["patient", "practitioner", "date", "status", "_count", "_cursor"])?;
    let patient_id = s.one("patient")?.map(|v| reference_id(v, "Patient", "patient")).transpose()?;
    let doctor_id = s.one("practitioner")?.map(|v| reference_id(v, "Practitioner", "practitioner")).transpose()?;
    let status = s.one("status")?.map(status_param).transpose()?;
    let range = s.range("date", &st.config.tz)?;
    let q = AppointmentQuery {
        doctor_id,
        patient_id,
        department: None,
        status,
        from: range.from,
        to: range.to,
        limit: Some(s.count()?),
        cursor: s.cursor()?,
    };
    let page = scheduling::list(st, c, q).await?;
    let links = Links::new(st, req, RouteId::FhirSearchAppointments, &s)?;
    let mut types = TypeNames::default();
    let mut entries = Vec::with_capacity(page.items.len());
    for a in &page.items {
        let name = types.of(st, a).await?;
        entries.push((links.full_url("Appointment", a.id), map::appointment(a, name.as_deref())));
    }
    fhir_json(&map::bundle(&links.this, links.next(page.next_cursor).as_deref(), entries))
}

fn status_param(code: &str) -> Result<healthsynx_shared::AppointmentStatus> {
    map::status_of(code).ok_or_else(|| {
        let known: Vec<&str> = map::STATUSES.iter().map(|s| map::status_code(*s)).collect();
        Error::BadRequest(format!("status must be one of {}", known.join(", ")))
    })
}

/// The names of appointment types, each read once per answer. A type is
/// never deleted (only retired), but one that is gone names nothing.
#[derive(Default)]
struct TypeNames(HashMap<Uuid, Option<String>>);

impl TypeNames {
    async fn of(&mut self, st: &State, a: &Appointment) -> Result<Option<String>> {
        let Some(id) = a.type_id else { return Ok(None) };
        if let Some(name) = self.0.get(&id) {
            return Ok(name.clone());
        }
        let name = match catalog::get_type(st, id).await {
            Ok(t) => Some(t.name),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.0.insert(id, name.clone());
        Ok(name)
    }
}

// ---- search parameters ----

/// A request's query as FHIR search parameters: each name known to the
/// route and given a value (anything else, modifiers like `name:exact`
/// included, is `400`, so a typo never widens a search silently).
struct Search {
    pairs: Vec<(String, String)>,
}

impl Search {
    fn parse(req: &Req, known: &[&str]) -> Result<Search> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&req.query)
            .map_err(|e| Error::BadRequest(format!("the query string is not form-encoded: {e}")))?;
        for (name, value) in &pairs {
            if name == "_format" {
                check_format(value)?;
            } else if !known.contains(&name.as_str()) {
                let takes = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(Error::BadRequest(format!("unknown search parameter `{name}` (this takes {takes})")));
            } else if value.is_empty() {
                return Err(Error::BadRequest(format!("`{name}` needs a value")));
            }
        }
        Ok(Search { pairs: pairs.into_iter().filter(|(n, _)| n != "_format").collect() })
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A parameter given at most once.
    fn one(&self, name: &str) -> Result<Option<&str>> {
        match self.all(name)[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Error::BadRequest(format!("`{name}` may be given once"))),
        }
    }

    /// `_count`: a whole number of 1 or more (however large: at most
    /// [`MAX_COUNT`] are served).
    fn count(&self) -> Result<usize> {
        let Some(v) = self.one("_count")? else { return Ok(DEFAULT_COUNT) };
        let digits = v.bytes().all(|b| b.is_ascii_digit());
        if !digits || v.trim_start_matches('0').is_empty() {
            return Err(Error::BadRequest("_count must be a whole number of at least 1".into()));
        }
        Ok(v.parse::<usize>().map_or(MAX_COUNT, |n| n.min(MAX_COUNT)))
    }

    fn cursor(&self) -> Result<Option<String>> {
        Ok(self.one("_cursor")?.map(str::to_owned))
    }

    /// A date parameter as a range: `ge<t>` is where it starts (included),
    /// `lt<t>` where it ends (excluded), each at most once.
    fn range(&self, name: &str, tz: &TimeZone) -> Result<Range> {
        let mut r = Range::default();
        for v in self.all(name) {
            let bad = || {
                Error::BadRequest(format!(
                    "`{name}` takes ge<date or dateTime> and lt<…>, e.g. {name}=ge2026-12-01, not `{v}`"
                ))
            };
            let (slot, at) = match v.split_at_checked(2).ok_or_else(bad)? {
                ("ge", at) => (&mut r.from, at),
                ("lt", at) => (&mut r.to, at),
                _ => return Err(bad()),
            };
            if slot.is_some() {
                return Err(Error::BadRequest(format!("`{name}` takes each prefix once")));
            }
            *slot = Some(instant(at, tz).ok_or_else(bad)?);
        }
        Ok(r)
    }
}

/// `_format`: JSON is all we write.
fn check_format(value: &str) -> Result<()> {
    match value {
        "json" | "application/json" | "application/fhir+json" => Ok(()),
        _ => Err(Error::BadRequest(format!("_format `{value}` is not served: only json"))),
    }
}

#[derive(Debug, Default, PartialEq)]
struct Range {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

/// A FHIR date or dateTime as an instant: with an offset as it says,
/// without one in the clinic's time zone (a date is its first moment).
fn instant(text: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    let civil = if text.contains('T') {
        text.parse::<DateTime>().ok()?
    } else {
        // Exactly YYYY-MM-DD: jiff would take other spellings too.
        (text.len() == 10).then(|| text.parse::<Date>().ok()).flatten()?.to_datetime(jiff::civil::Time::midnight())
    };
    tz.to_ambiguous_timestamp(civil).compatible().ok()
}

/// The id of a reference parameter: `Kind/<id>` or the bare id, a UUID
/// as we write them (36 characters), else `400`.
fn reference_id(value: &str, kind: &str, param: &str) -> Result<Uuid> {
    let id = value.strip_prefix(kind).and_then(|r| r.strip_prefix('/')).unwrap_or(value);
    let bad = || Error::BadRequest(format!("`{param}` must be {kind}/<id>, not `{value}`"));
    if id.len() != 36 {
        return Err(bad());
    }
    id.parse().map_err(|_| bad())
}

// ---- answers ----

/// `HEALTHSYNX_PUBLIC_URL` (or how the caller reached us) and the FHIR base.
fn base_url(st: &State, req: &Req) -> Result<String> {
    Ok(format!("{}{FHIR_BASE}", super::feeds::origin(st, req)?))
}

/// The absolute URLs of a search answer.
struct Links {
    base: String,
    /// The search as it was asked (`_format` left out: we write JSON anyway).
    this: String,
    search_url: String,
    pairs: Vec<(String, String)>,
}

impl Links {
    fn new(st: &State, req: &Req, route: RouteId, s: &Search) -> Result<Links> {
        let base = base_url(st, req)?;
        let search_url = format!("{}{}", super::feeds::origin(st, req)?, route.path(&[]));
        let this = with_query(&search_url, &s.pairs);
        Ok(Links { base, this, search_url, pairs: s.pairs.clone() })
    }

    fn full_url(&self, kind: &str, id: impl std::fmt::Display) -> String {
        format!("{}/{kind}/{id}", self.base)
    }

    /// The same search from `cursor` on: the `next` link.
    fn next(&self, cursor: Option<String>) -> Option<String> {
        let cursor = cursor?;
        let mut pairs: Vec<(String, String)> = self.pairs.iter().filter(|(n, _)| n != "_cursor").cloned().collect();
        pairs.push(("_cursor".into(), cursor));
        Some(with_query(&self.search_url, &pairs))
    }
}

fn with_query(url: &str, pairs: &[(String, String)]) -> String {
    match serde_urlencoded::to_string(pairs) {
        Ok(q) if !q.is_empty() => format!("{url}?{q}"),
        _ => url.to_owned(),
    }
}

/// `200` with FHIR JSON.
fn fhir_json(body: &Value) -> Result<Response> {
    let bytes = serde_json::to_vec(body).map_err(anyhow::Error::from)?;
    let mut r = Response::new(bytes.into());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn search(query: &str, known: &[&str]) -> Result<Search> {
        let req = Req {
            method: warp::http::Method::GET,
            query: query.into(),
            headers: Default::default(),
            addr: None,
            body: Default::default(),
            ids: vec![],
            token: None,
        };
        Search::parse(&req, known)
    }

    #[test]
    fn dates_and_date_times_are_read_with_and_without_an_offset() {
        let tz = berlin();
        assert_eq!(instant("2026-12-01T09:00:00Z", &tz), Some("2026-12-01T09:00:00Z".parse().unwrap()));
        assert_eq!(instant("2026-12-01T09:00:00+01:00", &tz), Some("2026-12-01T08:00:00Z".parse().unwrap()));
        assert_eq!(instant("2026-12-01T09:00:00", &tz), Some("2026-12-01T08:00:00Z".parse().unwrap()));
        assert_eq!(instant("2026-12-01", &tz), Some("2026-11-30T23:00:00Z".parse().unwrap()));
        for bad in ["2026-02-30", "2026-12", "20261201", "tomorrow", ""] {
            assert_eq!(instant(bad, &tz), None, "{bad}");
        }
    }

    #[test]
    fn a_range_takes_ge_and_lt_once_each() {
        let tz = berlin();
        let r = search("date=ge2026-12-01T00:00:00Z&date=lt2026-12-02T00:00:00Z", &["date"]).unwrap();
        let r = r.range("date", &tz).unwrap();
        assert_eq!(r.from, Some("2026-12-01T00:00:00Z".parse().unwrap()));
        assert_eq!(r.to, Some("2026-12-02T00:00:00Z".parse().unwrap()));
        for bad in ["date=gt2026-12-01", "date=2026-12-01", "date=ge2026-12-01&date=ge2026-12-02", "date=lefoo"] {
            assert!(search(bad, &["date"]).unwrap().range("date", &tz).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_repeated_and_empty_parameters_are_refused() {
        assert!(search("nam=x", &["name"]).is_err());
        assert!(search("name:exact=x", &["name"]).is_err());
        assert!(search("_format=xml", &["name"]).is_err());
        assert!(search("name=a&name=b", &["name"]).unwrap().one("name").is_err());
        assert!(search("name=", &["name"]).is_err(), "a parameter without a value");
        let s = search("name=ann&_format=json", &["name"]).unwrap();
        assert_eq!(s.one("name").unwrap(), Some("ann"));
        assert!(search("", &[]).is_ok());
    }

    #[test]
    fn count_defaults_caps_and_refuses_nonsense() {
        assert_eq!(search("", &["_count"]).unwrap().count().unwrap(), DEFAULT_COUNT);
        assert_eq!(search("_count=7", &["_count"]).unwrap().count().unwrap(), 7);
        assert_eq!(search("_count=5000", &["_count"]).unwrap().count().unwrap(), MAX_COUNT);
        assert_eq!(search("_count=99999999999999999999999", &["_count"]).unwrap().count().unwrap(), MAX_COUNT);
        for bad in ["_count=0", "_count=000", "_count=-1", "_count=x", "_count=1.5", "_count=+3"] {
            assert!(search(bad, &["_count"]).unwrap().count().is_err(), "{bad}");
        }
    }

    #[test]
    fn references_take_the_kind_or_a_bare_id() {
        let id = Uuid::now_v7();
        assert_eq!(reference_id(&format!("Patient/{id}"), "Patient", "patient").unwrap(), id);
        assert_eq!(reference_id(&id.to_string(), "Patient", "patient").unwrap(), id);
        assert!(reference_id(&format!("Practitioner/{id}"), "Patient", "patient").is_err());
        assert!(reference_id(&id.simple().to_string(), "Patient", "patient").is_err());
        assert!(reference_id("Patient/", "Patient", "patient").is_err());
    }
}
