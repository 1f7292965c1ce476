//! Key tables. Each screen, and each mode of a screen, has one table of
//! [`Binding`]s. The status bar, the `?` help and the dispatch all read that
//! table, so a key is shown exactly when it is acted on: a binding whose
//! condition does not hold is neither shown nor acted on (the key is ignored).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key press: a key code, with or without Ctrl. Shift is part of the
/// code (`N`, BackTab); Alt never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Press {
    pub fn matches(&self, key: &KeyEvent) -> bool {
        key.code == self.code
            && key.modifiers.contains(KeyModifiers::CONTROL) == self.ctrl
            && !key.modifiers.contains(KeyModifiers::ALT)
    }

    /// The key event this press stands for.
    pub fn event(self) -> KeyEvent {
        let mods = if self.ctrl { KeyModifiers::CONTROL } else { KeyModifiers::NONE };
        KeyEvent::new(self.code, mods)
    }
}

pub const fn code(code: KeyCode) -> Press {
    Press { code, ctrl: false }
}

pub const fn char(c: char) -> Press {
    code(KeyCode::Char(c))
}

pub const fn ctrl_char(c: char) -> Press {
    Press { code: KeyCode::Char(c), ctrl: true }
}

pub const ENTER: &[Press] = &[code(KeyCode::Enter)];
pub const ESC: &[Press] = &[code(KeyCode::Esc)];
pub const ENTER_ESC: &[Press] = &[code(KeyCode::Enter), code(KeyCode::Esc)];
pub const TAB: &[Press] = &[code(KeyCode::Tab), code(KeyCode::BackTab)];
pub const UP_DOWN: &[Press] = &[code(KeyCode::Up), code(KeyCode::Down)];
/// Left and right arrows only, so `h`/`l` can be typed into a field.
pub const LEFT_RIGHT: &[Press] = &[code(KeyCode::Left), code(KeyCode::Right)];
/// Up and down a list: arrows, `j`/`k`, PageUp/PageDown, Home/End.
pub const LIST: &[Press] = &[
    code(KeyCode::Up),
    code(KeyCode::Down),
    char('k'),
    char('j'),
    code(KeyCode::PageUp),
    code(KeyCode::PageDown),
    code(KeyCode::Home),
    code(KeyCode::End),
];
/// Up and down a list while a field is typed into: no letters.
pub const LIST_ARROWS: &[Press] =
    &[code(KeyCode::Up), code(KeyCode::Down), code(KeyCode::PageUp), code(KeyCode::PageDown)];
/// A grid whose `Tab` also steps right (the front-desk board).
pub const GRID_TAB: &[Press] = &[
    code(KeyCode::Left),
    code(KeyCode::Right),
    code(KeyCode::Up),
    code(KeyCode::Down),
    char('h'),
    char('l'),
    char('k'),
    char('j'),
    code(KeyCode::Tab),
];
/// A grid: arrows and `hjkl`.
pub const GRID: &[Press] = GRID_TAB.split_at(GRID_TAB.len() - 1).0;
/// Between the fields of a form.
pub const FIELDS: &[Press] = &[code(KeyCode::Tab), code(KeyCode::BackTab), code(KeyCode::Down), code(KeyCode::Up)];

/// A row of a key table: the presses it answers to, how the bar shows it,
/// the intent it stands for, and when it applies.
pub struct Binding<S, A> {
    pub keys: &'static [Press],
    pub label: &'static str,
    pub what: &'static str,
    pub action: A,
    pub when: fn(&S) -> bool,
}

fn always<S>(_: &S) -> bool {
    true
}

/// A binding that always applies.
pub const fn bind<S, A: Copy>(
    keys: &'static [Press],
    label: &'static str,
    what: &'static str,
    action: A,
) -> Binding<S, A> {
    Binding { keys, label, what, action, when: always::<S> }
}

impl<S, A: Copy> Binding<S, A> {
    /// Applies only while `when` holds.
    pub const fn when(self, when: fn(&S) -> bool) -> Self {
        Binding { keys: self.keys, label: self.label, what: self.what, action: self.action, when }
    }
}

/// Something that answers keys from a table: a screen, a mode, a pop-up.
pub trait Keymap: Sized + 'static {
    type Action: Copy;

    /// The table for the current mode.
    fn bindings(&self) -> &'static [Binding<Self, Self::Action>];

    /// While a text field has the keyboard: what typing does there. Keys
    /// not in the table then go to the field.
    fn text_field(&self) -> Option<&'static str> {
        None
    }
}

/// The table's action for `key`, if a binding that applies now matches it.
pub fn action<K: Keymap>(k: &K, key: &KeyEvent) -> Option<K::Action> {
    let b = k.bindings().iter().find(|b| (b.when)(k) && b.keys.iter().any(|p| p.matches(key)))?;
    Some(b.action)
}

/// The commands that apply now, for the status bar and help.
pub fn commands<K: Keymap>(k: &K) -> Vec<Cmd> {
    let typing = k.text_field().map(|what| Cmd { key: "type", what, keys: &[] });
    let table = k.bindings().iter().filter(|b| (b.when)(k)).map(|b| Cmd { key: b.label, what: b.what, keys: b.keys });
    typing.into_iter().chain(table).collect()
}

/// A key (as shown to the user), what it does, and the presses it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmd {
    pub key: &'static str,
    pub what: &'static str,
    pub keys: &'static [Press],
}

pub const HELP: Cmd = Cmd { key: "?", what: "help", keys: &[char('?'), code(KeyCode::F(1))] };
pub const HELP_TYPING: Cmd = Cmd { key: "F1", what: "help", keys: &[code(KeyCode::F(1))] };
/// Security (sessions, second factor), from every role's home.
pub const SECURITY: Cmd = Cmd { key: "S", what: "security", keys: &[char('S')] };
pub const LOG_OUT: Cmd = Cmd { key: "L", what: "log out", keys: &[char('L')] };
pub const QUIT: Cmd = Cmd { key: "q", what: "quit", keys: &[char('q')] };
pub const QUIT_NOW: Cmd = Cmd { key: "Ctrl-C", what: "quit now", keys: &[ctrl_char('c')] };

/// A plain character key without Ctrl or Alt.
pub fn is_char(key: &KeyEvent, c: char) -> bool {
    char(c).matches(key)
}

/// Ctrl + `c`.
pub fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    ctrl_char(c).matches(key)
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
