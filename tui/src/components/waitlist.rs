//! The waitlist: the front desk's panel of open offers and waiting
//! patients, the patient's form to join it, and how both show an entry or
//! an offer. The server makes the offers (it holds a freed time for the
//! oldest fitting entry); here they are answered.

use std::collections::BTreeSet;

use healthsynx_shared::api::{NewWaitlistEntry, WaitlistQuery};
use healthsynx_shared::client::Client;
use healthsynx_shared::value::Reason;
use healthsynx_shared::{Appointment, Doctor, Offer, Problem, WaitlistEntry, WaitlistStatus};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{HighlightSpacing, List, ListItem, ListState, Paragraph, Wrap};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::components::Outcome;
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LIST, bind, char};
use crate::theme::Theme;
use crate::time;
use crate::ui::{self, Field, Pick};

/// Open offers (soonest to expire first) and live entries (oldest first).
pub type Waitlist = (Vec<Offer>, Vec<WaitlistEntry>);

/// Loads the open offers and live entries the caller may see.
pub async fn load(client: Client) -> Result<Waitlist, Problem> {
    let offers = client.offers().await?;
    let entries = client.waitlist(&WaitlistQuery::default()).await?;
    Ok((offers, entries))
}

/// Whole minutes until `expires_at`, when that is under an hour.
pub fn minutes_left(expires_at: Timestamp, now: Timestamp) -> Option<i64> {
    let secs = expires_at.duration_since(now).as_secs();
    (secs < 3600).then(|| (secs.max(0) + 59) / 60)
}

/// `10:32` today, `Thu 3 Dec 10:32` on another day.
pub fn clock(ts: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    if time::date_of(ts, tz) == time::date_of(now, tz) { time::hm(ts, tz) } else { time::day_hm(ts, tz) }
}

/// `expires in 12 min`, or the clock time when it is an hour or more away.
pub fn expiry(expires_at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    match minutes_left(expires_at, now) {
        Some(0) => "expired".to_owned(),
        Some(m) => format!("expires in {m} min"),
        None => format!("held until {}", clock(expires_at, now, tz)),
    }
}

/// Whom an entry waits for: its doctor, or any doctor of its department.
pub fn wanted(e: &WaitlistEntry, doctors: &[Doctor]) -> String {
    let any = || format!("any {} doctor", e.department);
    match e.doctor_id {
        Some(id) => doctors.iter().find(|d| d.id == id).map_or_else(any, |d| d.full_name.clone()),
        None => any(),
    }
}

/// The days an entry waits for: `until Fri 11 Dec`, `Mon 30 Nov – Fri 11 Dec`,
/// or within one day, `Mon 30 Nov 09:00–12:00`.
pub fn window(e: &WaitlistEntry, now: Timestamp, tz: &TimeZone) -> String {
    let (first, last) = (time::date_of(e.earliest, tz), time::date_of(e.latest, tz));
    if e.earliest <= now {
        format!("until {}", time::day(last))
    } else if first == last {
        format!("{}–{}", time::day_hm(e.earliest, tz), time::hm(e.latest, tz))
    } else {
        format!("{} – {}", time::day(first), time::day(last))
    }
}

pub fn status_word(s: WaitlistStatus) -> &'static str {
    match s {
        WaitlistStatus::Waiting => "waiting",
        WaitlistStatus::Offered => "offered",
        WaitlistStatus::Booked => "booked",
        WaitlistStatus::Removed => "removed",
    }
}

/// The results of the panel's tasks.
pub enum WaitlistMsg {
    Loaded(Result<Waitlist, Problem>),
    Accepted(Result<Appointment, Problem>),
    Declined(Result<Offer, Problem>),
    /// The named patient's entry was taken off.
    Left(String, Result<(), Problem>),
}

