//! The live table of `tlcp demo` (and `tlcp subscribe --format table`): one row per item,
//! one column per field, changed cells flash; a header with status, transport, rate and
//! latency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

/// How long a changed cell stays highlighted.
const FLASH: Duration = Duration::from_millis(400);

/// The state behind the live table.
pub(crate) struct LiveTable {
    title: String,
    columns: Vec<String>,
    rows: Vec<TableRow>,
    status: String,
    note: String,
    rate: RateMeter,
    latency: LatencyMeter,
}

struct TableRow {
    item: String,
    cells: Vec<Option<String>>,
    changed_at: Vec<Option<Instant>>,
}

impl LiveTable {
    /// A table for `items` (rows) and `columns` (fields).
    pub(crate) fn new(title: &str, items: &[String], columns: &[String]) -> Self {
        Self {
            title: title.to_owned(),
            columns: columns.to_vec(),
            rows: items
                .iter()
                .map(|i| TableRow {
                    item: i.clone(),
                    cells: vec![None; columns.len()],
                    changed_at: vec![None; columns.len()],
                })
                .collect(),
            status: "CONNECTING".into(),
            note: String::new(),
            rate: RateMeter::default(),
            latency: LatencyMeter::default(),
        }
    }

    /// The connection status shown in the header (the official status string).
    pub(crate) fn set_status(&mut self, status: &str) {
        status.clone_into(&mut self.status);
    }

    /// A short note shown in the header (e.g. "session recovered").
    pub(crate) fn set_note(&mut self, note: &str) {
        note.clone_into(&mut self.note);
    }

    /// Applies an update of item `pos` (1-based): every field's value, and which changed.
    pub(crate) fn apply<'a>(
        &mut self,
        pos: usize,
        values: impl IntoIterator<Item = (Option<&'a str>, bool)>,
        now: Instant,
        latency: Option<Duration>,
    ) {
        self.rate.record(now);
        if let Some(l) = latency {
            self.latency.record(l);
        }
        let Some(row) = pos.checked_sub(1).and_then(|i| self.rows.get_mut(i)) else {
            return;
        };
        for (i, (value, changed)) in values.into_iter().enumerate() {
            if i >= row.cells.len() {
                break;
            }
            if changed {
                row.changed_at[i] = Some(now);
            }
            match (&mut row.cells[i], value) {
                (Some(s), Some(v)) => v.clone_into(s),
                (slot, v) => *slot = v.map(str::to_owned),
            }
        }
    }

    /// Draws the table at `now` (flash state depends on it).
    pub(crate) fn render(&mut self, frame: &mut Frame<'_>, now: Instant) {
        let [head, body] =
            Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(frame.area());
        let status_style = if self.status.starts_with("CONNECTED") {
            Style::default().fg(Color::Green)
        } else {
            Style::default().fg(Color::Yellow)
        };
        let (transport, status) = match self.status.split_once(':') {
            Some((s, t)) => (t.to_owned(), s.to_owned()),
            None => ("-".to_owned(), self.status.clone()),
        };
        let header = Line::from(vec![
            Span::styled(status, status_style.add_modifier(Modifier::BOLD)),
            Span::raw("  transport "),
            Span::styled(transport, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!("  {:.0} updates/s", self.rate.per_second(now))),
            Span::raw(match self.latency.median() {
                Some(d) => format!("  read→app p50 {:.0} µs", d.as_secs_f64() * 1e6),
                None => String::new(),
            }),
            Span::raw(if self.note.is_empty() {
                String::new()
            } else {
                format!("  {}", self.note)
            }),
        ]);
        frame.render_widget(
            Paragraph::new(header).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {} — q: quit, c: cut the connection ", self.title)),
            ),
            head,
        );
        let widths: Vec<Constraint> = std::iter::once(Constraint::Length(8))
            .chain(self.columns.iter().map(|_| Constraint::Min(8)))
            .collect();
        let header_row = Row::new(
            std::iter::once(Cell::from("item"))
                .chain(self.columns.iter().map(|c| Cell::from(c.as_str()))),
        )
        .style(Style::default().add_modifier(Modifier::BOLD));
        let rows = self.rows.iter().map(|r| {
            Row::new(std::iter::once(Cell::from(r.item.as_str())).chain(
                r.cells.iter().zip(&r.changed_at).map(|(v, at)| {
                    let flash = at.is_some_and(|t| now.duration_since(t) < FLASH);
                    let style = if flash {
                        Style::default().fg(Color::Black).bg(Color::Yellow)
                    } else {
                        Style::default()
                    };
                    Cell::from(v.as_deref().unwrap_or("—")).style(style)
                }),
            ))
        });
        frame.render_widget(
            Table::new(rows, widths)
                .header(header_row)
                .block(Block::default().borders(Borders::ALL)),
            body,
        );
    }
}

