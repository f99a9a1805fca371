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
    /// What all connections came to.
    pub counts: Tally,
    /// The same per server address (the first [`MAX_SERVERS`] seen).
    pub servers: BTreeMap<SocketAddr, ServerTally>,
    /// Connections to servers beyond the first [`MAX_SERVERS`], not in `servers`.
    pub servers_omitted: u64,
    /// Failed certificate and revocation fetches, and certificates the client rejected: together,
    /// revocation checks that could not be made ([`Revocation::blocked`]).
    pub revocation: Revocation,
}

/// What says that clients could not check certificates: plain HTTP fetches of CRLs, OCSP answers or
/// CA certificates that failed (a firewall's deny page, a proxy's refusal...), and TLS handshakes
/// the client ended by rejecting the server's certificate. Both in one run is decision-table row 14
/// of `failure-signatures.md`: a client that checks revocation (Windows SChannel by default) fails
/// its handshakes when the CRL or OCSP host is blocked, although the certificate is fine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocation {
    /// Failed fetches (connections).
    pub fetches_failed: u64,
    /// The first [`MAX_NAMES`] hosts they went to.
    pub hosts: Vec<String>,
    /// Connections the client ended by rejecting the certificate (`certificate_rejected`).
    pub certificates_rejected: u64,
}

impl Revocation {
    /// Both seen: revocation checks were most likely blocked.
    pub fn blocked(&self) -> bool {
        self.fetches_failed > 0 && self.certificates_rejected > 0
    }
}

/// Servers the summary keeps a tally for (a hostile capture may have a server per connection).
pub const MAX_SERVERS: usize = 4096;
/// Names (SNI or `CONNECT` target) kept per server.
pub const MAX_NAMES: usize = 4;

/// What a set of connections came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub connections: u64,
    /// Connections per outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Completed handshakes per finding about how they ended (`idle_reset`, `middlebox_reset`).
    pub after_handshake: BTreeMap<AfterFinding, u64>,
    pub failed: u64,
    pub ok: u64,
    pub undetermined: u64,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        self.connections += 1;
        *self.outcomes.entry(v.outcome).or_insert(0) += 1;
        if let Some(f) = v.after_finding() {
            *self.after_handshake.entry(f).or_insert(0) += 1;
        }
        match v.outcome.class() {
            OutcomeClass::Ok => self.ok += 1,
            OutcomeClass::Failed => self.failed += 1,
            OutcomeClass::Undetermined => self.undetermined += 1,
        }
    }

    /// Completed handshakes whose connection the path reset afterwards (any finding).
    pub fn after_handshake_findings(&self) -> u64 {
        self.after_handshake.values().sum()
    }

    /// Connections with this outcome.
    pub fn of(&self, o: Outcome) -> u64 {
        self.outcomes.get(&o).copied().unwrap_or(0)
    }
}

/// What the connections to one server address came to, and the names they asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTally {
    /// The first [`MAX_NAMES`] distinct names (SNI, else `CONNECT` target, else HTTP `Host`), in
    /// the order seen.
    pub names: Vec<String>,
    /// Connections that asked for a name not in `names`.
    pub other_names: u64,
    pub counts: Tally,
}

/// A pattern across the connections to one server.
///
/// | value | meaning |
/// |---|---|
/// | `intermittent_syn_failures` | at least 2 connections got no SYN-ACK (silence or a reset) while at least 2 others to the same address were accepted: a SNAT port shortage on a firewall or NAT gateway in the path (Azure Firewall has 2,496 ports per public IP and instance; ports stay taken while their connections linger in TIME_WAIT), or a listener refusing under load |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerPattern {
    IntermittentSynFailures,
}

impl ServerPattern {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerPattern::IntermittentSynFailures => "intermittent_syn_failures",
        }
    }
}

impl ServerTally {
    /// Connections whose SYN got no SYN-ACK: unanswered or reset.
    pub fn syn_failures(&self) -> u64 {
        self.counts.of(Outcome::SynUnanswered) + self.counts.of(Outcome::SynRejected)
    }

    /// Connections the server (or what answered in its name) accepted: those that got past the
    /// SYN, the ones seen only midstream left out.
    pub fn accepted(&self) -> u64 {
        self.counts.connections.saturating_sub(
            self.syn_failures()
                + self.counts.of(Outcome::SynUnreachable)
                + self.counts.of(Outcome::Midstream),
        )
    }

    /// What the connections to this server show together, if anything.
    pub fn pattern(&self) -> Option<ServerPattern> {
        (self.syn_failures() >= 2 && self.accepted() >= 2)
            .then_some(ServerPattern::IntermittentSynFailures)
    }
}

impl Summary {
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

    /// Count one verdict, of a connection to `server`.
    pub fn count(&mut self, v: &Verdict, server: SocketAddr) {
        self.counts.add(v);
        if v.pki_fetch && v.outcome.class() == OutcomeClass::Failed {
            let r = &mut self.revocation;
            r.fetches_failed += 1;
            if let Some(h) = &v.server_name {
                if r.hosts.len() < MAX_NAMES && !r.hosts.contains(h) {
                    r.hosts.push(h.clone());
                }
            }
        }
        if v.cause == crate::verdict::Cause::CertificateRejected {
            self.revocation.certificates_rejected += 1;
        }
        if self.servers.len() >= MAX_SERVERS && !self.servers.contains_key(&server) {
            self.servers_omitted += 1;
            return;
        }
        let tally = self.servers.entry(server).or_default();
        tally.counts.add(v);
        if let Some(name) = &v.server_name {
            if !tally.names.iter().any(|n| n == name) {
                if tally.names.len() < MAX_NAMES {
                    tally.names.push(name.clone());
                } else {
                    tally.other_names += 1;
                }
            }
        }
    }

    /// The servers, those with failed connections first (most first), then by connections, then
    /// by address: the order the reports list them in.
    pub fn servers_by_failures(&self) -> Vec<(&SocketAddr, &ServerTally)> {
        let mut v: Vec<_> = self.servers.iter().collect();
        v.sort_by(|a, b| {
            b.1.counts
                .failed
                .cmp(&a.1.counts.failed)
                .then(b.1.counts.connections.cmp(&a.1.counts.connections))
                .then(a.0.cmp(b.0))
        });
        v
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
