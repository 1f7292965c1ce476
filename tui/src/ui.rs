//! Small building blocks every screen uses: one-line text fields, forms,
//! list selection, pop-ups.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, HighlightSpacing, List, ListItem, ListState, Paragraph, Wrap};

use crate::keys::{is_down, is_up};
use crate::theme::Theme;

/// A one-line text input. The cursor stays at the end: these fields are
/// short (names, emails, reasons), and that keeps editing predictable.
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
    pub masked: bool,
    pub hint: &'static str,
}

impl Field {
    pub fn new(label: &'static str) -> Self {
        Field { label, ..Field::default() }
    }

    pub fn with(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    pub fn masked(mut self) -> Self {
        self.masked = true;
        self
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    /// Applies an editing key; `true` when the key was one.
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => self.value.clear(),
            KeyCode::Char('w') if ctrl => {
                let kept = self.value.trim_end().rfind(' ').map_or(0, |i| i + 1);
                self.value.truncate(kept);
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => self.value.push(c),
            KeyCode::Backspace => {
                self.value.pop();
            }
            _ => return false,
        }
        true
    }

    pub fn text(&self) -> &str {
        self.value.trim()
    }

    /// `Label: value▏` with the shown value masked for passwords.
    pub fn line(&self, theme: Theme, focused: bool, label_width: usize) -> Line<'static> {
        let shown = if self.masked { "•".repeat(self.value.chars().count()) } else { self.value.clone() };
        let label = format!("{:>label_width$}: ", self.label);
        let mut spans = vec![Span::styled(label, if focused { theme.focus() } else { Style::new() })];
        spans.push(Span::raw(shown));
        if focused {
            spans.push(Span::styled("▏", theme.focus()));
        }
        if self.value.is_empty() && !self.hint.is_empty() {
            spans.push(Span::styled(format!(" {}", self.hint), theme.dim()));
        }
        Line::from(spans)
    }
}

/// A few fields with one focused; Tab and arrows move between them.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl Form {
    pub fn new(fields: Vec<Field>) -> Self {
        Form { fields, focus: 0 }
    }

    /// Moves focus or edits the focused field; `true` when consumed.
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        let n = self.fields.len().max(1);
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            _ => return self.fields.get_mut(self.focus).is_some_and(|f| f.handle(key)),
        }
        true
    }

    pub fn value(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", Field::text)
    }

    pub fn lines(&self, theme: Theme) -> Vec<Line<'static>> {
        let w = self.fields.iter().map(|f| f.label.chars().count()).max().unwrap_or(0);
        self.fields.iter().enumerate().map(|(i, f)| f.line(theme, i == self.focus, w)).collect()
    }
}

/// The selected row of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pick {
    pub sel: usize,
}

impl Pick {
    /// [`Pick::handle`] for a key a table has already matched.
    pub fn go(&mut self, key: &KeyEvent, len: usize) {
        self.handle(key, len);
    }

    /// Moves with arrows, `j`/`k`, PageUp/PageDown, Home/End; `true` when consumed.
    pub fn handle(&mut self, key: &KeyEvent, len: usize) -> bool {
        let last = len.saturating_sub(1);
        if is_up(key) {
            self.sel = self.sel.saturating_sub(1);
        } else if is_down(key) {
            self.sel = (self.sel + 1).min(last);
        } else {
            match key.code {
                KeyCode::PageUp => self.sel = self.sel.saturating_sub(10),
                KeyCode::PageDown => self.sel = (self.sel + 10).min(last),
                KeyCode::Home => self.sel = 0,
                KeyCode::End => self.sel = last,
                _ => return false,
            }
        }
        true
    }

    /// Keeps the selection inside a list that may have shrunk.
    pub fn clamp(&mut self, len: usize) {
        self.sel = self.sel.min(len.saturating_sub(1));
    }
}

/// A bordered block with a title.
pub fn block(title: impl Into<String>, theme: Theme) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(Span::styled(format!(" {} ", title.into()), theme.title()))
}

/// A list with a highlighted row that scrolls to keep it visible.
pub fn draw_list(
    f: &mut Frame,
    area: Rect,
    title: &str,
    rows: Vec<Line<'static>>,
    pick: Pick,
    theme: Theme,
    focused: bool,
) {
    let empty = rows.is_empty();
    let items: Vec<ListItem> = rows.into_iter().map(ListItem::new).collect();
    let mut b = block(title, theme);
    if focused {
        b = b.border_style(theme.focus());
    }
    if empty {
        f.render_widget(Paragraph::new(Span::styled("(nothing here)", theme.dim())).block(b), area);
        return;
    }
    let list = List::new(items)
        .block(b)
        .highlight_style(if focused { theme.selected() } else { Style::new() })
        .highlight_symbol("› ");
    let mut state = ListState::default().with_selected(Some(pick.sel));
    f.render_stateful_widget(list, area, &mut state);
}

/// Rows with one highlighted, scrolled to keep it visible, drawn bare
/// (inside the caller's block). The mark's column stays, so rows line up
/// under headings.
pub fn draw_rows(f: &mut Frame, area: Rect, rows: Vec<Line<'static>>, pick: Pick, theme: Theme) {
    let items: Vec<ListItem> = rows.into_iter().map(ListItem::new).collect();
    let list = List::new(items)
        .highlight_style(theme.selected())
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = ListState::default().with_selected(Some(pick.sel));
    f.render_stateful_widget(list, area, &mut state);
}

/// A focused list under a line of column headings.
pub fn draw_headed_list(
    f: &mut Frame,
    area: Rect,
    title: &str,
    heading: &str,
    rows: Vec<Line<'static>>,
    pick: Pick,
    theme: Theme,
) {
    let b = block(title, theme).border_style(theme.focus());
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    if rows.is_empty() {
        f.render_widget(Paragraph::new(Span::styled("(nothing here)", theme.dim())), inner);
        return;
    }
    f.render_widget(Paragraph::new(Span::styled(format!("  {heading}"), theme.title())), head);
    draw_rows(f, list, rows, pick, theme);
}

/// A centred pop-up area of at most `w`×`h`, cleared.
pub fn popup(f: &mut Frame, area: Rect, w: u16, h: u16) -> Rect {
    let r = area.centered(Constraint::Length(w.min(area.width)), Constraint::Length(h.min(area.height)));
    f.render_widget(Clear, r);
    r
}

/// A pop-up with wrapped text lines.
pub fn draw_popup(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, w: u16, theme: Theme) {
    // Height after wrapping, so the last line is never cut off.
    let inner = usize::from(w.min(area.width).saturating_sub(2).max(1));
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let r = popup(f, area, w, u16::try_from(rows + 2).unwrap_or(u16::MAX));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(title, theme)), r);
}

/// Cuts `s` to `w` characters, ending in `…` when cut.
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}
