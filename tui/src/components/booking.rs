//! Booking, step by step: doctor → kind of visit (when the department has
//! appointment types) → free slot → patient → reason. The same flow
//! reschedules (slot only). Screens embed it and route its results to it.

use healthsynx_shared::api::{
    AppointmentPatch, CatalogQuery, NewAppointment, NewSeries, OnConflict, PatientQuery, SlotQuery,
};
use healthsynx_shared::value::Reason;
use healthsynx_shared::{
    Appointment, AppointmentType, Doctor, Every, Page, Patient, Problem, Resource, Series, SeriesRule, Slot,
};
use jiff::SignedDuration;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use uuid::Uuid;

use crate::app::{Ctx, Handled, Msg, View, explain};
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LIST, LIST_ARROWS, bind};
use crate::time;
use crate::ui::{self, Field, Pick};

/// How far ahead free slots are offered.
const SLOT_DAYS: i64 = 14;

pub enum BookingMsg {
    /// A department's visit types and the resources they book.
    Types(String, Result<(Vec<AppointmentType>, Vec<Resource>), Problem>),
    Slots(Uuid, Result<Vec<Slot>, Problem>),
    Patients(String, Result<Page<Patient>, Problem>),
    Done(Result<Appointment, Problem>),
    SeriesDone(Result<Series, Problem>),
}

/// A booking made: the visit (a series' first), the room it holds, and for
/// a series how many visits it booked and skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Booked {
    pub appointment: Appointment,
    pub room: Option<String>,
    pub series: Option<(usize, usize)>,
}

impl Booked {
    /// What to add to "Booked: … on <time>": the room, the rest of a series.
    pub fn more(&self) -> String {
        let mut s = String::new();
        if let Some(room) = &self.room {
            s.push_str(&format!(", in {room}"));
        }
        if let Some((booked, skipped)) = self.series {
            s.push_str(&format!(", and {} more of the series", booked.saturating_sub(1)));
            if skipped > 0 {
                let times = if skipped == 1 { "time was" } else { "times were" };
                s.push_str(&format!("; {skipped} {times} taken and skipped"));
            }
        }
        s
    }
}

/// How a booking repeats: the reason step offers it to the front desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Once,
    Every(Every),
}

impl Repeat {
    fn next(self) -> Self {
        match self {
            Repeat::Once => Repeat::Every(Every::Week),
            Repeat::Every(Every::Week) => Repeat::Every(Every::TwoWeeks),
            Repeat::Every(Every::TwoWeeks) => Repeat::Every(Every::Month),
            Repeat::Every(Every::Month) => Repeat::Once,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Repeat::Once => "once",
            Repeat::Every(Every::Week) => "every week",
            Repeat::Every(Every::TwoWeeks) => "every 2 weeks",
            Repeat::Every(Every::Month) => "every month",
        }
    }
}

/// Visits a new series books, unless changed with ↑↓.
const SERIES_VISITS: u16 = 6;

/// What the embedding screen should do after a key or result.
// Returned once per key or result and matched at once; boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BookingOutcome {
    Open,
    /// Not one of its keys: the screen (and then the app) may use it.
    Ignored,
    Closed,
    /// Booked or moved: the screen refreshes and closes the flow.
    Done(Booked),
    /// A colleague took the time first: the flow stays open on fresh
    /// slots, and the screen refreshes what it shows.
    Conflict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Doctor,
    Type,
    Slot,
    Patient,
    Reason,
}

/// A screen a booking flow opens over. While the flow is open it takes the
/// keys and its results and its keys are the ones shown; the screen says
/// what a finished flow means to it.
pub trait BookingHost: Keymap {
    fn flow(&self) -> Option<&BookingFlow>;
    fn flow_mut(&mut self) -> Option<&mut BookingFlow>;
    fn after_booking(&mut self, out: BookingOutcome, ctx: &mut Ctx) -> Handled;

    /// The open flow's commands, else the screen's own.
    fn host_commands(&self) -> Vec<Cmd> {
        self.flow().map_or_else(|| keys::commands(self), BookingFlow::commands)
    }

