//! Moving through days: `[` and `]` step back and on, `t` goes to today.

use jiff::civil::Date;
use ratatui::crossterm::event::KeyEvent;

use crate::app::{Ctx, View};
use crate::keys::{Press, char, is_char};
use crate::time;

/// `[` and `]`.
pub const STEP: &[Press] = &[char('['), char(']')];
/// `t`.
pub const TODAY: &[Press] = &[char('t')];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayNav {
    pub day: Date,
}

impl DayNav {
    pub fn today(ctx: &Ctx) -> Self {
        DayNav { day: time::date_of(ctx.now, ctx.tz) }
    }

    /// Applies `[`, `]` (moving `step` days) or `t`.
    pub fn press(&mut self, key: &KeyEvent, step: i64, ctx: &Ctx) {
        if is_char(key, 't') {
            self.day = time::date_of(ctx.now, ctx.tz);
        } else if is_char(key, '[') {
            self.day = time::add_days(self.day, -step);
        } else if is_char(key, ']') {
            self.day = time::add_days(self.day, step);
        }
    }

    /// `Fri 27 Nov (today)`.
    pub fn title(&self, v: &View) -> String {
        let today = if self.day == time::date_of(v.now, v.tz) { " (today)" } else { "" };
        format!("{}{today}", time::day(self.day))
    }
}
