//! Printers. Every printer implements [`ReportSink`]: `begin`, then `connection` for each judged
//! connection as it is judged, then `finish` with the run's [`Summary`].
//!
//! - [`text::TextReport`]: a summary and, per failed connection, the verdict, the evidence, a Wireshark
//!   display filter and a ladder diagram.
//! - [`json::JsonLinesReport`]: one JSON object per line; the schema is documented on that type and in
//!   `docs/json-schema.md`.
//! - [`html::HtmlReport`]: one self-contained HTML page (`--report`), with SVG ladders ([`svg`]).
//! - [`evidence::EvidenceCollector`]: the evidence pcapng (`--evidence`), redacted ([`redact`],
//!   [`rewrite`]) and written by [`pcapng`].
//! - [`anonymize`]: keyed, prefix-preserving address mapping for all of the above.
//! - [`tee::Tee`]: several printers at once.

pub mod anonymize;
pub mod evidence;
pub mod html;
pub mod json;
pub mod jsonw;
pub mod pcapng;
pub mod redact;
pub mod rewrite;
pub mod svg;
pub mod tee;
pub mod text;
pub mod time;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

pub use crate::addr::write_endpoint;
use crate::addr::{write_ip, write_port};
use crate::analyze::{Connection, Totals};
use crate::capture::InputOrder;
use crate::verdict::{AfterFinding, Outcome, OutcomeClass, Verdict};

/// What was read from one input file.
#[derive(Clone, Debug, Default)]
pub struct InputInfo {
    /// As given on the command line.
    pub name: String,
    /// "pcap", "pcap (ns)", "pcapng".
    pub format: String,
    /// LINKTYPE names of its interfaces.
    pub link_types: Vec<String>,
    pub frames: u64,
    pub bytes: u64,
    /// Problems reading it (truncated, unreadable): analysis went on with what was read.
    pub warnings: Vec<String>,
    /// Set when the file could not be read at all.
    pub error: Option<String>,
}

/// A judged connection, as printers see it.
pub struct ConnReport<'a> {
    pub conn: &'a Connection,
    pub verdict: &'a Verdict,
    /// Input names by file index.
    pub files: &'a [String],
    /// The connection's JSON line rendered ahead by an analysis thread (`--threads`), from just
    /// after the `id` value to the end of the object ([`json::render_tail`]); the JSON printer then
    /// writes only the fixed start and the id. `None`: render it here.
    pub json_tail: Option<&'a [u8]>,
}

impl ConnReport<'_> {
    /// The file a frame index refers to.
    pub fn file_name(&self, idx: u16) -> &str {
        self.files.get(idx as usize).map_or("?", String::as_str)
    }
}

/// The whole run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub inputs: Vec<InputInfo>,
    /// How the order the inputs were read in compares with the order given.
    pub input_order: InputOrder,
    pub totals: Totals,
    /// Connections per outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Completed handshakes per finding about how they ended (`idle_reset`, `middlebox_reset`).
    pub after_handshake: BTreeMap<AfterFinding, u64>,
    pub failed: u64,
    pub ok: u64,
    pub undetermined: u64,
}

impl Summary {
    /// Completed handshakes whose connection the path reset afterwards (any finding).
    pub fn after_handshake_findings(&self) -> u64 {
        self.after_handshake.values().sum()
    }

    /// True when no input could be read, held a packet, or had a frame on a link type that is decoded.
    pub fn nothing_analysed(&self) -> bool {
        let unsupported: u64 = self
            .totals
            .skipped
            .iter()
            .filter(|(r, _)| matches!(r, crate::decode::SkipReason::UnsupportedLinkType(_)))
            .map(|(_, n)| *n)
            .sum();
        self.totals.frames <= unsupported
    }

    /// Count one verdict.
    pub fn count(&mut self, v: &Verdict) {
        *self.outcomes.entry(v.outcome).or_insert(0) += 1;
        if let Some(f) = v.after_handshake.as_ref().and_then(|a| a.finding) {
            *self.after_handshake.entry(f).or_insert(0) += 1;
        }
        match v.outcome.class() {
            OutcomeClass::Ok => self.ok += 1,
            OutcomeClass::Failed => self.failed += 1,
            OutcomeClass::Undetermined => self.undetermined += 1,
        }
    }
}

/// The interface every printer implements.
pub trait ReportSink {
    /// True when this printer writes JSON lines, so that analysis threads render them ahead
    /// ([`ConnReport::json_tail`]).
    fn wants_json(&self) -> bool {
        false
    }

    /// True when this printer reads nothing of a connection but its JSON line rendered ahead
    /// ([`ConnReport::json_tail`]) and its id: analysis threads may then free the rest of the
    /// connection as soon as the line is rendered, while its memory is still in their cache.
    fn json_only(&self) -> bool {
        false
    }

    /// Before the first connection.
    fn begin(&mut self, inputs: &[String]) -> io::Result<()>;
    /// One judged connection.
    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()>;
    /// After the last connection.
    fn finish(&mut self, s: &Summary) -> io::Result<()>;
}

/// `ip:port`, or `[v6]:port` for IPv6 (Rust's `SocketAddr` display does exactly that).
pub fn endpoint(a: &SocketAddr) -> String {
    crate::addr::Endpoint(*a).to_string()
}

/// A Wireshark display filter that isolates the connection (ICMP errors quoting it match too).
pub fn wireshark_filter(c: &Connection) -> String {
    let mut w = Vec::with_capacity(96);
    write_wireshark_filter(&mut w, c);
    String::from_utf8_lossy(&w).into_owned()
}

/// [`wireshark_filter`] into a byte buffer (ASCII).
pub fn write_wireshark_filter(w: &mut Vec<u8>, c: &Connection) {
    let (a, b) = (c.tcp.client, c.tcp.server);
    let ip: &[u8] = if a.is_ipv4() {
        b"ip.addr"
    } else {
        b"ipv6.addr"
    };
    for (i, end) in [a, b].iter().enumerate() {
        if i > 0 {
            w.extend_from_slice(b" && ");
        }
        w.extend_from_slice(ip);
        w.extend_from_slice(b" == ");
        write_ip(w, &end.ip());
        w.extend_from_slice(b" && tcp.port == ");
        write_port(w, end.port());
    }
}