    fn host_typing(&self) -> bool {
        self.flow().map_or_else(|| self.text_field().is_some(), BookingFlow::typing)
    }

    /// Gives `key` to the open flow; `None` when there is none.
    fn key_to_flow(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Option<Handled> {
        let out = self.flow_mut()?.handle_key(key, ctx);
        Some(self.after_booking(out, ctx))
    }

    /// Gives a result the screen does not know to the open flow.
    fn msg_to_flow(&mut self, msg: Msg, ctx: &mut Ctx) {
        if let Some(flow) = self.flow_mut() {
            let out = flow.on_msg(msg, ctx);
            self.after_booking(out, ctx);
        }
    }
}

pub struct BookingFlow {
    /// `Some` when moving an existing appointment.
    moving: Option<Appointment>,
    pub step: Step,
    doctors: Vec<Doctor>,
    doctor_pick: Pick,
    /// The doctor's department's visit types (`None` while loading); the
    /// list's first row is a plain visit of one slot.
    types: Option<Vec<AppointmentType>>,
    resources: Vec<Resource>,
    type_pick: Pick,
    /// Patients see only the types they may book online.
    online: bool,
    /// The front desk may book a series from the reason step.
    series: bool,
    slots: Option<Vec<Slot>>,
    slot_pick: Pick,
    /// Set when the patient is known up front (a patient booking for
    /// themselves, or a front-desk booking from a patient's card).
    fixed_patient: Option<(Uuid, String)>,
    query: Field,
    patients: Vec<Patient>,
    /// The query `patients` answers; while it differs from what is typed,
    /// a search is in flight and Enter waits rather than pick a stale row.
    patients_for: Option<String>,
    /// Enter came while that search was in flight: pick when it answers.
    pick_when_ready: bool,
    patient_pick: Pick,
    chosen_patient: Option<(Uuid, String)>,
    reason: Field,
    /// Whether the front desk books a series: how often, how many visits.
    repeat: Repeat,
    visits: u16,
    busy: bool,
    error: Option<String>,
    /// One key per booking attempt, so a retried request cannot book twice.
    idempotency_key: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    PickDoctor,
    PickType,
    PickSlot,
    PickPatient,
    Repeat,
    Visits,
    Book,
    Back,
    Close,
}

type B = Binding<BookingFlow, Act>;

const DOCTOR: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.doctors.len() > 1),
    bind(ENTER, "Enter", "pick doctor", Act::PickDoctor).when(|s| s.doctor().is_some()),
    bind(ESC, "Esc", "cancel booking", Act::Close),
];
const TYPE: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.types.as_ref().is_some_and(|t| !t.is_empty())),
    bind(ENTER, "Enter", "pick visit", Act::PickType).when(|s| s.types.is_some()),
    bind(ESC, "Esc", "cancel", Act::Close).when(|s| s.doctors.len() == 1),
    bind(ESC, "Esc", "back", Act::Back).when(|s| s.doctors.len() > 1),
];
const SLOT: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.slots.as_ref().is_some_and(|v| v.len() > 1)),
    bind(ENTER, "Enter", "pick time", Act::PickSlot).when(|s| s.slot().is_some()),
    bind(ESC, "Esc", "cancel", Act::Close).when(|s| s.slot_is_first()),
    bind(ESC, "Esc", "back", Act::Back).when(|s| !s.slot_is_first()),
];
const PATIENT: &[B] = &[
    bind(LIST_ARROWS, "↑↓", "move", Act::Go).when(|s| s.patients.len() > 1),
    bind(ENTER, "Enter", "pick patient", Act::PickPatient),
    bind(ESC, "Esc", "cancel", Act::Close).when(|s| s.patient_is_first()),
    bind(ESC, "Esc", "back", Act::Back).when(|s| !s.patient_is_first()),
];
const REASON: &[B] = &[
    bind(ENTER, "Enter", "book", Act::Book),
    bind(keys::TAB, "Tab", "repeat", Act::Repeat).when(BookingFlow::may_repeat),
    bind(keys::UP_DOWN, "↑↓", "visits", Act::Visits).when(|s| s.repeat != Repeat::Once),
    bind(ESC, "Esc", "back", Act::Back),
];
/// One request at a time; Esc still closes.
const BUSY: &[B] = &[bind(ESC, "Esc", "close", Act::Close)];

