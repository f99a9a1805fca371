//! The progress bar of `analyze` and `bundle`: bytes read of the inputs' total, rate and ETA, on
//! standard error.
//!
//! Shown when standard error is a terminal and the inputs hold more than [`AUTO_MIN_BYTES`]
//! (`--progress` shows it always, `--no-progress` never). When standard error is not a terminal and
//! `--progress` forces it, it is written as plain lines (at most one a second), without cursor
//! movements. The reading loop updates it ([`Progress::set`]); with `--threads` the first worker's
//! reading position drives it.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Inputs larger than this (in all) get a progress bar on a terminal without `--progress`.
pub const AUTO_MIN_BYTES: u64 = 200_000_000;

/// When to show the progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// On a terminal, for inputs over [`AUTO_MIN_BYTES`].
    #[default]
    Auto,
    /// Always (`--progress`).
    Always,
    /// Never (`--no-progress`).
    Never,
}

/// A progress bar over the inputs' bytes. Cloning gives another handle to the same bar.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

/// Total size of the inputs that are regular files (standard input and pipes count 0).
pub fn input_bytes(paths: &[String]) -> u64 {
    paths
        .iter()
        .filter(|p| p.as_str() != "-")
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

impl Progress {
    /// The progress bar for reading `paths`, if `mode` and the terminal call for one.
    pub fn for_inputs(paths: &[String], mode: ProgressMode) -> Option<Progress> {
        let tty = io::stderr().is_terminal();
        let total = input_bytes(paths);
        let show = match mode {
            ProgressMode::Never => false,
            ProgressMode::Always => true,
            ProgressMode::Auto => tty && total > AUTO_MIN_BYTES,
        };
        if !show {
            return None;
        }
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines::default()), 1)
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let template = if total > 0 {
            "{msg}[{elapsed_precise}] [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{msg}[{elapsed_precise}] {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("tlsautopsy: reading ");
        if tty {
            bar.enable_steady_tick(Duration::from_millis(500));
        }
        Some(Progress { bar })
    }

    /// Bytes read so far, over all inputs.
    pub fn set(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }

    /// Reading is over: draw the final state and leave the bar (on a terminal it is cleared).
    pub fn finish(&self) {
        if self.bar.is_finished() {
            return;
        }
        if io::stderr().is_terminal() {
            self.bar.finish_and_clear();
        } else {
            self.bar.finish();
        }
    }

    /// `w`, written with the bar out of the way (for standard output on the same terminal).
    pub fn suspending<W: Write>(&self, w: W) -> SuspendWriter<W> {
        SuspendWriter {
            bar: self.bar.clone(),
            inner: w,
        }
    }
}

/// A writer that hides the progress bar while it writes (see [`Progress::suspending`]).
pub struct SuspendWriter<W: Write> {
    bar: ProgressBar,
    inner: W,
}

impl<W: Write> Write for SuspendWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = &mut self.inner;
        self.bar.suspend(|| inner.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let inner = &mut self.inner;
        self.bar.suspend(|| inner.write_all(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A draw target for standard error when it is not a terminal: each redraw is one plain line.
#[derive(Debug, Default)]
struct PlainLines {
    line: Mutex<String>,
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)?;
        self.flush()
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        if let Ok(mut line) = self.line.lock() {
            line.push_str(s.trim_start_matches('\r'));
        }
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        let text = match self.line.lock() {
            Ok(mut line) => std::mem::take(&mut *line),
            Err(_) => return Ok(()),
        };
        let text = text.trim_end();
        if text.is_empty() {
            return Ok(());
        }
        let mut err = io::stderr().lock();
        writeln!(err, "{text}")?;
        err.flush()
    }
}