/// Updates per second over the last second.
#[derive(Default)]
struct RateMeter {
    times: VecDeque<Instant>,
}

impl RateMeter {
    fn record(&mut self, now: Instant) {
        self.times.push_back(now);
        while self.times.len() > 100_000 {
            self.times.pop_front();
        }
    }

    fn per_second(&mut self, now: Instant) -> f64 {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.times.pop_front();
        }
        self.times.len() as f64
    }
}

/// The median of recent latencies.
#[derive(Default)]
struct LatencyMeter {
    recent: VecDeque<Duration>,
}

impl LatencyMeter {
    fn record(&mut self, d: Duration) {
        self.recent.push_back(d);
        if self.recent.len() > 1000 {
            self.recent.pop_front();
        }
    }

    fn median(&self) -> Option<Duration> {
        if self.recent.is_empty() {
            return None;
        }
        let mut v: Vec<Duration> = self.recent.iter().copied().collect();
        v.sort_unstable();
        Some(v[v.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(t: &mut LiveTable, now: Instant) -> String {
        let mut term = Terminal::new(TestBackend::new(100, 10)).unwrap();
        term.draw(|f| t.render(f, now)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn draws_header_rows_and_flashes_changes() {
        let items = vec!["item1".to_owned(), "item2".to_owned()];
        let cols = vec!["stock_name".to_owned(), "last_price".to_owned()];
        let mut t = LiveTable::new("tlcp demo", &items, &cols);
        t.set_status("CONNECTED:WS-STREAMING");
        let now = Instant::now();
        t.apply(
            1,
            [(Some("Anduct"), true), (Some("3.04"), true)],
            now,
            Some(Duration::from_micros(80)),
        );
        let s = screen(&mut t, now);
        assert!(s.contains("CONNECTED"), "{s}");
        assert!(s.contains("WS-STREAMING"), "{s}");
        assert!(s.contains("last_price"), "{s}");
        assert!(s.contains("Anduct") && s.contains("3.04"), "{s}");
        assert!(s.contains("item2"), "{s}");
        assert!(s.contains("1 updates/s"), "{s}");
        // Flash: highlighted now, plain after FLASH.
        let mut term = Terminal::new(TestBackend::new(100, 10)).unwrap();
        term.draw(|f| t.render(f, now)).unwrap();
        let flashing = term
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.bg == Color::Yellow);
        assert!(flashing);
        term.draw(|f| t.render(f, now + FLASH * 2)).unwrap();
        let flashing = term
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.bg == Color::Yellow);
        assert!(!flashing);
    }

    #[test]
    fn out_of_range_items_are_ignored() {
        let mut t = LiveTable::new("x", &["a".to_owned()], &["f".to_owned()]);
        t.apply(0, [(Some("1"), true)], Instant::now(), None);
        t.apply(
            9,
            [(Some("1"), true), (Some("2"), true)],
            Instant::now(),
            None,
        );
        t.apply(
            1,
            [(Some("1"), true), (Some("extra"), true)],
            Instant::now(),
            None,
        );
        assert_eq!(t.rows[0].cells, [Some("1".to_owned())]);
    }
}