impl Keymap for BookingFlow {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.step {
            _ if self.busy => BUSY,
            Step::Doctor => DOCTOR,
            Step::Type => TYPE,
            Step::Slot => SLOT,
            Step::Patient => PATIENT,
            Step::Reason => REASON,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match self.step {
            _ if self.busy => None,
            Step::Patient => Some("search"),
            Step::Reason => Some("reason"),
            _ => None,
        }
    }
}

impl BookingFlow {
    /// Starts at the doctor list, with `preselect` highlighted.
    pub fn new(doctors: Vec<Doctor>, preselect: Option<Uuid>, patient: Option<(Uuid, String)>) -> Self {
        let sel = preselect.and_then(|id| doctors.iter().position(|d| d.id == id)).unwrap_or(0);
        BookingFlow {
            moving: None,
            step: Step::Doctor,
            doctors,
            doctor_pick: Pick { sel },
            types: None,
            resources: Vec::new(),
            type_pick: Pick::default(),
            online: false,
            series: false,
            slots: None,
            slot_pick: Pick::default(),
            fixed_patient: patient,
            query: Field::new("Find").hint("type a name or email"),
            patients: Vec::new(),
            patients_for: None,
            pick_when_ready: false,
            patient_pick: Pick::default(),
            chosen_patient: None,
            reason: Field::new("Reason").hint("e.g. Annual check-up"),
            repeat: Repeat::Once,
            visits: SERIES_VISITS,
            busy: false,
            error: None,
            idempotency_key: Uuid::now_v7().to_string(),
        }
    }

    /// Starts with doctor and slot chosen (a free cell of the board).
    pub fn at_slot(doctor: Doctor, slot: Slot, ctx: &mut Ctx) -> Self {
        let mut flow = BookingFlow::new(vec![doctor], None, None);
        flow.slots = Some(vec![slot]);
        flow.step = Step::Patient;
        flow.search(ctx);
        flow
    }

    /// A follow-up with the same doctor and patient as `appt`: slot, then reason.
    pub fn follow_up(appt: &Appointment, ctx: &mut Ctx) -> Self {
        let doctor =
            Doctor { id: appt.doctor_id, full_name: appt.doctor_name.clone(), department: appt.department.clone() };
        let mut flow = BookingFlow::new(vec![doctor], None, Some((appt.patient_id, appt.patient_name.clone())));
        flow.step = Step::Slot;
        flow.reason.value = format!("Follow-up: {}", appt.reason);
        flow.load_slots(ctx);
        flow
    }

    /// Moves `appt` to another free slot of its doctor.
    pub fn reschedule(appt: Appointment, ctx: &mut Ctx) -> Self {
        let doctor =
            Doctor { id: appt.doctor_id, full_name: appt.doctor_name.clone(), department: appt.department.clone() };
        let mut flow = BookingFlow::new(vec![doctor], None, None);
        flow.moving = Some(appt);
        flow.step = Step::Slot;
        flow.load_slots(ctx);
        flow
    }

    /// A patient booking for themselves: only types bookable online.
    pub fn online(mut self) -> Self {
        self.online = true;
        self
    }

    /// The front desk: the reason step may repeat the booking as a series.
    pub fn with_series(mut self) -> Self {
        self.series = true;
        self
    }

    /// Series are booked by the front desk, and not when moving.
    fn may_repeat(&self) -> bool {
        self.series && self.moving.is_none()
    }

