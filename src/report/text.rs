//! The human view: a summary, and for each connection that did not complete (all with `--all`) its
//! verdict, explanation, reasons, evidence frames, a Wireshark display filter and a ladder diagram.

use std::io::{self, Write};

use super::{endpoint, time, wireshark_filter, ConnReport, ReportSink, Summary};
use crate::decode::SkipReason;
use crate::tcp::Direction;
use crate::tls::names;
use crate::verdict::offer;

/// Width of the arrow column of the ladder.
const LANE: usize = 58;

/// A name for a skip reason, as used in the summary and the JSON.
pub fn skip_name(r: SkipReason) -> String {
    match r {
        SkipReason::UnsupportedLinkType(n) => format!("unsupported_link_type_{n}"),
        SkipReason::NotIp => "not_ip".to_string(),
        SkipReason::NotTcp => "not_tcp".to_string(),
        SkipReason::FragmentPending => "ip_fragment_pending".to_string(),
        SkipReason::Malformed => "malformed".to_string(),
    }
}

/// One line per limit that was hit, naming its flag and value (nothing when none was hit).
pub fn limit_lines(t: &crate::analyze::Totals) -> Vec<String> {
    let (l, o) = (&t.limits, &t.options);
    let mut v = Vec::new();
    if l.connections > 0 {
        v.push(format!(
            "--max-connections {}: {} connection(s) judged early (the least recently active)",
            o.max_connections, l.connections
        ));
    }
    if l.buffer_per_direction > 0 {
        v.push(format!(
            "--max-buffer-per-direction {} bytes: reached {} time(s); the holes were skipped as capture loss",
            o.max_out_of_order, l.buffer_per_direction
        ));
    }
    if l.buffer_total > 0 {
        v.push(format!(
            "--max-buffer-total {} bytes: reached {} time(s); {} connection(s) gave up their out-of-order data, \
             {} were judged early",
            o.max_buffered_total, l.buffer_total, l.buffer_total_released, l.buffer_total_judged
        ));
    }
    if l.handshake_message > 0 {
        v.push(format!(
            "--max-handshake-message {} bytes: {} handshake message(s) claimed more and were not parsed",
            o.max_handshake_message, l.handshake_message
        ));
    }
    if l.events > 0 {
        v.push(format!(
            "--max-events {}: {} TLS records/messages were counted but not kept as evidence",
            o.max_events, l.events
        ));
    }
    if l.fragments > 0 {
        v.push(format!(
            "--max-ip-fragments {} (and {} bytes): {} IP fragments were dropped because the reassembly pool was full",
            o.fragments.max_datagrams, o.fragments.max_bytes, l.fragments
        ));
    }
    if !v.is_empty() {
        v.insert(
            0,
            "limits hit (memory stays bounded; the flags raise them):".to_string(),
        );
        for line in v.iter_mut().skip(1) {
            line.insert_str(0, "  ");
        }
    }
    v
}

/// The text printer.
pub struct TextReport<W: Write> {
    out: W,
    all: bool,
    ladder: bool,
    printed: u64,
}

impl<W: Write> TextReport<W> {
    /// `all`: show healthy connections too. `ladder`: draw ladder diagrams.
    pub fn new(out: W, all: bool, ladder: bool) -> Self {
        TextReport {
            out,
            all,
            ladder,
            printed: 0,
        }
    }

