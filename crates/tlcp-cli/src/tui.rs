//! The terminal of the live table: raw mode and the alternate screen while it runs,
//! restored on drop (also on errors and panics), and a thread reading the keys.

use std::io::Stdout;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc;

use crate::output::table::LiveTable;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// `q`, Esc, Ctrl-C.
    Quit,
    /// `c`: cut the stream connection.
    Cut,
}

/// The terminal, in raw mode on the alternate screen until dropped.
pub(crate) struct Tui {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    stop: Arc<AtomicBool>,
}

impl Tui {
    /// Enters raw mode and the alternate screen; the receiver gets the keys.
    pub(crate) fn start() -> std::io::Result<(Self, mpsc::Receiver<Key>)> {
        terminal::enable_raw_mode()?;
        let mut stdout = std::io::stdout();
        if let Err(e) = execute!(stdout, terminal::EnterAlternateScreen, cursor::Hide) {
            let _ = terminal::disable_raw_mode();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(16);
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(100)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => break,
                }
                let Ok(Event::Key(k)) = event::read() else {
                    continue;
                };
                if k.kind == KeyEventKind::Release {
                    continue;
                }
                let key = match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => Key::Quit,
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                    KeyCode::Char('c') => Key::Cut,
                    _ => continue,
                };
                if tx.blocking_send(key).is_err() {
                    break;
                }
            }
        });
        Ok((Self { terminal, stop }, rx))
    }

    /// Draws the table (or a waiting note before the subscription is known).
    pub(crate) fn draw(&mut self, table: Option<&mut LiveTable>) -> std::io::Result<()> {
        let now = Instant::now();
        self.terminal.draw(|f| match table {
            Some(t) => t.render(f, now),
            None => f.render_widget(
                Paragraph::new(Line::from("waiting for the subscription...")),
                f.area(),
            ),
        })?;
        Ok(())
    }
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl Drop for Tui {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        restore();
    }
}
