//! doctor (not built yet).
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use crate::app::{Ctx, Handled, View};
use crate::keys::Cmd;

pub enum Msg {}

pub struct Doctor;

impl Doctor {
    pub fn new(_ctx: &mut Ctx) -> Self {
        Doctor
    }
    pub fn handle_key(&mut self, _key: KeyEvent, _ctx: &mut Ctx) -> Handled {
        Handled::Ignored
    }
    pub fn on_msg(&mut self, msg: Msg, _ctx: &mut Ctx) {
        match msg {}
    }
    pub fn commands(&self) -> Vec<Cmd> {
        Vec::new()
    }
    pub fn draw(&self, f: &mut Frame, area: Rect, _v: &View) {
        f.render_widget(Paragraph::new("This role's screens are not in this build of the client yet."), area);
    }
}

impl Doctor {
    pub fn typing(&self) -> bool {
        false
    }
}
