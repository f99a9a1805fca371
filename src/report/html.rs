//! The HTML report (`--report FILE.html`): one self-contained page that opens from a mail attachment,
//! offline. No external script, style, font or image; a Content-Security-Policy that forbids any
//! fetch and allows only the page's own script (by hash). Contents: the capture facts, an SVG chart
//! of the outcomes, a sortable and filterable table of the connections, and for each failed
//! connection its verdict, explanation, reasons, evidence frames, Wireshark filter and an SVG ladder
//! diagram ([`super::svg`]).
//!
//! Everything from the wire (SNI, HTTP lines and bodies, certificate names, even file names) goes
//! through maud's escaping: it is shown as text, never interpreted.

use std::io::{self, Write};

use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use super::anonymize::Anonymizer;
use super::{endpoint, svg, time, wireshark_filter, ConnReport, ReportSink, Summary};
use crate::tcp::Direction;
use crate::tls::names;
use crate::verdict::{offer, OutcomeClass};

/// Rows of the servers table at most (the JSON summary lists them all).
const MAX_SERVER_ROWS: usize = 200;
/// Rows of the connection table at most (the summary counts them all).
pub const MAX_TABLE_ROWS: usize = 50_000;
/// Failed connections described in full at most.
pub const MAX_DETAILS: usize = 2_000;

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;color:#1d1d1f;background:#fff}
h1{font-size:24px;margin:20px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:0 0 6px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #d8d8d8;padding:3px 7px;text-align:left;vertical-align:top}
table.evidence td,dl.kv dd{overflow-wrap:anywhere}
th{background:#f3f3f3}
#conns th{cursor:pointer;user-select:none;white-space:nowrap}#conns th[aria-sort=ascending]::after{content:" \25B2"}#conns th[aria-sort=descending]::after{content:" \25BC"}
tr.failed td.outcome{color:#a4161a;font-weight:600}tr.ok td.outcome{color:#1e6b3a}tr.undetermined td.outcome{color:#666}
.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f6f6f6;border:1px solid #e2e2e2;padding:6px 8px;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto}
article.conn{border:1px solid #d0d0d0;border-left:5px solid #a4161a;border-radius:4px;padding:10px 14px;margin:16px 0}
.verdict{font-weight:600}.facts{color:#444}.explanation{font-size:15px}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}dl.kv dt{color:#555}dl.kv dd{margin:0}
tr.decisive td{background:#fde4e4}
.banner{background:#fff4d6;border:1px solid #e8c860;padding:6px 10px;border-radius:4px}
.controls{margin:6px 0}.controls input{width:320px;padding:3px 6px}
.ladder-wrap,.table-wrap{overflow-x:auto}
svg.ladder,svg.chart{max-width:100%;height:auto}
#conns{font-size:13px}
svg text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.muted{color:#666}
@media print{#controls,.controls{display:none}article.conn{break-inside:avoid}}
"#;

/// The page's only script: table sorting and filtering, and a self-check the tests read
/// (`data-ladders`, `data-ready` on the root element).
const SCRIPT: &str = r#"(function(){
"use strict";
var table=document.getElementById("conns");
if(table){
var body=table.tBodies[0],heads=table.tHead.rows[0].cells;
var filter=document.getElementById("filter"),klass=document.getElementById("klass"),shown=document.getElementById("shown");
var apply=function(){
var q=filter.value.toLowerCase(),c=klass.value,n=0;
for(var i=0;i<body.rows.length;i++){var r=body.rows[i];
var ok=(!c||r.getAttribute("data-class")===c)&&(!q||r.textContent.toLowerCase().indexOf(q)>=0);
r.hidden=!ok;if(ok){n++;}}
shown.textContent=n+" of "+body.rows.length+" shown";};
filter.addEventListener("input",apply);klass.addEventListener("change",apply);
Array.prototype.forEach.call(heads,function(th,col){th.addEventListener("click",function(){
var asc=th.getAttribute("aria-sort")!=="ascending";
Array.prototype.forEach.call(heads,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",asc?"ascending":"descending");
var num=th.getAttribute("data-type")==="num";
var rows=Array.prototype.slice.call(body.rows);
var key=function(r){var c=r.cells[col];var s=c.getAttribute("data-sort");return s===null?c.textContent:s;};
rows.sort(function(a,b){var x=key(a),y=key(b);var d=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return asc?d:-d;});
rows.forEach(function(r){body.appendChild(r);});});});
document.getElementById("controls").hidden=false;
apply();}
var ladders=document.querySelectorAll("svg.ladder").length;
document.documentElement.setAttribute("data-ladders",String(ladders));
document.documentElement.setAttribute("data-ready","yes");
console.log("tlsautopsy report ready: "+ladders+" ladder diagrams");
})();"#;

/// Standard base64 (for the script hash).
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The Content-Security-Policy of the page: nothing may be fetched; only our script runs.
pub fn content_security_policy() -> String {
    let h: [u8; 32] = Sha256::digest(SCRIPT.as_bytes()).into();
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        base64(&h)
    )
}

/// One line of the connection table.
struct Row {
    id: u64,
    file: String,
    client: String,
    server: String,
    sni: String,
    outcome: &'static str,
    /// `after_handshake.finding`, shown after the outcome.
    after: Option<&'static str>,
    class: &'static str,
    cause: &'static str,
    ended_by: &'static str,
    confidence: &'static str,
    start: String,
    clock: String,
    start_ns: u64,
    duration_ms: f64,
    packets: u64,
    detail: bool,
}

/// The HTML printer: collects rows and details, writes the page at [`ReportSink::finish`].
pub struct HtmlReport<W: Write> {
    out: Option<W>,
    anon: Option<std::sync::Arc<Anonymizer>>,
    /// A line about how the evidence was made (for the bundle), shown under the title.
    context: Vec<String>,
    rows: Vec<Row>,
    rows_dropped: u64,
    details: Vec<String>,
    details_dropped: u64,
    files: Vec<String>,
}

impl<W: Write> HtmlReport<W> {
    /// Write the page to `out` when the run finishes; `anon` maps addresses in all of it.
    pub fn new(out: W, anon: Option<std::sync::Arc<Anonymizer>>) -> Self {
        HtmlReport {
            out: Some(out),
            anon,
            context: Vec::new(),
            rows: Vec::new(),
            rows_dropped: 0,
            details: Vec::new(),
            details_dropped: 0,
            files: Vec::new(),
        }
    }

    /// Lines shown under the title (e.g. what the bundle holds).
    pub fn set_context(&mut self, lines: Vec<String>) {
        self.context = lines;
    }
}

fn class_name(c: OutcomeClass) -> &'static str {
    match c {
        OutcomeClass::Ok => "ok",
        OutcomeClass::Failed => "failed",
        OutcomeClass::Undetermined => "undetermined",
    }
}

fn frame_name(c: &ConnReport<'_>, file: u16, frame: u64) -> String {
    if c.files.len() > 1 {
        format!("{}:{frame}", c.file_name(file))
    } else {
        frame.to_string()
    }
}

/// The facts line of a connection (SNI, version, suite, alert, HTTP status...).
fn facts(c: &ConnReport<'_>) -> Vec<(&'static str, String)> {
    let v = c.verdict;
    let tls = &c.conn.tls;
    let mut f = Vec::new();
    if let Some(sni) = tls.client_hello().and_then(|c| c.sni.as_deref()) {
        f.push(("SNI", sni.to_string()));
    }
    if let Some(ver) = tls.version() {
        f.push(("TLS version", names::version_name(ver)));
    }
    if let Some(sh) = tls.server_hello() {
        f.push(("cipher suite", offer::suite(sh.cipher_suite)));
    }
    if let Some(a) = &v.alert {
        f.push(("alert", format!("{} from {}", a.name, a.from.as_str())));
    }
    if let Some(s) = v.http_status {
        f.push(("HTTP status", s.to_string()));
    }
    if let Some(p) = &v.proxy_target {
        f.push(("via proxy to", p.clone()));
    }
    if let Some(tn) = &c.conn.tunnel {
        f.push(("inside tunnel", tn.to_string()));
    }
    if let Some(rtt) = v.syn_ack_rtt_ns {
        f.push(("SYN-ACK RTT", format!("{:.3} ms", rtt as f64 / 1e6)));
    }
    if let Some(d) = v.client_hello_to_decisive_ns {
        f.push((
            "ClientHello to decisive packet",
            format!("{:.3} ms", d as f64 / 1e6),
        ));
    }
    f
}

fn detail(c: &ConnReport<'_>) -> Markup {
    let conn = c.conn;
    let v = c.verdict;
    let t = &conn.tcp;
    let tls = &conn.tls;
    let resp = tls.http_response().or(tls.connect_response());
    let not_tls = tls.not_tls(Direction::ToClient);
    let decisive = v.decisive;
    html! {
        article.conn id={ "conn-" (conn.id) } data-outcome=(v.outcome.as_str()) {
            h3 {
                "#" (conn.id) " " (endpoint(&t.client)) " → " (endpoint(&t.server)) " "
                span.verdict { (v.outcome.as_str()) }
                @if let Some(f) = v.after_finding() { " " span.verdict { "then " (f.as_str()) } }
            }
            dl.kv {
                dt { "cause" } dd.mono { (v.cause.as_str()) }
                dt { "ended by" } dd.mono { (v.ended_by.as_str()) }
                dt { "confidence" } dd.mono { (v.confidence.as_str()) }
                @for (k, val) in facts(c) {
                    dt { (k) } dd { (val) }
                }
                dt { "file" } dd { (c.file_name(t.first.file())) }
                dt { "time" } dd {
                    (time::rfc3339(t.first.ts)) " to " (time::rfc3339(t.last.ts))
                    " (" (format!("{:.3}", t.last.ts.since(t.first.ts) as f64 / 1e6)) " ms)"
                }
            }
            p.explanation { (v.explanation) }
            @if !v.reasons.is_empty() {
                h4 { "Why" }
                ul { @for r in &v.reasons { li { (r) } } }
            }
            @if !v.candidates.is_empty() {
                p { "Possible causes: "
                    @for (i, cand) in v.candidates.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (cand.as_str()) }
                    }
                }
            }
            @if !v.evidence.is_empty() {
                h4 { "Evidence" }
                div.table-wrap { table.evidence {
                    thead { tr { th { "frame" } th { "time (UTC)" } th { "from" } th { "what" } th { "why it matters" } } }
                    tbody {
                        @for e in &v.evidence {
                            tr.decisive[Some(e.at) == decisive] {
                                td.mono { (frame_name(c, e.at.file(), e.at.frame))
                                    @if Some(e.at) == decisive { " (decisive)" } }
                                td.mono { (time::clock(e.at.ts)) }
                                td { (e.from.as_str()) }
                                td { (e.what) }
                                td { (e.why) }
                            }
                        }
                    }
                } }
            }
            @if let Some(r) = resp {
                h4 { "What the server sent (HTTP)" }
                pre {
                    (r.status_line) "\n"
                    @for (k, val) in &r.headers { (k) ": " (val) "\n" }
                    @if !r.body_excerpt.is_empty() { "\n" (r.body_excerpt) }
                }
            } @else if let Some(n) = not_tls {
                h4 { "What the server sent (not TLS: " (n.looks_like) ")" }
                pre { (n.excerpt) }
            }
            @if !tls.certificates().is_empty() {
                h4 { "Server certificates" }
                table {
                    thead { tr { th { "subject" } th { "issuer" } th { "valid" } th { "names" } } }
                    tbody {
                        @for cert in tls.certificates() {
                            tr {
                                td { (cert.subject) }
                                td { (cert.issuer) }
                                td.mono { (cert_day(cert.not_before)) " to " (cert_day(cert.not_after)) }
                                td { (cert.san.join(", ")) }
                            }
                        }
                    }
                }
            }
            @for n in &v.notes {
                p.muted { "Note: " (n) }
            }
            p { "Wireshark display filter: " code { (wireshark_filter(conn)) } }
            div.ladder-wrap { (svg::ladder(c)) }
        }
    }
}

fn cert_day(secs: i64) -> String {
    let s = time::rfc3339(crate::capture::Timestamp(
        u64::try_from(secs.max(0)).unwrap_or(0) * 1_000_000_000,
    ));
    s.get(..10).unwrap_or(&s).to_string()
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

impl<W: Write> HtmlReport<W> {
    fn page(&self, s: &Summary) -> Markup {
        let tot = &s.totals;
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="generator" content={ "tlsautopsy " (env!("CARGO_PKG_VERSION")) };
                    title { "tlsautopsy report: " (s.counts.failed) " failed of " (tot.connections) " connections" }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    h1 { "tlsautopsy report" }
                    p {
                        (tot.connections) " TCP connections: "
                        strong { (s.counts.failed) " failed" } ", " (s.counts.ok) " ok, " (s.counts.undetermined) " undetermined. "
                        span.muted { "Made by tlsautopsy " (env!("CARGO_PKG_VERSION")) " from the packets alone." }
                    }
                    @if self.anon.is_some() {
                        p.banner { "IP addresses in this report are anonymized (keyed, prefix-preserving): they are not the real addresses." }
                    }
                    @for l in &self.context { p.muted { (l) } }

                    h2 #capture { "Capture" }
                    table {
                        thead { tr { th { "file" } th { "format" } th.num { "frames" } th.num { "bytes" } th { "link types" } th { "problems" } } }
                        tbody {
                            @for i in &s.inputs {
                                tr {
                                    td.mono { (i.name) }
                                    td { (i.format) }
                                    td.num { (i.frames) }
                                    td.num { (human_bytes(i.bytes)) }
                                    td { (i.link_types.join(", ")) }
                                    td {
                                        @if let Some(e) = &i.error { strong { "not read: " } (e) br; }
                                        @for w in &i.warnings { (w) br; }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(order) = s.input_order.describe() { p.muted { (order) } }
                    dl.kv {
                        @if let (Some(a), Some(b)) = (tot.first_ts, tot.last_ts) {
                            dt { "time span" }
                            dd.mono { (time::rfc3339(a)) " to " (time::rfc3339(b)) " (" (format!("{:.3}", b.since(a) as f64 / 1e9)) " s)" }
                        }
                        dt { "frames" } dd { (tot.frames) " (" (tot.tcp_packets) " TCP packets, " (tot.icmp_errors) " ICMP errors)" }
                        dt { "connections" } dd { (tot.connections) }
                        @if tot.icmp_unmatched > 0 {
                            dt { "ICMP errors quoting no connection" } dd { (tot.icmp_unmatched) }
                        }
                        @if !tot.skipped.is_empty() {
                            dt { "frames not analysed" }
                            dd {
                                @for (i, (k, n)) in tot.skipped.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    code { (super::text::skip_name(*k)) } " " (n)
                                }
                            }
                        }
                        @if tot.evicted > 0 {
                            dt { "judged early (connection limit)" } dd { (tot.evicted) }
                        }
                    }

                    h2 #outcomes { "Outcomes" }
                    (svg::outcome_chart(s))
                    @if s.counts.after_handshake_findings() > 0 {
                        p {
                            (s.counts.after_handshake_findings()) " completed handshake(s) reset afterwards by the path: "
                            @for (i, (f, n)) in s.counts.after_handshake.iter().enumerate() {
                                @if i > 0 { ", " }
                                code { (f.as_str()) } " " (n)
                            }
                        }
                    }

                    @if s.revocation.blocked() {
                        p.banner {
                            strong { "Revocation checks blocked: " }
                            (s.revocation.fetches_failed) " certificate or revocation fetch(es) over HTTP ("
                            (s.revocation.hosts.join(", "))
                            ") failed, and " (s.revocation.certificates_rejected)
                            " TLS handshake(s) ended with the client rejecting the certificate. A client that checks revocation (Windows SChannel by default) fails when it cannot fetch the CRL or OCSP answer: allow HTTP (port 80) to those hosts."
                        }
                    }
                    @if s.servers.len() > 1 {
                        h2 #servers { "Servers" }
                        div.table-wrap { table {
                            thead { tr {
                                th { "server" } th { "names asked for" } th.num { "connections" } th.num { "failed" }
                                th.num { "ok" } th.num { "undetermined" } th { "outcomes" } th { "pattern" }
                            } }
                            tbody {
                                @for (addr, t) in s.servers_by_failures().into_iter().take(MAX_SERVER_ROWS) {
                                    tr {
                                        td.mono { (endpoint(addr)) }
                                        td {
                                            (t.names.join(", "))
                                            @if t.other_names > 0 { " (+" (t.other_names) " more)" }
                                        }
                                        td.num { (t.counts.connections) }
                                        td.num { (t.counts.failed) }
                                        td.num { (t.counts.ok) }
                                        td.num { (t.counts.undetermined) }
                                        td {
                                            @for (i, (o, n)) in t.counts.outcomes.iter().enumerate() {
                                                @if i > 0 { ", " }
                                                (o.as_str()) " " (n)
                                            }
                                        }
                                        td {
                                            @if let Some(p) = t.pattern() {
                                                span title="at least 2 connections got no SYN-ACK while at least 2 others to this address were accepted: a SNAT port shortage on a firewall or NAT gateway, or a listener refusing under load" { code { (p.as_str()) } }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                        @if s.servers.len() > MAX_SERVER_ROWS {
                            p.muted { (s.servers.len() - MAX_SERVER_ROWS) " more servers are not listed (the JSON summary lists them all)." }
                        }
                    }

                    h2 #connections { "Connections" }
                    div #controls .controls hidden {
                        input #filter type="search" placeholder="Filter: address, SNI, outcome..." aria-label="Filter connections";
                        " "
                        select #klass aria-label="Show" {
                            option value="" { "all" }
                            option value="failed" { "failed" }
                            option value="ok" { "ok" }
                            option value="undetermined" { "undetermined" }
                        }
                        " " span #shown .muted {}
                        span.muted { " (click a column to sort)" }
                    }
                    div.table-wrap { table #conns {
                        thead { tr {
                            th data-type="num" { "#" } th { "file" } th { "client" } th { "server" } th { "SNI" }
                            th { "outcome" } th { "cause" } th { "ended by" } th { "confidence" }
                            th data-type="num" { "start (UTC)" } th data-type="num" { "ms" } th data-type="num" { "packets" }
                        } }
                        tbody {
                            @for r in &self.rows {
                                tr class=(r.class) data-class=(r.class) {
                                    td.num { (r.id) }
                                    td { (r.file) }
                                    td.mono { (r.client) }
                                    td.mono { (r.server) }
                                    td { (r.sni) }
                                    td.outcome {
                                        @if r.detail { a href={ "#conn-" (r.id) } { (r.outcome) } } @else { (r.outcome) }
                                        @if let Some(f) = r.after { ", then " (f) }
                                    }
                                    td { (r.cause) }
                                    td { (r.ended_by) }
                                    td { (r.confidence) }
                                    td.mono data-sort=(r.start_ns) title=(r.start) { (r.clock) }
                                    td.num data-sort=(r.duration_ms) { (format!("{:.3}", r.duration_ms)) }
                                    td.num { (r.packets) }
                                }
                            }
                        }
                    } }
                    @if self.rows_dropped > 0 {
                        p.muted { (self.rows_dropped) " more connections are not listed (at most " (MAX_TABLE_ROWS) " rows)." }
                    }

                    h2 #failed { "Failed connections" }
                    @if self.details.is_empty() {
                        p { "No connection failed." }
                    }
                    @for d in &self.details { (PreEscaped(d)) }
                    @if self.details_dropped > 0 {
                        p.muted { (self.details_dropped) " more failed connections are not described (at most " (MAX_DETAILS) ")." }
                    }
                    script { (PreEscaped(SCRIPT)) }
                }
            }
        }
    }
}

impl<W: Write> ReportSink for HtmlReport<W> {
    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.files = inputs.to_vec();
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        let v = c.verdict;
        let t = &c.conn.tcp;
        let wanted = v.needs_evidence();
        let detail_kept = wanted && self.details.len() < MAX_DETAILS;
        if wanted && !detail_kept {
            self.details_dropped += 1;
        }
        if detail_kept {
            self.details.push(detail(c).into_string());
        }
        if self.rows.len() >= MAX_TABLE_ROWS {
            self.rows_dropped += 1;
            return Ok(());
        }
        self.rows.push(Row {
            id: c.conn.id,
            file: c.file_name(t.first.file()).to_string(),
            client: endpoint(&t.client),
            server: endpoint(&t.server),
            sni: c
                .conn
                .tls
                .client_hello()
                .and_then(|h| h.sni.clone())
                .unwrap_or_default(),
            outcome: v.outcome.as_str(),
            after: v.after_finding().map(|f| f.as_str()),
            class: class_name(v.outcome.class()),
            cause: v.cause.as_str(),
            ended_by: v.ended_by.as_str(),
            confidence: v.confidence.as_str(),
            start: time::rfc3339(t.first.ts),
            clock: time::clock(t.first.ts),
            start_ns: t.first.ts.0,
            duration_ms: t.last.ts.since(t.first.ts) as f64 / 1e6,
            packets: t.packets + t.duplicates,
            detail: detail_kept,
        });
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        // Connections in the order of their first packet.
        self.rows.sort_by_key(|r| r.id);
        let page = self.page(s).into_string();
        let page = match &self.anon {
            Some(a) => a.text(&page).into_owned(),
            None => page,
        };
        if let Some(mut out) = self.out.take() {
            out.write_all(page.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn script_and_style_survive_anonymization() {
        // The page is anonymized as a whole: our own script and style must hold no address-like
        // literal, or the script's hash would no longer match the policy.
        assert!(super::super::anonymize::find_addresses(SCRIPT).is_empty());
        assert!(super::super::anonymize::find_addresses(CSS).is_empty());
        assert!(!SCRIPT.contains("</"));
    }
}