/// Tells the user how an answer went. `true` for an answer: the calendar
/// may have changed, even when it failed (the offer may have run out).
pub fn report(msg: &WaitlistMsg, ctx: &mut Ctx) -> bool {
    match msg {
        WaitlistMsg::Loaded(_) => return false,
        WaitlistMsg::Accepted(Ok(a)) => ctx.info(format!(
            "Booked: {} with {} on {} from the waitlist.",
            a.patient_name,
            a.doctor_name,
            time::day_hm(a.start, ctx.tz)
        )),
        WaitlistMsg::Accepted(Err(p)) => ctx.problem("Not booked", p),
        WaitlistMsg::Declined(Ok(o)) => {
            ctx.info(format!("Declined for {}: the time goes to the next patient.", o.patient_name))
        }
        WaitlistMsg::Declined(Err(p)) => ctx.problem("Not declined", p),
        WaitlistMsg::Left(name, Ok(())) => ctx.info(format!("{name} left the waitlist.")),
        WaitlistMsg::Left(_, Err(p)) => ctx.problem("Not taken off the waitlist", p),
    }
    true
}

/// The front desk's view of the waitlist: offers to answer for patients on
/// the phone, and who waits for what.
pub struct WaitlistPanel {
    offers: Vec<Offer>,
    entries: Vec<WaitlistEntry>,
    /// To name the doctors the entries wait for.
    doctors: Vec<Doctor>,
    /// Over the offers, then the entries.
    pick: Pick,
    loaded: bool,
    /// The held appointment whose offer to select once loaded.
    focus: Option<Uuid>,
    /// Asking before taking the selected entry off.
    confirm: bool,
    /// An answer is on its way; one at a time, so a key pressed twice is not sent twice.
    busy: bool,
}

enum Row<'a> {
    Offer(&'a Offer),
    Entry(&'a WaitlistEntry),
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Accept,
    Decline,
    AskRemove,
    Remove,
    Keep,
    Refresh,
    Close,
}

type B = Binding<WaitlistPanel, Act>;

const PANEL: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.len() > 1),
    bind(&[char('a')], "a", "accept offer", Act::Accept).when(|s| s.on_offer().is_some() && !s.busy),
    bind(&[char('d')], "d", "decline offer", Act::Decline).when(|s| s.on_offer().is_some() && !s.busy),
    bind(&[char('x')], "x", "remove from waitlist", Act::AskRemove).when(|s| s.on_entry().is_some() && !s.busy),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
    bind(ESC, "Esc", "close", Act::Close),
];
const CONFIRM: &[B] = &[bind(ENTER, "Enter", "remove from waitlist", Act::Remove), bind(ESC, "Esc", "keep", Act::Keep)];

impl Keymap for WaitlistPanel {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        if self.confirm { CONFIRM } else { PANEL }
    }
}

impl WaitlistPanel {
    /// Opens the panel and loads it; with `focus`, that held appointment's offer is selected.
    pub fn open(doctors: Vec<Doctor>, focus: Option<Uuid>, ctx: &mut Ctx) -> Self {
        let panel = WaitlistPanel {
            offers: Vec::new(),
            entries: Vec::new(),
            doctors,
            pick: Pick::default(),
            loaded: false,
            focus,
            confirm: false,
            busy: false,
        };
        panel.load(ctx);
        panel
    }

    pub fn load(&self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        ctx.spawn("loading the waitlist", load(client), |r| Msg::new(WaitlistMsg::Loaded(r)));
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    fn len(&self) -> usize {
        self.offers.len() + self.entries.len()
    }

    fn selected(&self) -> Option<Row<'_>> {
        let i = self.pick.sel;
        match self.offers.get(i) {
            Some(o) => Some(Row::Offer(o)),
            None => self.entries.get(i - self.offers.len()).map(Row::Entry),
        }
    }

    fn on_offer(&self) -> Option<&Offer> {
        match self.selected() {
            Some(Row::Offer(o)) => Some(o),
            _ => None,
        }
    }