    fn ladder(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        let conn = c.conn;
        let t = &conn.tcp;
        let start = t.first.ts;
        let decisive = c.verdict.decisive;
        let client = endpoint(&t.client);
        let server = endpoint(&t.server);
        writeln!(self.out, "  Ladder:")?;
        let left = format!("client {client}");
        let right = format!("server {server}");
        let width = (LANE + 2).saturating_sub(right.len()).max(left.len() + 2);
        writeln!(
            self.out,
            "    {:>7} {:>10}  {left:<width$}{right}",
            "frame", "ms"
        )?;
        let mut last_seq = 0u64;
        let head_len = t.ladder.head.len();
        for (i, row) in t.ladder.rows().enumerate() {
            if i == head_len && t.ladder.omitted > 0 {
                writeln!(
                    self.out,
                    "    {:>7} {:>10}  ... {} packets not shown ...",
                    "", "", t.ladder.omitted
                )?;
            }
            let label = super::svg::row_label(row);
            let mut text: String = label.chars().take(LANE - 6).collect();
            text = format!(" {text} ");
            let dashes = LANE.saturating_sub(text.chars().count() + 2);
            let arrow = match row.dir {
                Direction::ToServer => format!("|-{text}{}>|", "-".repeat(dashes)),
                Direction::ToClient => format!("|<{}{text}-|", "-".repeat(dashes)),
            };
            let mark = if Some(row.at) == decisive {
                "  <== decisive"
            } else {
                ""
            };
            let frame = if row.at.file() > 0 || c.files.len() > 1 {
                format!("{}:{}", row.at.file() + 1, row.at.frame)
            } else {
                row.at.frame.to_string()
            };
            writeln!(
                self.out,
                "    {:>7} {:>10.3}  {arrow}{mark}",
                frame,
                row.at.ts.since(start) as f64 / 1e6
            )?;
            last_seq = row.at.seq();
        }
        if let Some((at, icmp)) = &conn.icmp {
            if at.seq() > last_seq || last_seq == 0 {
                writeln!(
                    self.out,
                    "    {:>7} {:>10.3}  |<-- {} from {}{}",
                    at.frame,
                    at.ts.since(start) as f64 / 1e6,
                    icmp.describe(),
                    icmp.ip.src,
                    if Some(*at) == decisive {
                        "  <== decisive"
                    } else {
                        ""
                    }
                )?;
            }
        }
        Ok(())
    }
}

/// Servers listed in the text summary at most (`--json` lists them all).
const TEXT_SERVERS: usize = 20;

