//! Live capture: `tlsautopsy live` reads packets from network interfaces (libpcap, behind the `live`
//! cargo feature) and prints each connection's verdict as soon as it is known, with the same
//! [`Analyzer`](crate::analyze::Analyzer), rules and printers as `analyze`.
//!
//! - [`engine`]: the session without libpcap (packets in, verdicts out, the clock, `--write`,
//!   `--evidence`, statistics); always built, so it is tested without libpcap too.
//! - [`pcapng_out`]: the minimal pcapng writer behind `--write` and the temporary copy of `--evidence`
//!   (which the evidence pipeline of `analyze --evidence`, [`crate::report::evidence`], redacts).
//! - `capture` (feature `live`): the command line, libpcap and the tokio loop.

pub mod engine;
pub mod pcapng_out;

#[cfg(feature = "live")]
mod capture;
#[cfg(feature = "live")]
pub(crate) use capture::is_permission_error;
#[cfg(feature = "live")]
pub use capture::{link_from_dlt, main, LiveArgs, DEFAULT_FILTER};