    fn on_entry(&self) -> Option<&WaitlistEntry> {
        match self.selected() {
            Some(Row::Entry(e)) => Some(e),
            _ => None,
        }
    }

    fn selected_id(&self) -> Option<Uuid> {
        match self.selected()? {
            Row::Offer(o) => Some(o.id),
            Row::Entry(e) => Some(e.id),
        }
    }

    /// Replaces the rows, keeping the selection on the same offer or entry
    /// where it is still there.
    fn replace(&mut self, offers: Vec<Offer>, entries: Vec<WaitlistEntry>) {
        let was = self.selected_id();
        self.offers = offers;
        self.entries = entries;
        let held = self.focus.and_then(|a| self.offers.iter().position(|o| o.appointment_id == a));
        let same = |id| {
            let offer = self.offers.iter().position(|o| o.id == id);
            offer.or_else(|| self.entries.iter().position(|e| e.id == id).map(|i| i + self.offers.len()))
        };
        self.pick.sel = held.or_else(|| was.and_then(same)).unwrap_or(self.pick.sel);
        self.pick.clamp(self.len());
        self.focus = None;
    }

    /// Offers whose hold ran out leave the list (the server passes the time on).
    pub fn drop_expired(&mut self, now: Timestamp) {
        if self.offers.iter().any(|o| o.expires_at <= now) {
            let offers = self.offers.iter().filter(|o| o.expires_at > now).cloned().collect();
            let entries = std::mem::take(&mut self.entries);
            self.replace(offers, entries);
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        match keys::action(self, &key) {
            Some(a) => self.act(a, &key, ctx),
            None => Outcome::Ignored,
        }
    }

    fn act(&mut self, a: Act, key: &KeyEvent, ctx: &mut Ctx) -> Outcome {
        match a {
            Act::Go => {
                let n = self.len();
                self.pick.go(key, n);
            }
            Act::Accept => self.answer(true, ctx),
            Act::Decline => self.answer(false, ctx),
            Act::AskRemove => self.confirm = true,
            Act::Remove => {
                self.confirm = false;
                self.remove(ctx);
            }
            Act::Keep => self.confirm = false,
            Act::Refresh => self.load(ctx),
            Act::Close => return Outcome::Closed,
        }
        Outcome::Open
    }

    /// Accepts or declines the selected offer for its patient.
    fn answer(&mut self, accept: bool, ctx: &mut Ctx) {
        let Some(id) = self.on_offer().map(|o| o.id) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        if accept {
            ctx.spawn("accepting the offer", async move { client.accept_offer(id).await }, |r| {
                Msg::new(WaitlistMsg::Accepted(r))
            });
        } else {
            ctx.spawn("declining the offer", async move { client.decline_offer(id).await }, |r| {
                Msg::new(WaitlistMsg::Declined(r))
            });
        }
    }

    /// Takes the selected entry off the waitlist.
    fn remove(&mut self, ctx: &mut Ctx) {
        let Some((id, name)) = self.on_entry().map(|e| (e.id, e.patient_name.clone())) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        ctx.spawn("taking the patient off the waitlist", async move { client.leave_waitlist(id).await }, |r| {
            Msg::new(WaitlistMsg::Left(name, r))
        });
    }

    /// Takes a result of the panel's tasks; `true` when it was an answer
    /// (the board should reload).
    pub fn on_msg(&mut self, msg: WaitlistMsg, ctx: &mut Ctx) -> bool {
        match msg {
            WaitlistMsg::Loaded(Ok((offers, entries))) => {
                self.loaded = true;
                self.replace(offers, entries);
                false
            }
            WaitlistMsg::Loaded(Err(p)) => {
                self.loaded = true;
                ctx.problem("Could not load the waitlist", &p);
                false
            }
            answer => {
                self.busy = false;
                report(&answer, ctx);
                self.load(ctx);
                true
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        // Headings, rows (or a line saying there are none), the gap, the line about the row, borders.
        let rows = 3 + self.offers.len().max(1) + self.entries.len().max(1);
        let want = u16::try_from(rows + 4).unwrap_or(u16::MAX).max(10);
        let r = ui::popup(f, area, 100, want.min(area.height.saturating_sub(2)));
        let b = ui::block("Waitlist", t);
        let inner = b.inner(r);
        f.render_widget(b, r);
        if !self.loaded {
            f.render_widget(Paragraph::new(Span::styled("Loading the waitlist…", t.dim())), inner);
            return;
        }
        let [list, about] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(inner);
        // The selection mark takes two columns.
        let w = usize::from(list.width).saturating_sub(2);
        let mut rows = vec![section("Offers", self.offers.len(), t)];
        rows.extend(self.offers.iter().map(|o| offer_row(o, v)));
        rows.extend(self.offers.is_empty().then(|| nothing("No open offers.", t)));
        rows.push(ListItem::new(""));
        rows.push(section("Waiting", self.entries.len(), t));
        rows.extend(self.entries.iter().map(|e| entry_row(e, &self.doctors, v, w)));
        rows.extend(self.entries.is_empty().then(|| nothing("No one is waiting.", t)));
        // The mark's column stays when nothing is selected, so the rows do not shift.
        let list_w = List::new(rows)
            .highlight_style(t.selected())
            .highlight_symbol("› ")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = ListState::default().with_selected(self.list_index());
        f.render_stateful_widget(list_w, list, &mut state);
        f.render_widget(Paragraph::new(self.about(v)).wrap(Wrap { trim: true }), about);
        if self.confirm
            && let Some(e) = self.on_entry()
        {
            let lines = vec![
                Line::from(format!("Take {} off the waitlist for {}?", e.patient_name, wanted(e, &self.doctors))),
                Line::from(Span::styled("Enter removes the entry (and withdraws its offer); Esc keeps it.", t.dim())),
            ];
            ui::draw_popup(f, area, "Remove from the waitlist", lines, 70, t);
        }
    }

    /// Where the selected row sits in the drawn list, past the section headings.
    fn list_index(&self) -> Option<usize> {
        let sel = self.pick.sel;
        match self.selected()? {
            Row::Offer(_) => Some(1 + sel),
            // The offers' heading, their rows (or the line saying there are none), a gap, this heading.
            Row::Entry(_) => Some(1 + self.offers.len().max(1) + 2 + sel - self.offers.len()),
        }
    }

    /// A line about the selected row.
    fn about(&self, v: &View) -> Line<'static> {
        let t = v.theme;
        match self.selected() {
            _ if self.busy => Line::from(Span::styled("Sending…", t.focus())),
            Some(Row::Offer(o)) => Line::from(Span::styled(
                format!(
                    "Held for {} until {}: a books it for them, d passes it to the next patient.",
                    o.patient_name,
                    clock(o.expires_at, v.now, v.tz)
                ),
                t.dim(),
            )),
            Some(Row::Entry(e)) => {
                let note = e.note.as_deref().map(|n| format!(" Note: {n}")).unwrap_or_default();
                let since = time::day_hm(e.created_at, v.tz);
                Line::from(Span::styled(format!("Waiting since {since}.{note}"), t.dim()))
            }
            None => Line::from(Span::styled("Times that free up are offered here automatically.", t.dim())),
        }
    }
}

fn section(title: &str, n: usize, t: Theme) -> ListItem<'static> {
    ListItem::new(Line::from(Span::styled(format!("{title} ({n})"), t.title())))
}

fn nothing(text: &'static str, t: Theme) -> ListItem<'static> {
    ListItem::new(Line::from(Span::styled(format!("  {text}"), t.dim())))
}

fn offer_row(o: &Offer, v: &View) -> ListItem<'static> {
    ListItem::new(Line::from(vec![
        Span::raw(format!(
            "{:<18} {:<21} {:<16}  ",
            ui::fit(&o.patient_name, 18),
            ui::fit(&o.doctor_name, 21),
            time::day_hm(o.start, v.tz)
        )),
        Span::styled(expiry(o.expires_at, v.now, v.tz), v.theme.focus()),
    ]))
}

/// An entry's row, its note in what is left of `width`.
fn entry_row(e: &WaitlistEntry, doctors: &[Doctor], v: &View, width: usize) -> ListItem<'static> {
    let text = format!(
        "{:<18} {:<21} {:<23} ",
        ui::fit(&e.patient_name, 18),
        ui::fit(&wanted(e, doctors), 21),
        ui::fit(&window(e, v.now, v.tz), 23)
    );
    let status = format!("{:<8}", status_word(e.status));
    let style = if e.status == WaitlistStatus::Offered { v.theme.focus() } else { v.theme.dim() };
    let room = width.saturating_sub(text.chars().count() + status.chars().count() + 1);
    let note = e.note.as_deref().filter(|_| room >= 8).map(|n| format!(" {}", ui::fit(n, room))).unwrap_or_default();
    ListItem::new(Line::from(vec![Span::raw(text), Span::styled(status, style), Span::raw(note)]))
}

