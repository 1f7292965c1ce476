//! Colours, or none: with `NO_COLOR` set every style falls back to plain
//! text attributes (bold, reversed, dim) so nothing depends on colour alone.

use healthsynx_shared::AppointmentStatus;
use ratatui::style::{Color, Modifier, Style};

/// How the client paints things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn header(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new().add_modifier(Modifier::DIM) }
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn focus(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn free(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::DIM)
    }

    /// Busy time around a visit (its buffers): shaded, not bookable.
    pub fn buffer(self) -> Style {
        self.dim()
    }

    /// The board's status colours.
    pub fn status(self, s: AppointmentStatus) -> Style {
        match s {
            // Only an offer so far: set apart from real bookings, in colour or not.
            AppointmentStatus::Held => self.fg(Color::Magenta).add_modifier(Modifier::ITALIC),
            AppointmentStatus::Scheduled => self.fg(Color::Cyan),
            AppointmentStatus::CheckedIn => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            AppointmentStatus::Completed => self.fg(Color::Green),
            AppointmentStatus::Cancelled => self.dim().add_modifier(Modifier::CROSSED_OUT),
            AppointmentStatus::NoShow => self.fg(Color::Red),
        }
    }
}

/// A short word for a status, so the board reads right without colour too.
pub fn status_word(s: AppointmentStatus) -> &'static str {
    match s {
        AppointmentStatus::Held => "offer held",
        AppointmentStatus::Scheduled => "booked",
        AppointmentStatus::CheckedIn => "checked in",
        AppointmentStatus::Completed => "done",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::NoShow => "no-show",
    }
}
