//! Several printers at once: the terminal's and the files' (`--report`, `--evidence`, the bundle).

use std::io;

use super::{ConnReport, ReportSink, Summary};

/// Hands every call to each sink. A sink that fails is not called again, the others go on (a
/// closed terminal must not stop the report file); the first error is returned by `finish`.
pub struct Tee<'a> {
    sinks: Vec<(&'a mut dyn ReportSink, bool)>,
    error: Option<io::Error>,
}

impl<'a> Tee<'a> {
    /// Over `sinks`, called in order.
    pub fn new(sinks: Vec<&'a mut dyn ReportSink>) -> Self {
        Tee {
            sinks: sinks.into_iter().map(|s| (s, true)).collect(),
            error: None,
        }
    }

    fn each(&mut self, f: &mut dyn FnMut(&mut dyn ReportSink) -> io::Result<()>) {
        for (s, ok) in &mut self.sinks {
            if *ok {
                if let Err(e) = f(&mut **s) {
                    *ok = false;
                    if self.error.is_none() {
                        self.error = Some(e);
                    }
                }
            }
        }
    }
}

impl ReportSink for Tee<'_> {
    fn wants_json(&self) -> bool {
        self.sinks.iter().any(|(s, ok)| *ok && s.wants_json())
    }

    fn json_only(&self) -> bool {
        self.sinks.iter().all(|(s, ok)| !*ok || s.json_only())
    }

    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.each(&mut |s| s.begin(inputs));
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        self.each(&mut |s| s.connection(c));
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.each(&mut |s| s.finish(summary));
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