// ---- joining ----

/// How far ahead a patient may wait, in days; ←→ steps through them.
const WITHIN_DAYS: [i64; 4] = [3, 7, 14, 28];

/// Whom a patient waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    Doctor(Doctor),
    /// Any doctor of this department.
    AnyIn(String),
}

/// A patient putting themselves on the waitlist: whom, how far ahead, a note.
pub struct JoinForm {
    choices: Vec<Wanted>,
    pick: Pick,
    /// Into [`WITHIN_DAYS`].
    within: usize,
    pub note: Field,
    /// The request is on its way.
    pub busy: bool,
}

impl JoinForm {
    /// Every doctor, then "any doctor" of each department.
    pub fn new(doctors: &[Doctor]) -> Self {
        let mut choices: Vec<Wanted> = doctors.iter().cloned().map(Wanted::Doctor).collect();
        let depts: BTreeSet<&str> = doctors.iter().map(|d| d.department.as_str()).collect();
        choices.extend(depts.into_iter().map(|d| Wanted::AnyIn(d.to_owned())));
        JoinForm {
            choices,
            pick: Pick::default(),
            within: 1,
            note: Field::new("Note").hint("optional, e.g. mornings only"),
            busy: false,
        }
    }

    pub fn choices(&self) -> usize {
        self.choices.len()
    }

