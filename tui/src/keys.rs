//! Key commands. Every screen lists the commands that work in its current
//! state; the same list feeds the status bar and the `?` help, so the two
//! never drift from the keys the code really handles.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key (as shown to the user) and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmd {
    pub key: &'static str,
    pub what: &'static str,
}

/// Shorthand for a [`Cmd`].
pub const fn cmd(key: &'static str, what: &'static str) -> Cmd {
    Cmd { key, what }
}

/// Keys that work on every screen unless a text field is being typed into.
pub const GLOBAL: &[Cmd] = &[cmd("?", "help"), cmd("L", "log out"), cmd("q", "quit"), cmd("Ctrl-C", "quit now")];

/// Moving in a list.
pub const LIST_NAV: Cmd = cmd("↑↓/jk", "move");

/// A plain character key without Ctrl or Alt.
pub fn is_char(key: &KeyEvent, c: char) -> bool {
    key.code == KeyCode::Char(c) && !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// Ctrl + `c`.
pub fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.code == KeyCode::Char(c) && key.modifiers.contains(KeyModifiers::CONTROL)
}

/// Up in a list: arrow or `k`.
pub fn is_up(key: &KeyEvent) -> bool {
    key.code == KeyCode::Up || is_char(key, 'k')
}

/// Down in a list: arrow or `j`.
pub fn is_down(key: &KeyEvent) -> bool {
    key.code == KeyCode::Down || is_char(key, 'j')
}

/// Left: arrow or `h`.
pub fn is_left(key: &KeyEvent) -> bool {
    key.code == KeyCode::Left || is_char(key, 'h')
}

/// Right: arrow or `l`.
pub fn is_right(key: &KeyEvent) -> bool {
    key.code == KeyCode::Right || is_char(key, 'l')
}

/// A key event for tests and the tmux-free drivers.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// A character key event.
pub fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// A Ctrl+character key event.
pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
