//! One module per screen. Each owns its state, handles its keys and
//! results, lists its commands and draws itself; [`Screen`] dispatches.

pub mod admin;
pub mod doctor;
pub mod front_desk;
pub mod login;
pub mod nurse;
pub mod patient;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::app::{Ctx, Handled, Msg, View};
use crate::keys::Cmd;

/// The screen that is up.
pub enum Screen {
    Login(login::Login),
    FrontDesk(front_desk::FrontDesk),
    Doctor(doctor::Doctor),
    Nurse(nurse::Nurse),
    Patient(patient::PatientHome),
    Admin(admin::Admin),
}

impl Screen {
    pub fn title(&self) -> &'static str {
        match self {
            Screen::Login(_) => "Log in",
            Screen::FrontDesk(_) => "Front desk",
            Screen::Doctor(_) => "Doctor",
            Screen::Nurse(_) => "Nurse",
            Screen::Patient(_) => "My health",
            Screen::Admin(_) => "Admin",
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match self {
            Screen::Login(s) => s.handle_key(key, ctx),
            Screen::FrontDesk(s) => s.handle_key(key, ctx),
            Screen::Doctor(s) => s.handle_key(key, ctx),
            Screen::Nurse(s) => s.handle_key(key, ctx),
            Screen::Patient(s) => s.handle_key(key, ctx),
            Screen::Admin(s) => s.handle_key(key, ctx),
        }
    }

    /// Delivers a result to the screen it belongs to; results for a screen
    /// that is no longer up are dropped.
    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) {
        match (self, msg) {
            (Screen::Login(s), Msg::Login(m)) => s.on_msg(m, ctx),
            (Screen::FrontDesk(s), Msg::FrontDesk(m)) => s.on_msg(m, ctx),
            (Screen::Doctor(s), Msg::Doctor(m)) => s.on_msg(m, ctx),
            (Screen::Nurse(s), Msg::Nurse(m)) => s.on_msg(m, ctx),
            (Screen::Patient(s), Msg::Patient(m)) => s.on_msg(m, ctx),
            (Screen::Admin(s), Msg::Admin(m)) => s.on_msg(m, ctx),
            _ => {}
        }
    }

    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        match self {
            Screen::FrontDesk(s) => s.on_tick(ctx),
            Screen::Nurse(s) => s.on_tick(ctx),
            Screen::Doctor(s) => s.on_tick(ctx),
            _ => {}
        }
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match self {
            Screen::Login(s) => s.commands(),
            Screen::FrontDesk(s) => s.commands(),
            Screen::Doctor(s) => s.commands(),
            Screen::Nurse(s) => s.commands(),
            Screen::Patient(s) => s.commands(),
            Screen::Admin(s) => s.commands(),
        }
    }

    /// Whether a text field has the keyboard, so plain letters are text.
    pub fn typing(&self) -> bool {
        match self {
            Screen::Login(s) => s.typing(),
            Screen::FrontDesk(s) => s.typing(),
            Screen::Doctor(s) => s.typing(),
            Screen::Nurse(s) => s.typing(),
            Screen::Patient(s) => s.typing(),
            Screen::Admin(s) => s.typing(),
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        match self {
            Screen::Login(s) => s.draw(f, area, v),
            Screen::FrontDesk(s) => s.draw(f, area, v),
            Screen::Doctor(s) => s.draw(f, area, v),
            Screen::Nurse(s) => s.draw(f, area, v),
            Screen::Patient(s) => s.draw(f, area, v),
            Screen::Admin(s) => s.draw(f, area, v),
        }
    }
}