    /// Whether this flow moves an existing appointment.
    pub fn is_move(&self) -> bool {
        self.moving.is_some()
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    pub fn typing(&self) -> bool {
        self.text_field().is_some()
    }

    fn doctor(&self) -> Option<&Doctor> {
        self.doctors.get(self.doctor_pick.sel)
    }

    /// The visit type chosen; `None` for a plain one-slot visit.
    fn visit_type(&self) -> Option<&AppointmentType> {
        self.type_pick.sel.checked_sub(1).and_then(|i| self.types.as_ref()?.get(i))
    }

    /// The name of the resource `a` holds, as this flow loaded them.
    fn resource_name(&self, a: &Appointment) -> Option<String> {
        let id = a.resource_id?;
        Some(self.resources.iter().find(|r| r.id == id).map_or_else(|| "a room".to_owned(), |r| r.name.clone()))
    }

    fn slot(&self) -> Option<Slot> {
        self.slots.as_ref().and_then(|s| s.get(self.slot_pick.sel).copied())
    }

    fn patient(&self) -> Option<&(Uuid, String)> {
        self.fixed_patient.as_ref().or(self.chosen_patient.as_ref())
    }

    /// Moving or a follow-up: the doctor was never a choice to go back to.
    fn slot_is_first(&self) -> bool {
        self.moving.is_some() || self.doctors.len() == 1
    }

    /// Opened from a board cell: there is no slot list to go back to.
    fn patient_is_first(&self) -> bool {
        self.doctors.len() == 1 && self.slots.as_ref().is_some_and(|s| s.len() == 1)
    }

    /// Loads the doctor's department's visit types; with none, goes on to the slots.
    fn load_types(&mut self, ctx: &mut Ctx) {
        let Some(dept) = self.doctor().map(|d| d.department.clone()) else { return };
        self.types = None;
        self.type_pick = Pick::default();
        let client = ctx.client.clone();
        let q = CatalogQuery { department: Some(dept.clone()), ..CatalogQuery::default() };
        let load = async move {
            let types = client.appointment_types(&q).await?;
            let resources = client.resources(&q).await?;
            Ok((types, resources))
        };
        ctx.spawn("loading visit types", load, move |r| Msg::new(BookingMsg::Types(dept, r)));
    }

    fn load_slots(&mut self, ctx: &mut Ctx) {
        let Some(doctor) = self.doctor().map(|d| d.id) else { return };
        self.slots = None;
        self.slot_pick = Pick::default();
        let to = ctx.now + SignedDuration::from_hours(24 * SLOT_DAYS);
        let q = SlotQuery { from: ctx.now, to, type_id: self.visit_type().map(|t| t.id) };
        let client = ctx.client.clone();
        ctx.spawn("loading free slots", async move { client.slots_of_type(doctor, &q).await }, move |r| {
            Msg::new(BookingMsg::Slots(doctor, r))
        });
    }

    fn search(&mut self, ctx: &mut Ctx) {
        let q = self.query.text().to_owned();
        let client = ctx.client.clone();
        let query = PatientQuery { q: (!q.is_empty()).then(|| q.clone()), limit: Some(50), cursor: None };
        ctx.spawn("searching patients", async move { client.patients(&query).await }, move |r| {
            Msg::new(BookingMsg::Patients(q, r))
        });
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> BookingOutcome {
        match keys::action(self, &key) {
            Some(a) => {
                self.error = None;
                self.act(a, key, ctx)
            }
            None if self.step == Step::Patient && self.typing() => {
                if self.query.handle(&key) {
                    self.error = None;
                    self.pick_when_ready = false;
                    self.patient_pick = Pick::default();
                    self.search(ctx);
                }
                BookingOutcome::Open
            }
            None if self.typing() => {
                self.reason.handle(&key);
                BookingOutcome::Open
            }
            None => BookingOutcome::Ignored,
        }
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) -> BookingOutcome {
        match a {
            Act::Close => return BookingOutcome::Closed,
            Act::Go => match self.step {
                Step::Doctor => self.doctor_pick.go(&key, self.doctors.len()),
                Step::Type => self.type_pick.go(&key, self.types.as_ref().map_or(0, |t| t.len() + 1)),
                Step::Slot => self.slot_pick.go(&key, self.slots.as_ref().map_or(0, Vec::len)),
                _ => self.patient_pick.go(&key, self.patients.len()),
            },
            Act::PickDoctor => {
                self.step = Step::Type;
                self.load_types(ctx);
            }
            Act::PickType => {
                self.step = Step::Slot;
                self.load_slots(ctx);
            }
            Act::PickSlot if self.moving.is_some() => self.submit(ctx),
            Act::PickSlot if self.fixed_patient.is_some() => self.step = Step::Reason,
            Act::PickSlot => {
                self.step = Step::Patient;
                self.search(ctx);
            }
            Act::PickPatient if self.patients_for.as_deref() != Some(self.query.text()) => {
                self.pick_when_ready = true;
                self.error = Some("Still searching…".into());
            }
            Act::PickPatient => self.pick_patient(),
            Act::Repeat => self.repeat = self.repeat.next(),
            Act::Visits => {
                let more = keys::is_up(&key);
                self.visits = if more { (self.visits + 1).min(52) } else { (self.visits - 1).max(2) };
            }
            Act::Book => self.submit(ctx),
            Act::Back => {
                self.step = match self.step {
                    Step::Reason if self.fixed_patient.is_none() => Step::Patient,
                    Step::Slot if self.types.as_ref().is_some_and(|t| !t.is_empty()) => Step::Type,
                    Step::Slot | Step::Type => Step::Doctor,
                    _ => Step::Slot,
                }
            }
        }
        BookingOutcome::Open
    }

    fn pick_patient(&mut self) {
        match self.patients.get(self.patient_pick.sel) {
            Some(p) => {
                self.chosen_patient = Some((p.id, p.full_name.clone()));
                self.step = Step::Reason;
                self.error = None;
            }
            None => self.error = Some("No patient matches; change the search.".into()),
        }
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        let (Some(doctor), Some(slot)) = (self.doctor().map(|d| d.id), self.slot()) else { return };
        let client = ctx.client.clone();
        self.busy = true;
        if let Some(appt) = &self.moving {
            let (id, version) = (appt.id, appt.version);
            let patch = AppointmentPatch { start: Some(slot.start), end: Some(slot.end), reason: None };
            ctx.spawn(
                "moving the appointment",
                async move { client.patch_appointment(id, version, &patch).await },
                |r| Msg::new(BookingMsg::Done(r)),
            );
            return;
        }
        let Some(patient_id) = self.patient().map(|p| p.0) else {
            self.busy = false;
            return;
        };
        let reason = match Reason::parse(self.reason.text()) {
            Ok(r) => r,
            Err(e) => {
                self.error = Some(format!("The reason {e}."));
                self.busy = false;
                return;
            }
        };
        // A type sets the length itself.
        let type_id = self.visit_type().map(|t| t.id);
        let key = self.idempotency_key.clone();
        if let Repeat::Every(every) = self.repeat {
            let rule = SeriesRule { every, count: Some(self.visits), until: None };
            let (start, on_conflict) = (slot.start, OnConflict::Skip);
            let new = NewSeries { patient_id, doctor_id: doctor, type_id, start, rule, reason, on_conflict };
            ctx.spawn("booking the series", async move { client.create_series(&new).await }, |r| {
                Msg::new(BookingMsg::SeriesDone(r))
            });
            return;
        }
        let end = if type_id.is_some() { None } else { Some(slot.end) };
        let new = NewAppointment { patient_id, doctor_id: doctor, start: slot.start, end, reason, type_id };
        ctx.spawn("booking", async move { client.book(&new, Some(&key)).await }, |r| Msg::new(BookingMsg::Done(r)));
    }

    /// Takes a result of the flow's own tasks; other messages leave it open.
    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) -> BookingOutcome {
        let Ok(msg) = msg.take::<BookingMsg>() else { return BookingOutcome::Open };
        match msg {
            BookingMsg::Types(dept, r) if Some(dept.as_str()) == self.doctor().map(|d| d.department.as_str()) => {
                match r {
                    Ok((types, resources)) => {
                        let online = self.online;
                        self.types = Some(types.into_iter().filter(|t| !online || t.patient_bookable).collect());
                        self.resources = resources;
                    }
                    Err(p) => {
                        self.types = Some(Vec::new());
                        self.error = Some(format!("Could not load the kinds of visit: {}", explain(&p)));
                    }
                }
                if self.step == Step::Type && self.types.as_ref().is_some_and(Vec::is_empty) {
                    // Nothing to choose: a plain visit.
                    self.step = Step::Slot;
                    self.load_slots(ctx);
                }
            }
            BookingMsg::Types(..) => {}
            BookingMsg::Slots(doctor, r) if Some(doctor) == self.doctor().map(|d| d.id) => match r {
                Ok(slots) => self.slots = Some(slots),
                Err(p) => {
                    self.slots = Some(Vec::new());
                    self.error = Some(format!("Could not load free times: {}", explain(&p)));
                }
            },
            BookingMsg::Slots(..) => {}
            BookingMsg::Patients(q, r) if q == self.query.text() => match r {
                Ok(page) => {
                    self.patients = page.items;
                    self.patients_for = Some(q);
                    self.patient_pick.clamp(self.patients.len());
                    if std::mem::take(&mut self.pick_when_ready) && self.step == Step::Patient {
                        self.pick_patient();
                    }
                }
                Err(p) => self.error = Some(format!("Search failed: {}", explain(&p))),
            },
            BookingMsg::Patients(..) => {}
            BookingMsg::Done(r) => return self.done(r.map(|a| (a, None)), ctx),
            BookingMsg::SeriesDone(r) => {
                let first = r.map(|s| {
                    let counts = (s.occurrences.len(), s.skipped.len());
                    (s.occurrences.into_iter().next(), counts)
                });
                let first = match first {
                    Ok((Some(a), counts)) => Ok((a, Some(counts))),
                    Ok((None, _)) => Err(Problem::new(409, "no visit of the series could be booked")),
                    Err(p) => Err(p),
                };
                return self.done(first, ctx);
            }
        }
        BookingOutcome::Open
    }

    fn done(&mut self, r: Result<(Appointment, Option<(usize, usize)>), Problem>, ctx: &mut Ctx) -> BookingOutcome {
        self.busy = false;
        match r {
            Ok((appointment, series)) => {
                let room = self.resource_name(&appointment);
                BookingOutcome::Done(Booked { appointment, room, series })
            }
            Err(p) if p.status == 409 || p.status == 412 => {
                let what = if self.moving.is_some() { "moved or booked" } else { "booked" };
                self.error = Some(format!(
                    "Someone else just {what} that time ({}). Here are the times still free; pick another.",
                    p.detail.unwrap_or_else(|| "conflict".into())
                ));
                self.idempotency_key = Uuid::now_v7().to_string();
                self.step = Step::Slot;
                self.load_slots(ctx);
                BookingOutcome::Conflict
            }
            Err(p) => {
                self.error = Some(format!("Not booked: {}", explain(&p)));
                self.idempotency_key = Uuid::now_v7().to_string();
                BookingOutcome::Open
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let r = ui::popup(f, area, 76, area.height.saturating_sub(2).clamp(12, 26));
        let title = if self.moving.is_some() { "Move appointment" } else { "Book an appointment" };
        let b = ui::block(title, t);
        let inner = b.inner(r);
        f.render_widget(b, r);
        let [summary, body, err] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(3), Constraint::Length(2)]).areas(inner);
        f.render_widget(Paragraph::new(self.summary(v)), summary);
        match self.step {
            Step::Doctor => {
                let rows =
                    self.doctors.iter().map(|d| Line::from(format!("{:<28} {}", d.full_name, d.department))).collect();
                ui::draw_list(f, body, "1 · Doctor", rows, self.doctor_pick, t, true);
            }
            Step::Type => match &self.types {
                None => f.render_widget(Paragraph::new(Span::styled("Loading kinds of visit…", t.dim())), body),
                Some(types) => {
                    let mut rows = vec![Line::from(format!("{:<20} one slot", "Standard visit"))];
                    rows.extend(types.iter().map(|ty| Line::from(type_line(ty))));
                    ui::draw_list(f, body, "2 · Kind of visit", rows, self.type_pick, t, true);
                }
            },
            Step::Slot => match &self.slots {
                None => f.render_widget(Paragraph::new(Span::styled("Loading free times…", t.dim())), body),
                Some(slots) => {
                    let rows = slots
                        .iter()
                        .map(|s| Line::from(format!("{}–{}", time::day_hm(s.start, v.tz), time::hm(s.end, v.tz))))
                        .collect();
                    let title = match self.visit_type() {
                        Some(ty) => format!("3 · Free times for {}, next {SLOT_DAYS} days", ty.name),
                        None => format!("3 · Free times, next {SLOT_DAYS} days"),
                    };
                    ui::draw_list(f, body, &title, rows, self.slot_pick, t, true);
                }
            },
            Step::Patient => {
                let [q, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(body);
                f.render_widget(Paragraph::new(self.query.line(t, true, 4)), q);
                let rows = self
                    .patients
                    .iter()
                    .map(|p| Line::from(format!("{:<24} {}  {}", ui::fit(&p.full_name, 24), p.date_of_birth, p.email)))
                    .collect();
                ui::draw_list(f, list, "4 · Patient", rows, self.patient_pick, t, true);
            }
            Step::Reason => {
                let mut lines = vec![self.reason.line(t, true, 6), Line::raw("")];
                if self.may_repeat() {
                    let how = match self.repeat {
                        Repeat::Once => "once (Tab: repeat every week, 2 weeks, month)".to_owned(),
                        r => {
                            format!("{}, {} visits (↑↓ more or fewer; times taken are skipped)", r.words(), self.visits)
                        }
                    };
                    lines.push(Line::from(format!("Repeat: {how}")));
                    lines.push(Line::raw(""));
                }
                let what = if self.repeat == Repeat::Once { "the appointment" } else { "the series" };
                lines.push(Line::from(Span::styled(format!("Enter books {what}."), t.dim())));
                f.render_widget(Paragraph::new(lines).block(ui::block("5 · Reason for the visit", t)), body);
            }
        }
        let msg = match (&self.error, self.busy) {
            (_, true) => Line::from(Span::styled("Saving…", t.focus())),
            (Some(e), _) => Line::from(Span::styled(e.clone(), t.error())),
            _ => Line::raw(""),
        };
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), err);
    }

