//! One module per screen. Each owns its state, answers keys from its own
//! key table, takes its results, and draws itself. A new screen is one
//! module and one line in [`home`].

pub mod admin;
pub mod doctor;
pub mod front_desk;
pub mod login;
pub mod nurse;
pub mod patient;
pub mod security;

use healthsynx_shared::Role;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::app::{Ctx, Handled, Msg, View};
use crate::keys::Cmd;

/// What the app asks of the screen that is up.
pub trait Screen {
    fn title(&self) -> &'static str;
    /// The keys that work now; the bar and help show these, and only these are acted on.
    fn commands(&self) -> Vec<Cmd>;
    /// Whether a text field has the keyboard, so plain letters are text.
    fn typing(&self) -> bool;
    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled;
    /// A result of a task this screen spawned.
    fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx);
    /// Time passed.
    fn on_tick(&mut self, _ctx: &mut Ctx) {}
    /// Whether the screen is done and the one under it should come back.
    fn closed(&self) -> bool {
        false
    }
    fn draw(&self, f: &mut Frame, area: Rect, v: &View);
}

/// Makes a screen, starting its first loads.
pub type Make = fn(&mut Ctx) -> Box<dyn Screen>;

/// Each role's home screen.
pub fn home(role: Role) -> Make {
    match role {
        Role::Receptionist => |ctx| Box::new(front_desk::FrontDesk::new(ctx)),
        Role::Doctor => |ctx| Box::new(doctor::Doctor::new(ctx)),
        Role::Nurse => |ctx| Box::new(nurse::Nurse::new(ctx)),
        Role::Patient => |ctx| Box::new(patient::PatientHome::new(ctx)),
        Role::Admin => |ctx| Box::new(admin::Admin::new(ctx)),
    }
}