    pub fn wanted(&self) -> Option<&Wanted> {
        self.choices.get(self.pick.sel)
    }

    /// ↑↓ through the doctors.
    pub fn go(&mut self, key: &KeyEvent) {
        self.pick.go(key, self.choices.len());
    }

    /// ←→: a shorter or a longer wait.
    pub fn step_within(&mut self, key: &KeyEvent) {
        self.within = match key.code {
            KeyCode::Left => self.within.saturating_sub(1),
            _ => (self.within + 1).min(WITHIN_DAYS.len() - 1),
        };
    }

    fn days(&self) -> i64 {
        WITHIN_DAYS[self.within]
    }

    /// The entry to ask for: from now until the chosen number of days ahead.
    pub fn request(&self, patient_id: Uuid, now: Timestamp) -> Result<NewWaitlistEntry, String> {
        let wanted = self.wanted().ok_or("Pick a doctor first.")?;
        let note = match self.note.text() {
            "" => None,
            n => Some(Reason::parse(n).map_err(|e| format!("The note {e}."))?),
        };
        let (doctor_id, department) = match wanted {
            Wanted::Doctor(d) => (Some(d.id), None),
            Wanted::AnyIn(dept) => (None, Some(dept.clone())),
        };
        let latest = now + SignedDuration::from_hours(24 * self.days());
        Ok(NewWaitlistEntry { patient_id, doctor_id, department, type_id: None, earliest: now, latest, note })
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let want = u16::try_from(self.choices.len()).unwrap_or(u16::MAX).saturating_add(8);
        let r = ui::popup(f, area, 72, want.min(area.height.saturating_sub(2)));
        let b = ui::block("Join the waitlist", t);
        let inner = b.inner(r);
        f.render_widget(b, r);
        let [intro, list, within, note, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let text = "An earlier time that frees up is held for you, and shown at the top.";
        f.render_widget(Paragraph::new(Span::styled(text, t.dim())), intro);
        let rows = self.choices.iter().map(choice_row).collect();
        ui::draw_list(f, list, "Doctor", rows, self.pick, t, true);
        let until = time::day(time::date_of(v.now + SignedDuration::from_hours(24 * self.days()), v.tz));
        let within_line = Line::from(vec![
            Span::raw("Within: "),
            Span::styled(format!("◂ the next {} days ▸", self.days()), t.focus()),
            Span::styled(format!("  (until {until})"), t.dim()),
        ]);
        f.render_widget(Paragraph::new(within_line), within);
        f.render_widget(Paragraph::new(self.note.line(t, true, 6)), note);
        let foot_text = if self.busy { "Adding you…" } else { "Enter puts you on the waitlist." };
        f.render_widget(Paragraph::new(Span::styled(foot_text, t.dim())), foot);
    }
}

fn choice_row(w: &Wanted) -> Line<'static> {
    match w {
        Wanted::Doctor(d) => Line::from(format!("{:<28} {}", ui::fit(&d.full_name, 27), d.department)),
        Wanted::AnyIn(dept) => Line::from(format!("{:<28} {dept}", "Any doctor")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::key;

    fn doctor(n: u128, name: &str, dept: &str) -> Doctor {
        Doctor { id: Uuid::from_u128(n), full_name: name.into(), department: dept.into() }
    }

    #[test]
    fn the_form_asks_from_now_for_the_chosen_days_and_whom() {
        let doctors = [doctor(1, "Gregory House", "cardiology"), doctor(2, "Meredith Grey", "general")];
        let mut form = JoinForm::new(&doctors);
        assert_eq!(form.choices(), 4, "two doctors, then any doctor of each department");
        let now: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let me = Uuid::from_u128(9);
        let first = form.request(me, now).unwrap();
        assert_eq!((first.doctor_id, first.department, first.note), (Some(doctors[0].id), None, None));
        assert_eq!(first.latest, now + SignedDuration::from_hours(24 * 7));
        form.go(&key(KeyCode::End));
        form.step_within(&key(KeyCode::Right));
        form.step_within(&key(KeyCode::Right));
        form.step_within(&key(KeyCode::Right));
        form.note.value = " mornings ".into();
        let any = form.request(me, now).unwrap();
        assert_eq!((any.doctor_id, any.department.as_deref()), (None, Some("general")));
        assert_eq!((any.earliest, any.latest), (now, now + SignedDuration::from_hours(24 * 28)));
        assert_eq!(any.note.as_deref(), Some("mornings"));
        form.note.value = "x".repeat(10_000);
        assert!(form.request(me, now).unwrap_err().starts_with("The note "));
    }

    #[test]
    fn expiry_reads_in_minutes_within_the_hour_else_as_a_time() {
        let tz = TimeZone::UTC;
        let now: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(expiry(at("2026-11-27T08:14:00Z"), now, &tz), "expires in 14 min");
        assert_eq!(expiry(at("2026-11-27T08:00:20Z"), now, &tz), "expires in 1 min");
        assert_eq!(expiry(now, now, &tz), "expired");
        assert_eq!(expiry(at("2026-11-27T10:32:00Z"), now, &tz), "held until 10:32");
        assert_eq!(expiry(at("2026-11-28T10:32:00Z"), now, &tz), "held until Sat 28 Nov 10:32");
    }
}