    fn summary(&self, v: &View) -> Vec<Line<'static>> {
        let doctor = match self.step {
            Step::Doctor => "?".to_owned(),
            _ => self.doctor().map_or("?".into(), |d| d.full_name.clone()),
        };
        let when = match self.step {
            Step::Doctor | Step::Type | Step::Slot => "?".to_owned(),
            _ => self.slot().map_or("?".into(), |s| time::day_hm(s.start, v.tz)),
        };
        let who = match &self.moving {
            Some(a) => a.patient_name.clone(),
            None => self.patient().map_or("?".into(), |p| p.1.clone()),
        };
        let mut lines = vec![Line::from(format!("Doctor: {doctor}   When: {when}   Patient: {who}"))];
        if let Some(ty) = self.visit_type().filter(|_| self.step != Step::Type) {
            lines.push(Line::from(Span::styled(format!("Visit: {} · {}", ty.name, type_details(ty)), v.theme.dim())));
        }
        if let Some(a) = &self.moving {
            lines.push(Line::from(Span::styled(format!("Now at {}", time::day_hm(a.start, v.tz)), v.theme.dim())));
        }
        lines
    }
}

/// What a visit type takes and costs: length, buffers, resource, price.
fn type_details(t: &AppointmentType) -> String {
    let mut s = format!("{} min", t.minutes);
    if t.buffer_before + t.buffer_after > 0 {
        s.push_str(&format!(" +{}/{}", t.buffer_before, t.buffer_after));
    }
    if let Some(kind) = &t.resource_kind {
        s.push_str(&format!(" · needs {kind}"));
    }
    let (major, minor) = (t.price.amount / 100, t.price.amount % 100);
    s.push_str(&format!(" · {major}.{minor:02} {}", t.price.currency));
    s
}

/// A visit type as the flow lists it.
fn type_line(t: &AppointmentType) -> String {
    format!("{:<20} {}", ui::fit(&t.name, 20), type_details(t))
}
