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
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use crate::analyze::{Connection, Totals};
use crate::verdict::{Outcome, OutcomeClass, Verdict};

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
    pub totals: Totals,
    /// Connections per outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    pub failed: u64,
    pub ok: u64,
    pub undetermined: u64,
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

    /// Count one verdict.
    pub fn count(&mut self, v: &Verdict) {
        *self.outcomes.entry(v.outcome).or_insert(0) += 1;
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

    /// Before the first connection.
    fn begin(&mut self, inputs: &[String]) -> io::Result<()>;
    /// One judged connection.
    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()>;
    /// After the last connection.
    fn finish(&mut self, s: &Summary) -> io::Result<()>;
}

/// `ip:port`, or `[v6]:port` for IPv6 (Rust's `SocketAddr` display does exactly that).
pub fn endpoint(a: &SocketAddr) -> String {
    a.to_string()
}

/// [`endpoint`] into a byte buffer: IPv4 digit by digit (this runs twice for every connection's JSON
/// line, where the formatting machinery cost more than the rest of the address fields); IPv6 through
/// its `Display`. The test `same_endpoint_as_display` compares the two.
pub fn write_endpoint(w: &mut Vec<u8>, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            write_ip(w, &IpAddr::V4(*v4.ip()));
            w.push(b':');
            write_decimal(w, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            // Writing into a Vec cannot fail.
            let _ = write!(w, "{a}");
        }
    }
}

/// An address as its `Display` writes it (IPv4 digit by digit, see [`write_endpoint`]).
fn write_ip(w: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    w.push(b'.');
                }
                write_decimal(w, u64::from(o));
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(w, "{ip}");
        }
    }
}

/// `v` in decimal, without the formatting machinery.
fn write_decimal(w: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || at == 0 {
            break;
        }
    }
    w.extend_from_slice(buf.get(at..).unwrap_or_default());
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
        write_decimal(w, u64::from(end.port()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_endpoint_as_display() {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for (ip, port) in [
            ("0.0.0.0", 0),
            ("255.255.255.255", 65535),
            ("10.0.0.1", 443),
            ("192.168.100.9", 8080),
            ("1.22.133.4", 10),
            ("::", 0),
            ("::1", 443),
            ("::ffff:10.0.0.1", 443),
            ("2001:db8::85a3:0:0:8a2e", 99),
            ("fe80::1%0", 1),
        ] {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                addrs.push(SocketAddr::new(ip, port));
            }
        }
        for x in (0u32..=0xffff).step_by(251) {
            let v = x.wrapping_mul(2_654_435_761);
            addrs.push(SocketAddr::new(IpAddr::from(v.to_be_bytes()), x as u16));
        }
        assert!(addrs.len() > 200);
        for a in addrs {
            let mut w = Vec::new();
            write_endpoint(&mut w, &a);
            assert_eq!(String::from_utf8_lossy(&w), a.to_string());
        }
    }
}