impl<W: Write> TextReport<W> {
    /// The summary's per-server lines, failed first: with more than one connection, so a reader
    /// sees at once which endpoints fail and how, and what the connections to one server show
    /// together ([`crate::report::ServerPattern`]).
    fn servers(&mut self, s: &Summary) -> io::Result<()> {
        if s.counts.connections < 2 || s.servers.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "  by server (failed first):")?;
        let all = s.servers_by_failures();
        for (addr, t) in all.iter().take(TEXT_SERVERS) {
            let mut names = t
                .names
                .iter()
                .map(|n| match crate::verdict::endpoints::lookup(n) {
                    Some(m) => format!("{n} ({})", m.known.service),
                    None => n.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            if t.other_names > 0 {
                names.push_str(&format!(" (+{} more)", t.other_names));
            }
            let c = &t.counts;
            let mut parts = Vec::new();
            for (n, what) in [
                (c.failed, "failed"),
                (c.ok, "ok"),
                (c.undetermined, "undetermined"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let outcomes: Vec<String> = c
                .outcomes
                .iter()
                .map(|(o, n)| format!("{} {n}", o.as_str()))
                .collect();
            writeln!(
                self.out,
                "    {:<22} {}{}{} connection{}: {} ({})",
                endpoint(addr),
                names,
                if names.is_empty() { "" } else { ": " },
                c.connections,
                if c.connections == 1 { "" } else { "s" },
                parts.join(", "),
                outcomes.join(", ")
            )?;
            if t.pattern() == Some(crate::report::ServerPattern::IntermittentSynFailures) {
                writeln!(
                    self.out,
                    "      intermittent: {} of {} connections got no SYN-ACK while {} others were accepted: a SNAT port shortage on a firewall or NAT gateway (Azure Firewall has 2,496 ports per public IP and instance, held while connections linger in TIME_WAIT), or a listener refusing under load",
                    t.syn_failures(),
                    c.connections,
                    t.accepted()
                )?;
            }
        }
        if all.len() > TEXT_SERVERS {
            writeln!(
                self.out,
                "    ... and {} more servers (--json lists them all)",
                all.len() - TEXT_SERVERS
            )?;
        }
        if s.servers_omitted > 0 {
            writeln!(
                self.out,
                "    ({} connections to further servers were not tallied per server: at most {} servers are)",
                s.servers_omitted,
                crate::report::MAX_SERVERS
            )?;
        }
        Ok(())
    }
}

impl<W: Write> ReportSink for TextReport<W> {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        let v = c.verdict;
        // A completed handshake is shown when the path reset the connection afterwards.
        if v.healthy() && !self.all {
            return Ok(());
        }
        self.printed += 1;
        let conn = c.conn;
        let t = &conn.tcp;
        let tls = &conn.tls;
        writeln!(self.out)?;
        writeln!(
            self.out,
            "#{} {} -> {}  {}{}",
            conn.id,
            endpoint(&t.client),
            endpoint(&t.server),
            v.outcome.as_str().to_uppercase(),
            v.after_finding()
                .map(|f| format!(", then {}", f.as_str().to_uppercase()))
                .unwrap_or_default()
        )?;
        writeln!(
            self.out,
            "  cause: {}   ended by: {}   confidence: {}",
            v.cause.as_str(),
            v.ended_by.as_str(),
            v.confidence.as_str()
        )?;
        let mut facts = Vec::new();
        if let Some(sni) = tls.client_hello().and_then(|c| c.sni.as_deref()) {
            // With an SNI, the verdict's endpoint is that name's.
            match v.endpoint {
                Some(m) => facts.push(format!("SNI {sni} ({})", m.known.service)),
                None => facts.push(format!("SNI {sni}")),
            }
        }
        if let Some(ver) = tls.version() {
            facts.push(names::version_name(ver));
        }
        if let Some(sh) = tls.server_hello() {
            facts.push(offer::suite(sh.cipher_suite));
        }
        if let Some(a) = &v.alert {
            facts.push(format!("alert {} from {}", a.name, a.from.as_str()));
        }
        if let Some(s) = v.http_status {
            facts.push(format!("HTTP {s}"));
        }
        if let Some(p) = &v.proxy_target {
            facts.push(format!("via proxy to {p}"));
        }
        if let Some(tn) = &conn.tunnel {
            facts.push(format!("inside {tn}"));
        }
        if let Some(rtt) = v.syn_ack_rtt_ns {
            facts.push(format!("SYN-ACK RTT {:.3} ms", rtt as f64 / 1e6));
        }
        if !facts.is_empty() {
            writeln!(self.out, "  {}", facts.join("   "))?;
        }
        writeln!(self.out, "  {}", v.explanation)?;
        if !v.reasons.is_empty() {
            writeln!(self.out, "  Why:")?;
            for r in &v.reasons {
                writeln!(self.out, "    - {r}")?;
            }
        }
        if !v.candidates.is_empty() {
            let c: Vec<&str> = v.candidates.iter().map(|c| c.as_str()).collect();
            writeln!(self.out, "  Possible causes: {}", c.join(", "))?;
        }
        if !v.evidence.is_empty() {
            writeln!(self.out, "  Evidence:")?;
            for e in &v.evidence {
                let frame = if c.files.len() > 1 {
                    format!("{}:{}", c.file_name(e.at.file()), e.at.frame)
                } else {
                    e.at.frame.to_string()
                };
                writeln!(
                    self.out,
                    "    frame {frame:<6} {}  {:<9} {}\n{:>27}-> {}",
                    time::clock(e.at.ts),
                    e.from.as_str(),
                    e.what,
                    "",
                    e.why
                )?;
            }
        }
        for n in &v.notes {
            writeln!(self.out, "  Note: {n}")?;
        }
        writeln!(self.out, "  Wireshark: {}", wireshark_filter(conn))?;
        if self.ladder {
            self.ladder(c)?;
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        writeln!(self.out)?;
        writeln!(self.out, "== Summary ==")?;
        for i in &s.inputs {
            match &i.error {
                Some(e) => writeln!(self.out, "  {}: not analysed: {e}", i.name)?,
                None => writeln!(
                    self.out,
                    "  {}: {}, {} frames, link types {}",
                    i.name,
                    i.format,
                    i.frames,
                    if i.link_types.is_empty() {
                        "-".to_string()
                    } else {
                        i.link_types.join(", ")
                    }
                )?,
            }
            for w in &i.warnings {
                writeln!(self.out, "    warning: {w}")?;
            }
        }
        if let Some(order) = s.input_order.describe() {
            writeln!(self.out, "  {order}")?;
        }
        let tot = &s.totals;
        if let (Some(a), Some(b)) = (tot.first_ts, tot.last_ts) {
            writeln!(
                self.out,
                "  {} frames, {} TCP packets, {} ICMP errors, from {} to {} ({:.3} s)",
                tot.frames,
                tot.tcp_packets,
                tot.icmp_errors,
                time::rfc3339(a),
                time::rfc3339(b),
                b.since(a) as f64 / 1e9
            )?;
        }
        if tot.tunneled > 0 {
            writeln!(
                self.out,
                "  {} of them inside tunnels (Geneve, VXLAN, GTP-U, GRE or IP in IP): the connections are the inner ones",
                tot.tunneled
            )?;
        }
        if !tot.skipped.is_empty() {
            let parts: Vec<String> = tot
                .skipped
                .iter()
                .map(|(k, v)| format!("{} {v}", skip_name(*k)))
                .collect();
            writeln!(self.out, "  skipped frames: {}", parts.join(", "))?;
        }
        for line in limit_lines(tot) {
            writeln!(self.out, "  {line}")?;
        }
        writeln!(
            self.out,
            "  {} TCP connections: {} failed, {} ok, {} undetermined",
            tot.connections, s.counts.failed, s.counts.ok, s.counts.undetermined
        )?;
        for (o, n) in &s.counts.outcomes {
            writeln!(self.out, "    {:<28} {n}", o.as_str())?;
        }
        if s.counts.after_handshake_findings() > 0 {
            let parts: Vec<String> = s
                .counts
                .after_handshake
                .iter()
                .map(|(f, n)| format!("{n} {}", f.as_str()))
                .collect();
            let n = s.counts.after_handshake_findings();
            writeln!(
                self.out,
                "  {n} completed {} reset afterwards by the path ({})",
                if n == 1 {
                    "handshake was"
                } else {
                    "handshakes were"
                },
                parts.join(", ")
            )?;
        }
        self.servers(s)?;
        if s.revocation.blocked() {
            let r = &s.revocation;
            writeln!(
                self.out,
                "  revocation checks blocked: {} certificate or revocation fetch{} over HTTP ({}) failed, and {} TLS handshake{} ended with the client rejecting the certificate: a client that checks revocation (Windows SChannel does by default: CRYPT_E_REVOCATION_OFFLINE) fails when it cannot fetch the CRL or OCSP answer, although the certificate is fine. Allow HTTP (port 80) to those hosts.",
                r.fetches_failed,
                if r.fetches_failed == 1 { "" } else { "es" },
                r.hosts.join(", "),
                r.certificates_rejected,
                if r.certificates_rejected == 1 { "" } else { "s" }
            )?;
        }
        if s.nothing_analysed() {
            writeln!(
                self.out,
                "  nothing could be analysed (the reasons are above, per file)"
            )?;
        } else if self.printed == 0 && s.counts.failed == 0 && !self.all {
            writeln!(
                self.out,
                "  (no failed connection; --all shows every connection)"
            )?;
        }
        self.out.flush()
    }
}
