//! The rules: one connection's facts in, one [`Verdict`] out.
//!
//! They run in the order a handshake happens, and the first phase that failed decides:
//! explicit proxy (`CONNECT`) → plain HTTP → TCP handshake → ClientHello → the server's answer
//! (alert, non-TLS bytes, nothing) → the rest of the handshake. Every branch records its reasons.

use std::borrow::Cow;
use std::fmt::Write;

use super::offer::{self, Offer};
use super::provenance;
use super::text::{cat, cat_to, Piece};
use super::{
    endpoints, AfterFinding, AfterHandshake, AlertInfo, Cause, Confidence, Config, ConnInput,
    EndedBy, Ending, Evidence, Outcome, OutcomeClass, Party, TlsEventAt, Verdict,
};
use crate::addr::Endpoint;
use crate::capture::Timestamp;
use crate::tcp::{Direction, PacketFacts};
use crate::tls::{names, HandshakeProgress, HttpResponse, TlsEventKind};

/// What every verdict on a capture that cut or lost the bytes it needed ends with.
const WHOLE_PACKETS: &str = "Capture again with whole packets (tcpdump -s 0; pktmon --pkt-size 0).";

/// Largest application-data record that is taken for an encrypted alert: 2 alert bytes + 1 content
/// type byte + a 16-byte AEAD tag = 19 with AES-GCM or ChaCha20-Poly1305 (TLS 1.3); a little slack for
/// padding. A TLS 1.3 Finished is at least 32 + 1 + 16 = 49 bytes.
pub const ALERT_SIZED: u16 = 24;

/// Judge one connection.
pub fn judge(input: &ConnInput<'_>, cfg: &Config) -> Verdict {
    let mut j = Judge::new(input, cfg);
    j.common_facts();
    j.decide();
    j.unless_cut();
    j.finish()
}

struct Judge<'a> {
    i: &'a ConnInput<'a>,
    cfg: &'a Config,
    v: Verdict,
}

/// A reset after at least this much silence is an idle timeout in the path (`idle_reset`).
const IDLE_RESET_MIN_NS: u64 = 5_000_000_000;
/// A reset this soon after the other side's packet answers that packet.
const ANSWER_WITHIN_NS: u64 = 1_000_000_000;
/// Azure Firewall's TCP idle timeout (4 minutes; `failure-signatures.md` §1.6).
const AZFW_IDLE_NS: u64 = 240_000_000_000;

/// A duration for people: "1.25 s", "340 ms", "2.5 ms", "730 µs".
fn ms(ns: u64) -> Ms {
    Ms(ns)
}

/// [`ms`]'s duration, written when formatted.
#[derive(Clone, Copy, Debug)]
struct Ms(u64);

impl Ms {
    /// The duration as a float rounded by `{:.N}` (what every duration was written with first).
    fn float_text(self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0 as f64 / 1e6;
        if ms >= 1000.0 {
            write!(f, "{:.2} s", ms / 1000.0)
        } else if ms >= 10.0 {
            write!(f, "{ms:.0} ms")
        } else if ms >= 1.0 {
            write!(f, "{ms:.1} ms")
        } else {
            write!(f, "{:.0} µs", ms * 1000.0)
        }
    }
}

impl std::fmt::Display for Ms {
    /// The same text as [`Ms::float_text`], in integers: float formatting (its exact decimal
    /// expansion) costs about 1.5 k instructions. Rounding half up on the nanoseconds gives the same
    /// digits except on an exact tie, where the float's binary value decides: those, and durations
    /// too long for the argument below (over 2^50 ns, 13 days), take the float path. Elsewhere the
    /// nearest rounding boundary is at least 1 ns away, 1/ns relative, far more than the float's
    /// 2^-52 relative error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.integer() {
            Some((q, 2, name)) => write!(f, "{}.{:02} {name}", q / 100, q % 100),
            Some((q, 1, name)) => write!(f, "{}.{} {name}", q / 10, q % 10),
            Some((q, _, name)) => write!(f, "{q} {name}"),
            None => self.float_text(f),
        }
    }
}

impl Ms {
    /// The rounded value in units of its last digit, how many digits follow the point, and the unit
    /// name; `None` when the float path decides (see [`Ms`]'s `Display`).
    #[inline]
    fn integer(self) -> Option<(u64, u8, &'static str)> {
        let ns = self.0;
        // (nanoseconds per last digit, digits after the point, unit); the thresholds are the float
        // version's (ns / 1e6 >= 1000.0 exactly when ns >= 10^9, and so on).
        let (unit, decimals, name) = match ns {
            1_000_000_000.. => (10_000_000, 2, "s"),
            10_000_000.. => (1_000_000, 0, "ms"),
            1_000_000.. => (100_000, 1, "ms"),
            _ => (1_000, 0, "µs"),
        };
        let (q, r) = (ns / unit, ns % unit);
        if ns >= 1 << 50 || r * 2 == unit {
            return None;
        }
        Some((q + u64::from(r * 2 > unit), decimals, name))
    }
}

impl Piece for Ms {
    fn size(&self) -> usize {
        12
    }
    /// The same text as `Display`, without `core::fmt` on the integer path.
    fn push_to(&self, s: &mut String) {
        let Some((q, decimals, name)) = self.integer() else {
            let _ = write!(s, "{self}");
            return;
        };
        let mut digits = itoa::Buffer::new();
        match decimals {
            2 | 1 => {
                let div = if decimals == 2 { 100 } else { 10 };
                s.push_str(digits.format(q / div));
                s.push('.');
                let frac = q % div;
                if decimals == 2 && frac < 10 {
                    s.push('0');
                }
                s.push_str(digits.format(frac));
            }
            _ => s.push_str(digits.format(q)),
        }
        s.push(' ');
        s.push_str(name);
    }
}

/// What the explanations say of the ClientHello's name: "SNI x", "no SNI", or "cut by the capture"
/// when its offer could not be read.
fn sni_text(sni: Option<&str>, offer: &Offer) -> String {
    match sni {
        Some(s) => cat!("SNI ", s),
        None if !offer.acceptable && offer.problem.is_none() => "cut by the capture".to_string(),
        None => "no SNI".to_string(),
    }
}

fn earliest(a: Option<PacketFacts>, b: Option<PacketFacts>) -> Option<PacketFacts> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.at < x.at { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// An HTTP answer that is a block page rather than a web server's own answer.
fn deny_page(r: &HttpResponse) -> Option<&'static str> {
    let body = r.body_excerpt.to_ascii_lowercase();
    if r.status == 470 {
        return Some("status 470 is Azure Firewall's deny status");
    }
    if body.contains("action: deny") {
        return Some("the body says \"Action: Deny\" (Azure Firewall's deny page)");
    }
    if r.headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-squid-error"))
    {
        return Some("an X-Squid-Error header: a Squid proxy denied it");
    }
    if matches!(r.status, 403 | 451)
        && ["block", "denied", "policy", "forbidden by", "not allowed"]
            .iter()
            .any(|w| body.contains(w))
    {
        return Some("a 403/451 whose page says the request was blocked by policy");
    }
    None
}

/// Issuer names of well-known TLS-inspection products.
pub(crate) fn inspection_vendor(issuer: &str) -> bool {
    let l = issuer.to_ascii_lowercase();
    [
        "inspection",
        "fortinet",
        "fortigate",
        "zscaler",
        "palo alto",
        "check point",
        "checkpoint",
        "sophos",
        "blue coat",
        "bluecoat",
        "netskope",
        "forcepoint",
        "websense",
        "mcafee web gateway",
        "cisco umbrella",
        "barracuda",
        "watchguard",
        "sonicwall",
        "untangle",
        "proxy",
        "firewall",
        "azure firewall",
    ]
    .iter()
    .any(|w| l.contains(w))
}

impl<'a> Judge<'a> {
    fn new(i: &'a ConnInput<'a>, cfg: &'a Config) -> Self {
        Judge {
            i,
            cfg,
            v: Verdict {
                outcome: Outcome::Midstream,
                cause: Cause::Unknown,
                ended_by: EndedBy::None,
                confidence: Confidence::Low,
                explanation: String::new(),
                reasons: Vec::new(),
                candidates: Vec::new(),
                alert: None,
                http_status: None,
                evidence: Vec::new(),
                notes: Vec::new(),
                decisive: None,
                syn_ack_rtt_ns: None,
                client_hello_to_decisive_ns: None,
                ttl_client: None,
                ttl_syn_ack: None,
                ttl_decisive: None,
                proxy_target: None,
                after_handshake: None,
                server_name: None,
                endpoint: None,
                pki_fetch: false,
            },
        }
    }

    fn set(&mut self, outcome: Outcome, cause: Cause, ended_by: EndedBy, confidence: Confidence) {
        self.v.outcome = outcome;
        self.v.cause = cause;
        self.v.ended_by = ended_by;
        self.v.confidence = confidence;
    }

    fn reason(&mut self, r: impl Into<String>) {
        self.v.reasons.push(r.into());
    }

    fn evidence(
        &mut self,
        at: crate::tcp::FrameRef,
        from: Party,
        what: impl Into<Cow<'static, str>>,
        why: impl Into<Cow<'static, str>>,
    ) {
        let e = Evidence {
            at,
            from,
            what: what.into(),
            why: why.into(),
        };
        if !self
            .v
            .evidence
            .iter()
            .any(|x| x.at == e.at && x.what == e.what)
        {
            self.v.evidence.push(e);
        }
    }

    fn packet_text(&self, p: &PacketFacts) -> String {
        let from = match p.dir {
            Direction::ToServer => self.i.tcp.client,
            Direction::ToClient => self.i.tcp.server,
        };
        // One string, written in place (no intermediate `format!`s).
        let mut s = String::with_capacity(64);
        p.flags.write_names(&mut s, "+");
        cat_to!(s, " from ", Endpoint(from), ", TTL ", p.ttl);
        if let Some(id) = p.ip_id {
            cat_to!(s, ", IP ID ", id);
        }
        if p.len > 0 {
            cat_to!(s, ", ", p.len, " bytes");
        }
        s
    }

    fn decisive(&mut self, p: &PacketFacts) {
        self.v.decisive = Some(p.at);
        self.v.ttl_decisive = Some(p.ttl);
        if let Some(ch_end) = self.client_hello_done_at() {
            self.v.client_hello_to_decisive_ns = Some(p.at.ts.since(ch_end));
        }
    }

    fn decisive_at(&mut self, at: crate::tcp::FrameRef) {
        self.v.decisive = Some(at);
        if let Some(ch_end) = self.client_hello_done_at() {
            self.v.client_hello_to_decisive_ns = Some(at.ts.since(ch_end));
        }
    }

    /// Facts every verdict carries: RTT, TTLs, what the capture could not see.
    fn common_facts(&mut self) {
        let t = self.i.tcp;
        if let (Some(syn), Some(sa)) = (t.syn, t.syn_ack) {
            self.v.syn_ack_rtt_ns = Some(sa.at.ts.since(syn.at.ts));
        }
        self.v.ttl_client = t.syn.or(t.side[0].first_packet).map(|p| p.ttl);
        self.v.ttl_syn_ack = t.syn_ack.map(|p| p.ttl);
        if t.syn.is_none() && t.syn_ack.is_none() {
            self.v
                .notes
                .push("the capture has no SYN or SYN-ACK for this connection: it started before the capture".to_string());
        } else if t.syn.is_none() {
            self.v
                .notes
                .push("the client's SYN was not captured".to_string());
        }
        if matches!(t.role_basis, crate::tcp::RoleBasis::PortGuess) {
            self.v.notes.push(
                "client and server were told apart by port numbers only (no SYN, no recognisable first payload)"
                    .to_string(),
            );
        }
        for dir in [Direction::ToServer, Direction::ToClient] {
            let s = t.stream_stats(dir);
            let who = if dir == Direction::ToServer {
                "client"
            } else {
                "server"
            };
            if s.missed_bytes > 0 {
                self.v.notes.push(cat!(s.missed_bytes, " bytes sent by the ", who, " are missing from the capture (packets lost by the capture or cut by its snaplen)"));
            }
            if s.inconsistent_bytes > 0 {
                self.v.notes.push(cat!(
                    s.inconsistent_bytes,
                    " retransmitted bytes from the ",
                    who,
                    " differ from the original (first copy kept)"
                ));
            }
            if s.cap_hits > 0 {
                self.v.notes.push(cat!(
                    "the out-of-order buffer for the ",
                    who,
                    "'s stream hit its limit ",
                    s.cap_hits,
                    " time(s); the holes were skipped"
                ));
            }
        }
        if t.duplicates > 0 {
            self.v.notes.push(cat!(t.duplicates, " packets were captured twice (several interfaces or capture points) and counted once"));
        }
        if self.i.events_dropped > 0 {
            self.v.notes.push(cat!(
                self.i.events_dropped,
                " TLS events beyond the per-connection limit were not kept"
            ));
        }
    }

    fn events(&self) -> impl Iterator<Item = &'a TlsEventAt> {
        self.i.events.iter()
    }

    fn first_event(&self, pred: impl Fn(&TlsEventAt) -> bool) -> Option<&'a TlsEventAt> {
        self.i.events.iter().find(|e| pred(e))
    }

    fn client_hello_event(&self) -> Option<&'a TlsEventAt> {
        self.first_event(|e| {
            e.event.dir == Direction::ToServer
                && matches!(e.event.kind, TlsEventKind::ClientHello(_))
        })
    }

    fn client_hello_done_at(&self) -> Option<Timestamp> {
        self.client_hello_event()
            .map(|e| e.at.ts)
            .or_else(|| self.cut_client_hello().map(|p| p.at.ts))
    }

    /// The client's first data packet, when it starts a TLS ClientHello record that the capture cut
    /// (snaplen, lost segments) so that no ClientHello could be parsed.
    /// Also when the ClientHello could not be parsed: its length claim exceeded the handshake-message
    /// limit, or its bytes were malformed.
    fn cut_client_hello(&self) -> Option<PacketFacts> {
        let t = self.i.tcp;
        let unparsed = self.i.tls.stats(Direction::ToServer).oversized_messages > 0
            || self
                .first_event(|e| {
                    e.event.dir == Direction::ToServer
                        && matches!(e.event.kind, TlsEventKind::Malformed(_))
                })
                .is_some();
        if self.client_hello_event().is_some()
            || (t.stream_stats(Direction::ToServer).missed_bytes == 0 && !unparsed)
        {
            return None;
        }
        if crate::tcp::conn::looks_like_client_hello(t.first_bytes(Direction::ToServer)) {
            t.side[0].first_data
        } else {
            None
        }
    }

    /// Bytes of `dir`'s stream missing from the capture (snaplen, lost packets).
    fn missed(&self, dir: Direction) -> u64 {
        self.i.tcp.stream_stats(dir).missed_bytes
    }

    /// Too little was captured to judge: `midstream`, cause unknown, confidence low.
    fn undetermined(&mut self) {
        self.set(
            Outcome::Midstream,
            Cause::Unknown,
            EndedBy::None,
            Confidence::Low,
        );
    }

    /// First FIN or RST of a side.
    fn close_of(&self, dir: Direction) -> Option<PacketFacts> {
        let s = &self.i.tcp.side[dir.index()];
        earliest(s.first_fin, s.first_rst)
    }

    /// Some failures are read from what the capture did not show: no Finished after the
    /// ServerHello (`aborted_after_server_hello`), an alert whose content is encrypted (a TLS 1.3
    /// alert, or one after a ChangeCipherSpec). When a gap in the capture (a snaplen too small for
    /// TLS, lost packets) broke the record framing of the stream that reading rests on, after the
    /// ServerHello, what the capture did not show may be in the gap: a Finished, which makes an
    /// encrypted alert a plain close. The reading is then given as what the capture suggests, not
    /// as a judgement (`midstream`, cause unknown).
    fn unless_cut(&mut self) {
        let rests_on = match self.v.outcome {
            Outcome::AbortedAfterServerHello => [true, true],
            Outcome::ClientAlert | Outcome::ServerAlert => match &self.v.alert {
                Some(a) if a.code.is_none() => {
                    let client = self.v.outcome == Outcome::ClientAlert;
                    [client, !client]
                }
                _ => return,
            },
            _ => return,
        };
        let sh_at = self
            .first_event(|e| matches!(e.event.kind, TlsEventKind::ServerHello(_)))
            .map(|e| e.at);
        let gap = self.first_event(|e| {
            e.event.kind == TlsEventKind::LostSync
                && rests_on[e.event.dir.index()]
                && sh_at.is_none_or(|sh| e.at >= sh)
        });
        let Some(gap) = gap else {
            return;
        };
        let lost = self.missed(gap.event.dir);
        let was = self.v.outcome;
        if self.v.cause != Cause::Unknown && !self.v.candidates.contains(&self.v.cause) {
            self.v.candidates.insert(0, self.v.cause);
        }
        self.v.outcome = Outcome::Midstream;
        self.v.cause = Cause::Unknown;
        self.v.confidence = Confidence::Low;
        let whose = if gap.event.dir == Direction::ToServer {
            "client"
        } else {
            "server"
        };
        self.evidence(
            gap.at,
            if gap.event.dir == Direction::ToServer {
                Party::Client
            } else {
                Party::Server
            },
            cat!(
                "the ",
                whose,
                "'s records lost here (",
                lost,
                " bytes missing from its stream)"
            ),
            "the capture cut or lost bytes the reading rests on",
        );
        self.reason(cat!(
            "a gap in the capture broke the ",
            whose,
            "'s records after the ServerHello, and reading this as ",
            was.as_str(),
            " rests on what the capture did not show"
        ));
        let suggested = std::mem::take(&mut self.v.explanation);
        self.v.explanation = cat!(
            "The capture lost bytes of the ",
            whose,
            "'s side of this handshake (",
            lost,
            " bytes: a snaplen too small for TLS, or lost packets), so it cannot be judged. What it kept suggests ",
            was.as_str(),
            " (",
            suggested.trim_end_matches('.'),
            "), but a Finished, or what an encrypted alert was, may be among the lost bytes. ",
            WHOLE_PACKETS
        );
    }

    fn finish(mut self) -> Verdict {
        self.v.evidence.sort_by_key(|e| e.at);
        self.v.server_name = self
            .i
            .tls
            .client_hello()
            .and_then(|c| c.sni.clone())
            .or_else(|| self.v.proxy_target.clone())
            .or_else(|| self.i.tls.http_request().and_then(|r| r.host.clone()));
        self.v.endpoint = self.v.server_name.as_deref().and_then(endpoints::lookup);
        self.v.pki_fetch = self
            .i
            .tls
            .http_request()
            .is_some_and(|r| endpoints::is_pki_fetch(&r.target, r.host.as_deref()));
        self.known_endpoint();
        self.v
    }

    /// A failed connection to an endpoint an agent needs says which, and what to change:
    /// allow it (a block), or exempt it from TLS inspection (a rejected certificate).
    fn known_endpoint(&mut self) {
        if self.v.outcome.class() != OutcomeClass::Failed {
            return;
        }
        let (Some(name), Some(m)) = (self.v.server_name.as_deref(), self.v.endpoint) else {
            return;
        };
        let what = cat!(name, " is ", m.describe());
        let advice = match self.v.cause {
            Cause::FirewallBlock | Cause::ProxyDenied => {
                let tag = m
                    .known
                    .service_tag
                    .map(|t| cat!(" (or, in a network rule, the service tag ", t, ")"))
                    .unwrap_or_default();
                let http = self.v.outcome == Outcome::HttpBlocked;
                cat!(
                    " ",
                    what,
                    ": the agent needs it. Allow ",
                    if http { "HTTP (port 80)" } else { "HTTPS" },
                    " to ",
                    name,
                    " in the firewall or proxy",
                    tag,
                    "."
                )
            }
            Cause::CertificateRejected => {
                let certs = self.i.tls.certificates();
                let advice = if certs.is_empty() {
                    "TLS 1.3 hid the certificate: if a TLS-inspection device is in the path, exempt the name from it; otherwise check that the client can validate Microsoft's certificate (its trust store, and its revocation checks: the CRL and OCSP hosts over HTTP)."
                } else if certs.iter().any(|c| inspection_vendor(&c.issuer)) {
                    "Exempt it from TLS inspection."
                } else {
                    "Check that the client can validate the certificate: its trust store, and its revocation checks (the CRL and OCSP hosts over HTTP, port 80)."
                };
                cat!(
                    " ",
                    what,
                    ": the agent needs it with Microsoft's own certificate. ",
                    advice
                )
            }
            _ => String::new(),
        };
        self.reason(what);
        self.v.explanation.push_str(&advice);
    }

    fn decide(&mut self) {
        let tls = self.i.tls;
        if let Some(req) = tls.connect_request() {
            self.v.proxy_target = Some(req.target.clone());
            match tls.connect_response() {
                Some(resp) if !(200..300).contains(&resp.status) => {
                    return self.proxy_refused(resp.status)
                }
                Some(_) => {
                    self.reason(cat!(
                        "the client asked the proxy ",
                        Endpoint(self.i.tcp.server),
                        " to CONNECT to ",
                        req.target,
                        " and got a 2xx: TLS runs inside the tunnel"
                    ));
                }
                None => {
                    if self.proxy_unanswered() {
                        return;
                    }
                }
            }
        } else if tls.http_request().is_some() && !tls.is_tls() {
            return self.plain_http();
        }
        if self.one_direction_only() {
            return;
        }
        if self.tcp_handshake_failed() {
            return;
        }
        if self.client_hello_event().is_none() && self.cut_client_hello().is_none() {
            return self.no_client_hello();
        }
        self.after_client_hello();
    }

    // ---- explicit proxy -------------------------------------------------------------------------

    fn proxy_refused(&mut self, status: u16) {
        let tls = self.i.tls;
        let target = tls
            .connect_request()
            .map(|r| r.target.clone())
            .unwrap_or_default();
        let resp_ev = self.first_event(|e| {
            e.event.dir == Direction::ToClient
                && matches!(e.event.kind, TlsEventKind::HttpResponse(_))
        });
        let req_ev = self.first_event(|e| {
            e.event.dir == Direction::ToServer
                && matches!(e.event.kind, TlsEventKind::HttpRequest(_))
        });
        let line = tls
            .connect_response()
            .map(|r| r.status_line.clone())
            .unwrap_or_default();
        let (cause, what) = match status {
            407 => (
                Cause::ProxyAuthRequired,
                "the proxy wants credentials (407 Proxy Authentication Required)",
            ),
            _ => (Cause::ProxyDenied, "the proxy's policy refused the tunnel"),
        };
        self.set(
            Outcome::ProxyRefused,
            cause,
            EndedBy::Proxy,
            Confidence::High,
        );
        self.v.http_status = Some(status);
        if let Some(e) = req_ev {
            self.evidence(
                e.at,
                Party::Client,
                cat!("CONNECT ", target),
                "the client asked the explicit proxy for a tunnel",
            );
        }
        if let Some(e) = resp_ev {
            self.evidence(
                e.at,
                Party::Proxy,
                cat!("\"", line, "\""),
                "the proxy answered the CONNECT with a refusal; no TLS byte was ever sent",
            );
            self.decisive_at(e.at);
        }
        self.reason(cat!("CONNECT ", target, " was answered with HTTP ", status));
        if let Some(r) = tls.connect_response() {
            if let Some((_, v)) = r
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authenticate"))
            {
                self.reason(cat!("Proxy-Authenticate: ", v));
            }
            if let Some((_, v)) = r
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-squid-error"))
            {
                self.reason(cat!("X-Squid-Error: ", v));
            }
        }
        self.v.explanation = cat!(
            "The client asked the proxy ",
            Endpoint(self.i.tcp.server),
            " to CONNECT to ",
            target,
            "; ",
            what,
            " with \"",
            line,
            "\". No TLS handshake took place: fix the proxy's rule or credentials, not TLS."
        );
    }

    /// A CONNECT that got no answer: decide on how the proxy connection ended. Returns true when decided.
    fn proxy_unanswered(&mut self) -> bool {
        let target = self.v.proxy_target.clone().unwrap_or_default();
        let t = self.i.tcp;
        let missing = self.missed(Direction::ToClient);
        if t.side[1].payload_bytes > 0 && missing > 0 {
            // The proxy did answer, but the capture cut what it said.
            self.undetermined();
            self.v.candidates = vec![Cause::ProxyDenied, Cause::ProxyAuthRequired];
            self.reason(cat!(
                "CONNECT ",
                target,
                " was answered with ",
                t.side[1].payload_bytes,
                " bytes, ",
                missing,
                " of them missing from the capture: the proxy's answer cannot be read"
            ));
            self.v.explanation = cat!(
                "The client asked the proxy ",
                Endpoint(t.server),
                " to CONNECT to ",
                target,
                ", and the proxy answered, but ",
                missing,
                " bytes of its answer are missing from the capture (a snaplen too small, or lost packets), so whether it allowed the tunnel cannot be told. ",
                WHOLE_PACKETS
            );
            return true;
        }
        if let Some(close) = self.close_of(Direction::ToClient) {
            let reset = close.flags.rst();
            self.set(
                Outcome::ProxyRefused,
                Cause::ProxyDenied,
                EndedBy::Proxy,
                Confidence::Medium,
            );
            self.decisive(&close);
            self.evidence(
                close.at,
                Party::Proxy,
                self.packet_text(&close),
                "the proxy closed the connection without answering the CONNECT",
            );
            self.reason(cat!(
                "CONNECT ",
                target,
                " got no HTTP answer; the proxy ",
                if reset {
                    "reset the connection"
                } else {
                    "closed the connection"
                }
            ));
            self.v.candidates = vec![Cause::ProxyDenied, Cause::Unknown];
            self.v.explanation = cat!(
                "The client asked the proxy ",
                Endpoint(self.i.tcp.server),
                " to CONNECT to ",
                target,
                ", and the proxy ",
                if reset {
                    "reset the connection"
                } else {
                    "closed the connection"
                },
                " without an answer: most likely its policy refused the tunnel."
            );
            return true;
        }
        false
    }

    // ---- plain HTTP ----------------------------------------------------------------------------

    /// A plain-text connection (not TLS) whose bytes the capture lost `lost` of, with no answer
    /// read: what the server said (a deny page?) is unknown, so nothing is judged.
    fn plain_text_cut(&mut self, lost: u64, http: bool) {
        let (what, hidden) = if http {
            (
                "plain HTTP",
                "a deny page (Azure Firewall's HTTP 470, a proxy's 403) would look like this",
            )
        } else {
            (
                "another protocol",
                "TLS carried inside it (SOCKS, STARTTLS) may be among the lost bytes",
            )
        };
        self.undetermined();
        self.reason(cat!(
            "the connection starts with ",
            what,
            ", not TLS, and the capture lost ",
            lost,
            " bytes of it: what followed cannot be read"
        ));
        self.v.explanation = cat!(
            "This connection to ",
            Endpoint(self.i.tcp.server),
            " starts with ",
            what,
            ", not TLS, but the capture lost ",
            lost,
            " bytes of it (a snaplen too small, or lost packets), so what followed cannot be read: ",
            hidden,
            ". ",
            WHOLE_PACKETS
        );
    }

    fn plain_http(&mut self) {
        let tls = self.i.tls;
        let req = tls.http_request().cloned().unwrap_or_default();
        let host = req.host.clone().unwrap_or_default();
        let req_ev = self.first_event(|e| {
            e.event.dir == Direction::ToServer
                && matches!(e.event.kind, TlsEventKind::HttpRequest(_))
        });
        if let Some(e) = req_ev {
            self.evidence(
                e.at,
                Party::Client,
                cat!(req.method, " ", req.target, " (Host: ", host, ")"),
                "a plain HTTP request",
            );
        }
        match tls.http_response() {
            Some(resp) => {
                let resp_ev = self.first_event(|e| {
                    e.event.dir == Direction::ToClient
                        && matches!(e.event.kind, TlsEventKind::HttpResponse(_))
                });
                self.v.http_status = Some(resp.status);
                if let Some(why) = deny_page(resp) {
                    let conf = if resp.status == 470 || why.contains("Action") {
                        Confidence::High
                    } else {
                        Confidence::Medium
                    };
                    self.set(
                        Outcome::HttpBlocked,
                        Cause::FirewallBlock,
                        EndedBy::Server,
                        conf,
                    );
                    if let Some(e) = resp_ev {
                        self.evidence(e.at, Party::Server, cat!("\"", resp.status_line, "\""), why);
                        self.decisive_at(e.at);
                    }
                    self.reason(cat!(
                        "the HTTP request for ",
                        host,
                        req.target,
                        " was answered with \"",
                        resp.status_line,
                        "\""
                    ));
                    self.reason(why.to_string());
                    let body = resp.body_excerpt.trim();
                    if !body.is_empty() {
                        self.reason(cat!("body: ", body.chars().take(200).collect::<String>()));
                    }
                    self.v.explanation = cat!("The plain HTTP request to ", host, " (", Endpoint(self.i.tcp.server), ") was denied by a firewall: it answered \"", resp.status_line, "\"", if body.contains("Action: Deny") { " with an \"Action: Deny\" page" } else { "" }, ". If ", host, " is a CRL/OCSP/AIA host, TLS clients that check revocation (Windows SChannel) fail on port 443 too.");
                } else {
                    self.set(
                        Outcome::Cleartext,
                        Cause::None,
                        EndedBy::None,
                        Confidence::High,
                    );
                    if let Some(e) = resp_ev {
                        self.evidence(
                            e.at,
                            Party::Server,
                            cat!("\"", resp.status_line, "\""),
                            "the server answered the plain HTTP request",
                        );
                    }
                    self.reason(cat!("plain HTTP answered with \"", resp.status_line, "\""));
                    self.v.explanation = cat!(
                        "A plain HTTP connection (no TLS): ",
                        req.method,
                        " ",
                        req.target,
                        " to ",
                        host,
                        " was answered with \"",
                        resp.status_line,
                        "\"."
                    );
                }
            }
            None => {
                if self.tcp_handshake_failed() {
                    return;
                }
                // The server's answer may be in what the capture lost (a snaplen that kept the
                // request but cut the response): not "no response".
                let lost = self.missed(Direction::ToServer) + self.missed(Direction::ToClient);
                if lost > 0 {
                    self.plain_text_cut(lost, true);
                    return;
                }
                let close = self.close_of(Direction::ToClient);
                self.set(
                    Outcome::Cleartext,
                    Cause::Unknown,
                    close.map_or(EndedBy::None, |_| EndedBy::Server),
                    Confidence::Low,
                );
                self.reason("a plain HTTP request got no HTTP response");
                self.v.explanation = cat!(
                    "A plain HTTP request to ",
                    host,
                    " (",
                    Endpoint(self.i.tcp.server),
                    ") got no response",
                    if close.is_some() {
                        " before the server side closed the connection"
                    } else {
                        " in the capture"
                    },
                    "."
                );
                if let Some(c) = close {
                    self.decisive(&c);
                    self.evidence(
                        c.at,
                        Party::Server,
                        self.packet_text(&c),
                        "the server side ended the connection without an HTTP answer",
                    );
                }
            }
        }
    }

    // ---- what the capture could not see --------------------------------------------------------

    /// Nothing from the server in the capture, yet the client behaved as if it heard from it: it went
    /// on after its SYN (a client only does that after a SYN-ACK), or its acknowledgment numbers moved.
    /// The capture saw one direction only (asymmetric routing, a one-way SPAN, a capture filter), and
    /// silence cannot be judged. Returns true when decided.
    fn one_direction_only(&mut self) -> bool {
        let t = self.i.tcp;
        if t.side[1].packets > 0 || self.i.icmp.is_some() {
            return false;
        }
        let client = &t.side[0];
        let went_on = client.packets > u64::from(t.syn_count)
            && client.first_rst.is_none_or(|_| {
                client.packets > u64::from(t.syn_count) + u64::from(client.rst_count)
            })
            && t.syn.is_some();
        if !(went_on || client.ack_moved || (t.syn.is_none() && client.payload_bytes > 0)) {
            return false;
        }
        self.set(
            Outcome::Midstream,
            Cause::Unknown,
            EndedBy::None,
            Confidence::Medium,
        );
        let mut why = Vec::new();
        if went_on {
            why.push("the client kept sending after its SYN, which it does only after a SYN-ACK");
        }
        if client.ack_moved {
            why.push("the client's acknowledgment numbers advanced, so it received bytes");
        }
        if t.syn.is_none() && !went_on && !client.ack_moved {
            why.push("the connection started before the capture");
        }
        for w in &why {
            self.reason(w.to_string());
        }
        let sure = went_on || client.ack_moved;
        self.v.notes.push(if sure {
            "only the client's direction of this connection is in the capture".to_string()
        } else {
            "the capture has no SYN and nothing from the server for this connection".to_string()
        });
        if let Some(e) = self.client_hello_event() {
            self.evidence(e.at, Party::Client, "ClientHello", "the client started TLS");
        }
        self.v.explanation = if sure {
            cat!("The capture holds only the client's side of this connection (", client.packets, " packets, none from ", Endpoint(t.server), "): ", why.join("; "), ". The server's answers were not captured (asymmetric routing, a one-way SPAN port or a capture filter), so the handshake cannot be judged; capture on the client host itself.")
        } else {
            cat!("The capture has ", client.packets, " packet(s) from the client of this connection and nothing from ", Endpoint(t.server), ", and no SYN: it started before the capture, or the capture holds one direction only. Too little to judge.")
        };
        true
    }

    // ---- TCP handshake -------------------------------------------------------------------------

    /// SYN not answered, rejected, or unreachable. Returns true when decided.
    fn tcp_handshake_failed(&mut self) -> bool {
        let t = self.i.tcp;
        let server = &t.side[1];
        let server_spoke = t.syn_ack.is_some()
            || server.payload_bytes > 0
            || server.packets > server.rst_count as u64;
        if server_spoke {
            return false;
        }
        let Some(syn) = t.syn else {
            return false;
        };
        let syns = t.syn_count;
        self.evidence(
            syn.at,
            Party::Client,
            cat!("SYN to ", Endpoint(t.server), " (TTL ", syn.ttl, ")"),
            "the client opened the connection",
        );
        if let Some((at, icmp)) = self.i.icmp {
            let from_server = icmp.ip.src == t.server.ip();
            let admin = matches!(
                (icmp.version, icmp.icmp_type, icmp.code),
                (4, 3, 9 | 10 | 13) | (6, 1, 1 | 5 | 6)
            );
            let port = matches!(
                (icmp.version, icmp.icmp_type, icmp.code),
                (4, 3, 3) | (6, 1, 4)
            );
            let cause = if admin {
                Cause::FirewallBlock
            } else if port {
                Cause::PortClosed
            } else if icmp.icmp_type == 3 || (icmp.version == 6 && icmp.icmp_type == 1) {
                Cause::NoRoute
            } else {
                Cause::Unknown
            };
            let ended = if from_server {
                EndedBy::Server
            } else {
                EndedBy::Middlebox
            };
            self.set(Outcome::SynUnreachable, cause, ended, Confidence::High);
            self.v.decisive = Some(*at);
            self.v.ttl_decisive = Some(icmp.ip.ttl);
            let what = cat!(
                icmp.describe(),
                " from ",
                icmp.ip.src,
                " (TTL ",
                icmp.ip.ttl,
                ")"
            );
            let why = if from_server {
                "the server's own address answered the SYN with an ICMP error".to_string()
            } else {
                cat!(
                    "a device at ",
                    icmp.ip.src,
                    " (not the server ",
                    t.server.ip(),
                    ") refused the SYN"
                )
            };
            self.evidence(
                *at,
                if from_server {
                    Party::Server
                } else {
                    Party::Middlebox
                },
                what.clone(),
                why,
            );
            self.reason(cat!(
                "the SYN to ",
                Endpoint(t.server),
                " was answered by ",
                what
            ));
            if admin {
                self.reason("\"administratively prohibited\" is what filtering devices send");
            }
            self.v.explanation = format!(
                "The SYN to {} was refused with {} sent by {}{}. {}",
                Endpoint(t.server),
                icmp.describe(),
                icmp.ip.src,
                if from_server { " (the server's address)" } else { ", a device in the path" },
                match cause {
                    Cause::FirewallBlock => "A firewall rule rejects this destination and port: check network rules, NSG and ACLs.",
                    Cause::PortClosed => "Nothing listens on that port.",
                    Cause::NoRoute => "There is no route to the server from there.",
                    _ => "",
                }
            );
            return true;
        }
        if let Some(rst) = server.first_rst {
            self.set(
                Outcome::SynRejected,
                Cause::PortClosed,
                EndedBy::Server,
                Confidence::High,
            );
            self.decisive(&rst);
            self.evidence(rst.at, Party::Server, self.packet_text(&rst), "the SYN was answered by a reset: nothing accepts connections there, or a reject rule answered");
            self.reason(cat!(
                "the SYN (",
                syn.at,
                ") was answered by RST (",
                rst.at,
                ") ",
                ms(rst.at.ts.since(syn.at.ts))
            ));
            self.v.candidates = vec![Cause::PortClosed, Cause::FirewallBlock];
            self.v.confidence = Confidence::Medium;
            self.v.explanation = cat!(
                "The connection to ",
                Endpoint(t.server),
                " was refused: the SYN was answered by a TCP reset (TTL ",
                rst.ttl,
                ") ",
                ms(rst.at.ts.since(syn.at.ts)),
                " later. Nothing listens on that port, or a firewall rejects it with resets."
            );
            return true;
        }
        let waited = self.i.capture_end.since(syn.at.ts);
        if syns <= 1 && waited < self.cfg.quiet_ns {
            self.set(
                Outcome::InProgress,
                Cause::Unknown,
                EndedBy::None,
                Confidence::Low,
            );
            self.reason(cat!(
                "one SYN, and the capture ended ",
                ms(waited),
                " later"
            ));
            self.v.explanation = cat!(
                "The capture ended ",
                ms(waited),
                " after the SYN to ",
                Endpoint(t.server),
                ", before any answer could be expected."
            );
            return true;
        }
        self.set(
            Outcome::SynUnanswered,
            Cause::Unknown,
            EndedBy::None,
            Confidence::High,
        );
        self.v.candidates = vec![Cause::FirewallBlock, Cause::NoRoute];
        let last = t.last_syn.unwrap_or(syn);
        self.decisive(&last);
        if syns > 1 {
            self.evidence(
                last.at,
                Party::Client,
                cat!("SYN retransmission #", syns - 1, " (TTL ", last.ttl, ")"),
                "the client kept retrying: no answer came",
            );
        }
        self.reason(cat!(
            syns,
            " SYN(s) over ",
            ms(last.at.ts.since(syn.at.ts)),
            " got no SYN-ACK, no RST and no ICMP error; the capture went on ",
            ms(self.i.capture_end.since(last.at.ts)),
            " after the last one"
        ));
        self.v.explanation = cat!("The SYN to ", Endpoint(t.server), " was never answered (", syns, " attempts over ", ms(last.at.ts.since(syn.at.ts)), "): a firewall or NSG silently drops it, or the host is down or unrouted. Check network rules first; Azure Firewall network-rule denies look exactly like this.");
        true
    }

    // ---- no ClientHello ------------------------------------------------------------------------

    fn no_client_hello(&mut self) {
        let t = self.i.tcp;
        let tls = self.i.tls;
        let client_bytes = t.side[0].payload_bytes;
        let server_bytes = t.side[1].payload_bytes;
        let no_syn = t.syn.is_none();
        if tls.is_tls() || (no_syn && (client_bytes > 0 || server_bytes > 0)) {
            self.undetermined();
            self.reason("no ClientHello was captured for this connection");
            if tls.server_hello().is_some() {
                self.reason("a ServerHello was seen, so the ClientHello was lost by the capture");
            }
            self.v.explanation = cat!("The capture started after this connection's handshake (or lost it): ", client_bytes, " bytes from the client and ", server_bytes, " from the server were seen, but no ClientHello, so the handshake cannot be judged.");
            return;
        }
        if client_bytes > 0 {
            let not_tls = tls.stats(Direction::ToServer).not_tls;
            let server_not_tls = tls.stats(Direction::ToClient).not_tls;
            if !not_tls && !server_not_tls && self.missed(Direction::ToServer) > 0 {
                // The client's bytes were cut before anything could be told from them, and the
                // server's do not tell either.
                self.payload_not_captured();
                return;
            }
            // Plain text whose answer the capture cut: what the server said (a deny page?) is unknown.
            let lost = self.missed(Direction::ToServer) + self.missed(Direction::ToClient);
            let answered = self
                .first_event(|e| matches!(e.event.kind, TlsEventKind::HttpResponse(_)))
                .is_some();
            if lost > 0 && !answered {
                let http = crate::tls::starts_http_request(t.first_bytes(Direction::ToServer));
                self.plain_text_cut(lost, http);
                return;
            }
            // The client spoke, but not TLS.
            self.set(
                Outcome::Cleartext,
                Cause::None,
                EndedBy::None,
                Confidence::Medium,
            );
            self.reason(cat!(
                "the client sent ",
                client_bytes,
                " bytes that are not a TLS ClientHello"
            ));
            if let Some(e) = self.first_event(|e| matches!(e.event.kind, TlsEventKind::NotTls(_))) {
                if let TlsEventKind::NotTls(n) = &e.event.kind {
                    let from = if e.event.dir == Direction::ToServer {
                        Party::Client
                    } else {
                        Party::Server
                    };
                    self.evidence(
                        e.at,
                        from,
                        cat!(n.looks_like, ": ", n.excerpt),
                        "the first bytes are not TLS",
                    );
                }
            }
            self.v.explanation = cat!(
                "This connection to ",
                Endpoint(t.server),
                " carries another protocol",
                if not_tls { "" } else { " (unrecognised bytes)" },
                ", not TLS; nothing failed that tlsautopsy can judge."
            );
            return;
        }
        // TCP only: established, no byte from the client.
        let closer = earliest(
            self.close_of(Direction::ToServer),
            self.close_of(Direction::ToClient),
        );
        let established = t.syn_ack.or(t.side[1].first_packet);
        let start = established.map_or(t.first.ts, |p| p.at.ts);
        if let Some(sa) = t.syn_ack {
            self.evidence(
                sa.at,
                Party::Server,
                cat!("SYN-ACK from ", Endpoint(t.server), " (TTL ", sa.ttl, ")"),
                "TCP was accepted",
            );
        }
        if server_bytes > 0 {
            if let Some(e) = self.first_event(|e| e.event.dir == Direction::ToClient) {
                if let TlsEventKind::NotTls(n) = &e.event.kind {
                    self.evidence(
                        e.at,
                        Party::Server,
                        cat!(n.looks_like, ": ", n.excerpt),
                        "the server spoke first, and not TLS",
                    );
                }
            }
        }
        match closer {
            Some(c) => {
                let by_client = c.dir == Direction::ToServer;
                let ended = if by_client {
                    EndedBy::Client
                } else {
                    EndedBy::Server
                };
                self.set(Outcome::NoClientHello, Cause::None, ended, Confidence::High);
                self.decisive(&c);
                self.evidence(
                    c.at,
                    if by_client {
                        Party::Client
                    } else {
                        Party::Server
                    },
                    self.packet_text(&c),
                    if by_client {
                        "the client closed without ever sending a byte"
                    } else {
                        "the server side closed before the client sent anything"
                    },
                );
                self.reason(cat!(
                    "TCP was established, no payload from the client, and the ",
                    if by_client { "client" } else { "server" },
                    " closed it ",
                    ms(c.at.ts.since(start)),
                    " later"
                ));
                self.v.explanation = cat!("TCP to ", Endpoint(t.server), " was accepted and then closed by the ", if by_client { "client" } else { "server" }, " ", ms(c.at.ts.since(start)), " later without a ClientHello: a TCP port test (like Test-NetConnection), or a client that gave up before TLS. A successful TCP test says nothing about TLS: ", "a transparent firewall (Azure Firewall application rules) completes", " the TCP handshake.");
            }
            None => {
                let waited = self.i.capture_end.since(start);
                if waited < self.cfg.quiet_ns {
                    self.set(
                        Outcome::InProgress,
                        Cause::Unknown,
                        EndedBy::None,
                        Confidence::Low,
                    );
                    self.reason(cat!(
                        "TCP established; the capture ended ",
                        ms(waited),
                        " later"
                    ));
                    self.v.explanation = cat!(
                        "TCP to ",
                        Endpoint(t.server),
                        " was established ",
                        ms(waited),
                        " before the capture ended, and no ClientHello had been sent yet."
                    );
                } else {
                    self.set(
                        Outcome::NoClientHello,
                        Cause::None,
                        EndedBy::None,
                        Confidence::Medium,
                    );
                    self.reason(cat!(
                        "TCP established; no payload from the client for ",
                        ms(waited)
                    ));
                    self.v.explanation = cat!(
                        "TCP to ",
                        Endpoint(t.server),
                        " was established but the client sent no ClientHello in the ",
                        ms(waited),
                        " the capture went on."
                    );
                }
            }
        }
    }

    /// The client sent bytes, but the capture kept too few of them to tell what they were (a
    /// headers-only snaplen such as tcpdump's old 68 bytes, or lost packets): TLS cannot be judged,
    /// and calling the connection anything, cleartext included, would be a guess. What TCP shows is
    /// said, and what it would mean if the bytes were a ClientHello.
    fn payload_not_captured(&mut self) {
        let t = self.i.tcp;
        // (Bytes sent, and how many of them are missing from the capture.)
        let [client, server] = [Direction::ToServer, Direction::ToClient].map(|d| {
            let sent = t.side[d.index()].payload_bytes;
            (sent, self.missed(d).min(sent))
        });
        self.undetermined();
        self.reason(cat!(
            "the client sent ",
            client.0,
            " bytes, ",
            client.1,
            " of them missing from the capture: too few are left to tell whether they began with a ClientHello"
        ));
        if let Some(p) = t.side[0].first_data {
            self.evidence(
                p.at,
                Party::Client,
                cat!(
                    "the client's first data, ",
                    p.len,
                    " bytes, not in the capture"
                ),
                "the capture cut the payload (snaplen) or lost it",
            );
        }
        let first_data = t.side[0].first_data.map(|p| p.at.ts);
        let closer = earliest(
            self.close_of(Direction::ToServer),
            self.close_of(Direction::ToClient),
        )
        .filter(|c| first_data.is_some_and(|f| c.at.ts >= f));
        let mut shape = String::new();
        match (server.0, closer) {
            (0, Some(c)) => {
                // The headers still tell who ended it, when, and (TTL) from how far away.
                let by_client = c.dir == Direction::ToServer;
                // (Verb, noun, the packet.)
                let (how, noun, packet) = if c.flags.rst() {
                    ("reset", "reset", "RST")
                } else {
                    ("closed", "close", "FIN")
                };
                let after = first_data.map_or(0, |f| c.at.ts.since(f));
                let (mut ended, mut party) = if by_client {
                    (EndedBy::Client, Party::Client)
                } else {
                    (EndedBy::Server, Party::Server)
                };
                let mut forged = false;
                if !by_client {
                    let prov = provenance::check(t, &c);
                    for s in &prov.signals {
                        self.reason(cat!("the ", packet, ": ", s));
                    }
                    if prov.forged {
                        (ended, party, forged) = (EndedBy::Middlebox, Party::Middlebox, true);
                    }
                }
                self.v.ended_by = ended;
                self.decisive(&c);
                self.evidence(
                    c.at,
                    party,
                    self.packet_text(&c),
                    "how the connection ended",
                );
                self.reason(cat!(
                    "the server sent no byte; the ",
                    party.as_str(),
                    " ",
                    how,
                    " the connection ",
                    ms(after),
                    " after the client's first data"
                ));
                if forged {
                    self.v.candidates = vec![Cause::FirewallBlock];
                    shape = cat!(" The ", packet, " that ended it ", ms(after), " after the client's data was sent by a device in the path, not by the host that answered the SYN (see the reasons): that is a block, whatever the data was.");
                } else if !by_client {
                    self.v.candidates = vec![
                        Cause::FirewallBlock,
                        Cause::CipherMismatch,
                        Cause::VersionMismatch,
                    ];
                    shape = cat!(" The server side ", how, " the connection ", ms(after), " after the client's data without sending a byte: if that data was a ClientHello, this is a ", noun, " after the ClientHello, a block or a version or cipher mismatch, which only the ClientHello can tell apart.");
                }
            }
            (0, None) => self.reason("the server sent no byte"),
            (sent, _) => {
                self.reason(cat!(
                    "the server sent ",
                    sent,
                    " bytes, ",
                    server.1,
                    " of them missing from the capture"
                ));
            }
        }
        self.v.explanation = cat!(
            "TCP to ",
            Endpoint(t.server),
            " was accepted and the client sent ",
            client.0,
            " bytes, but ",
            client.1,
            " of them are missing from the capture (a snaplen too small for TLS, or lost packets), so whether this was TLS cannot be told, let alone judged.",
            shape,
            " ",
            WHOLE_PACKETS
        );
    }

    // ---- after the ClientHello -----------------------------------------------------------------

    fn after_client_hello(&mut self) {
        let t = self.i.tcp;
        let tls = self.i.tls;
        let ch = tls.client_hello();
        let (mut offer, segments, sni) = match (self.client_hello_event(), ch) {
            (Some(ch_ev), Some(ch)) => {
                let offer = offer::assess(ch);
                let found = t.segments_of(Direction::ToServer, ch_ev.event.start, ch_ev.event.end);
                let segments = found.count;
                let sni = ch.sni.as_deref();
                // "ClientHello (SNI x; <offer>; N bytes[ in K TCP segments])", in one string.
                let mut ch_what = String::with_capacity(offer.summary.len() + 96);
                ch_what.push_str("ClientHello (");
                match sni {
                    Some(s) => {
                        ch_what.push_str("SNI ");
                        ch_what.push_str(s);
                    }
                    None => ch_what.push_str("no SNI"),
                }
                cat_to!(ch_what, "; ", offer.summary, "; ", ch.message_len, " bytes");
                if segments > 1 {
                    cat_to!(ch_what, " in ", segments, " TCP segments");
                }
                ch_what.push(')');
                let ch_frame = found.last.unwrap_or(ch_ev.at);
                self.evidence(ch_frame, Party::Client, ch_what, "the client started TLS");
                if segments > 1 {
                    if let Some(f) = found.first {
                        self.evidence(
                            f,
                            Party::Client,
                            "first segment of the ClientHello",
                            "the ClientHello did not fit one TCP segment",
                        );
                    }
                }
                if ch.sslv2_format {
                    self.reason("the ClientHello used the SSLv2-compatible format");
                }
                (offer, segments, sni)
            }
            _ => {
                let Some(p) = self.cut_client_hello() else {
                    return;
                };
                let missed = t.stream_stats(Direction::ToServer).missed_bytes;
                let what = if missed > 0 {
                    cat!(
                        "ClientHello, cut by the capture (",
                        missed,
                        " bytes of the client's data were not kept)"
                    )
                } else {
                    "ClientHello that could not be parsed (malformed, or larger than --max-handshake-message)".to_string()
                };
                self.evidence(
                    p.at,
                    Party::Client,
                    what,
                    "the client started TLS; its record header says ClientHello",
                );
                if missed > 0 {
                    self.v.notes.push(
                        "the ClientHello was cut by the capture: capture with a larger snaplen (tcpdump -s 0) to see its SNI and offer"
                            .to_string(),
                    );
                }
                let why = if missed > 0 {
                    "the ClientHello was cut by the capture (snaplen or lost packets): its offer cannot be read"
                } else {
                    "the ClientHello could not be parsed (malformed, or over --max-handshake-message): its offer cannot be read"
                };
                (Offer::unreadable(why), 1, None)
            }
        };
        if let Some(sa) = t.syn_ack {
            self.evidence(
                sa.at,
                Party::Server,
                cat!("SYN-ACK from ", Endpoint(t.server), " (TTL ", sa.ttl, ")"),
                "TCP was accepted",
            );
        }
        for f in std::mem::take(&mut offer.facts) {
            self.reason(f);
        }

        // 1. Alerts (plaintext), whichever side came first.
        let complete = tls.progress() == HandshakeProgress::Complete;
        let alert_ev = self.first_event(|e| match &e.event.kind {
            TlsEventKind::Alert(a) => a.level == 2 || a.description == 0 || a.description == 90,
            TlsEventKind::EncryptedRecord {
                content_type: 21, ..
            } => true,
            _ => false,
        });
        let completed_at = self.i.completed.map(|(at, _)| at);
        if let Some(e) = alert_ev {
            if !complete || completed_at.is_none_or(|c| e.at <= c) {
                return self.alert(e, &offer, segments);
            }
        }
        // 2. Encrypted TLS 1.3 alerts (inferred).
        if let Some((dir, at)) = self.encrypted_alert(complete) {
            return self.encrypted_alert_verdict(dir, at, &offer);
        }
        if complete {
            return self.complete();
        }
        // 3. The server answered something that is not TLS. When the client spoke plaintext before its
        // ClientHello (STARTTLS, SSLRequest, SOCKS, CONNECT), server plaintext that began before the
        // ClientHello was part of that exchange, not an answer to the ClientHello.
        let ch_ev = self.client_hello_event();
        let ch_start = ch_ev.map_or(0, |e| e.event.start);
        let ch_at = ch_ev.map(|e| e.at);
        let plaintext_first = self.first_event(|e| {
            e.event.dir == Direction::ToServer
                && e.event.start < ch_start
                && matches!(
                    e.event.kind,
                    TlsEventKind::HttpRequest(_) | TlsEventKind::NotTls(_)
                )
        });
        if let Some(e) = self.first_event(|e| {
            e.event.dir == Direction::ToClient
                && matches!(
                    e.event.kind,
                    TlsEventKind::HttpResponse(_) | TlsEventKind::NotTls(_)
                )
                && !(plaintext_first.is_some()
                    && ch_at.is_some_and(|c| e.first.unwrap_or(e.at) <= c))
        }) {
            return self.not_tls_answer(e);
        }
        // 4. The server's hello came, then it ended.
        if tls.server_hello().is_some() || tls.hello_retry().is_some() {
            return self.after_server_hello();
        }
        // 5. The server answered, but the capture did not keep enough of it to read.
        if t.side[1].payload_bytes > 0 && self.missed(Direction::ToClient) > 0 {
            return self.answer_not_captured(&offer, sni);
        }
        // 6. No TLS byte from the server.
        self.no_server_answer(&offer, segments, sni);
    }

    /// The server sent bytes after the ClientHello, but the capture kept too few of them to read a
    /// ServerHello or an alert (a small snaplen, or lost packets): neither silence nor a judgement.
    fn answer_not_captured(&mut self, offer: &Offer, sni: Option<&str>) {
        let t = self.i.tcp;
        let sent = t.side[1].payload_bytes;
        let missing = self.missed(Direction::ToClient).min(sent);
        self.undetermined();
        // What the first bytes kept still say: a TLS record header's content type.
        let said = match t.first_bytes(Direction::ToClient).first() {
            Some(22) => "; its first record header says handshake (a ServerHello, most likely)",
            Some(21) => "; its first record header says alert",
            Some(23) => "; its first record header says application data",
            _ => "",
        };
        self.reason(cat!(
            "the server answered with ",
            sent,
            " bytes, ",
            missing,
            " of them missing from the capture: too few are left to read its answer",
            said
        ));
        if let Some(p) = t.side[1].first_data {
            self.evidence(
                p.at,
                Party::Server,
                cat!("the server's first data, ", p.len, " bytes"),
                "the server answered; the capture did not keep enough of it to read",
            );
        }
        self.v.explanation = cat!(
            "TCP to ",
            Endpoint(t.server),
            " was accepted, the ClientHello (",
            sni_text(sni, offer),
            ") was sent, and the server answered with ",
            sent,
            " bytes, but ",
            missing,
            " of them are missing from the capture (a snaplen too small for TLS, or lost packets), so the answer cannot be read and the handshake cannot be judged. ",
            WHOLE_PACKETS
        );
    }

    fn alert(&mut self, e: &TlsEventAt, offer: &Offer, segments: u32) {
        let tls = self.i.tls;
        let from_server = e.event.dir == Direction::ToClient;
        let party = if from_server {
            Party::Server
        } else {
            Party::Client
        };
        let (name, code, level) = match &e.event.kind {
            TlsEventKind::Alert(a) => (
                names::alert_name(a.description)
                    .map(str::to_string)
                    .unwrap_or_else(|| cat!("alert_", a.description)),
                Some(a.description),
                Some(a.level),
            ),
            _ => ("encrypted".to_string(), None, None),
        };
        self.v.alert = Some(AlertInfo {
            name: name.clone(),
            code,
            level,
            from: party,
        });
        self.decisive_at(e.at);
        // Before any ServerHello only if none was seen and none can hide in bytes the capture cut
        // from what the server sent before the alert.
        let server_cut = self.missed(Direction::ToClient) > 0;
        let before_sh = tls.server_hello().is_none()
            && tls.hello_retry().is_none()
            && !(server_cut && (!from_server || e.event.start > 0));
        let cert_req = self.first_event(|x| {
            x.event.dir == Direction::ToClient
                && matches!(x.event.kind, TlsEventKind::Handshake(13))
        });
        let level_text = match level {
            Some(2) => "fatal ",
            Some(1) => "warning ",
            _ => "",
        };
        let mut alert_text = cat!(level_text, "alert ", name);
        if let Some(c) = code {
            cat_to!(alert_text, " (", c, ")");
        }
        let what = cat!(alert_text, " from the ", party.as_str());
        let mut conf = Confidence::High;
        let (cause, advice): (Cause, String) = if from_server {
            match code {
                Some(40) | Some(71) if cert_req.is_some() => (Cause::ClientCertificateRequired, "The server asked for a client certificate (CertificateRequest) and rejected what it got: configure the client certificate.".to_string()),
                Some(40) | Some(71) if before_sh => {
                    let lack = if !offer.acceptable && offer.problem.is_none() {
                        "The capture cut the ClientHello, so which part of the offer failed cannot be told."
                    } else if offer.acceptable {
                        "The offer looks modern, so the server's configuration is narrower than usual (a specific suite, group or signature algorithm)."
                    } else {
                        "The offer lacks what current servers require."
                    };
                    (Cause::CipherMismatch, cat!("The server found no cipher suite, group or signature algorithm in common with the client's offer (", offer.summary, "). ", lack))
                }
                Some(70) => (Cause::VersionMismatch, cat!("The server does not accept any version the client offered (", offer.summary, "). Enable TLS 1.2/1.3 on the client (SChannel/.NET/OpenSSL settings).")),
                Some(112) => (Cause::SniRejected, cat!("The server does not serve the name the client asked for (", tls.client_hello().and_then(|c| c.sni.clone()).unwrap_or_else(|| "no SNI".to_string()), ").")),
                Some(116) | Some(42) | Some(43) | Some(44) | Some(45) | Some(46) | Some(48) if cert_req.is_some() || code == Some(116) => (Cause::ClientCertificateRequired, "The server requires a client certificate and did not get an acceptable one.".to_string()),
                Some(120) => (Cause::AlpnMismatch, "The server supports none of the application protocols (ALPN) the client offered.".to_string()),
                Some(80) => (Cause::ServerError, "The server failed internally while handling the handshake.".to_string()),
                Some(50) if segments > 1 => {
                    conf = Confidence::Medium;
                    self.v.candidates = vec![Cause::LargeClientHello, Cause::Unknown];
                    (Cause::LargeClientHello, cat!("The server could not decode a ClientHello that took ", segments, " TCP segments: it probably parsed only the first one."))
                }
                Some(40) | Some(71) => {
                    conf = Confidence::Medium;
                    self.v.candidates = vec![Cause::CipherMismatch, Cause::ClientCertificateRequired];
                    (Cause::Unknown, "The server aborted the handshake after its hello; the reason is not visible on the wire.".to_string())
                }
                _ => {
                    conf = Confidence::Medium;
                    (Cause::Unknown, "The server aborted the handshake.".to_string())
                }
            }
        } else {
            match code {
                Some(42..=46) | Some(48) | Some(49) => {
                    let issuer = self.issuer_note();
                    (
                        Cause::CertificateRejected,
                        cat!("The client rejected the server's certificate", issuer, "."),
                    )
                }
                Some(70) => (
                    Cause::VersionMismatch,
                    "The client refused the version the server chose.".to_string(),
                ),
                Some(40) | Some(47) if tls.hello_retry().is_some() => {
                    conf = Confidence::Medium;
                    (Cause::CipherMismatch, "After a HelloRetryRequest the client and server could not agree on a key-exchange group.".to_string())
                }
                Some(120) => (
                    Cause::AlpnMismatch,
                    "The client rejected the server's application protocol.".to_string(),
                ),
                Some(0) | Some(90) => {
                    conf = Confidence::Medium;
                    self.v.candidates = vec![Cause::CertificateRejected, Cause::Unknown];
                    (Cause::Unknown, "The client gave up on the handshake (close_notify/user_canceled before it finished).".to_string())
                }
                _ => {
                    conf = Confidence::Medium;
                    (
                        Cause::Unknown,
                        "The client aborted the handshake.".to_string(),
                    )
                }
            }
        };
        let outcome = if from_server {
            Outcome::ServerAlert
        } else {
            Outcome::ClientAlert
        };
        let mut ended = if from_server {
            EndedBy::Server
        } else {
            EndedBy::Client
        };
        // A plaintext alert from the server's address can be forged too (rare): check it.
        if from_server {
            if let Some(p) = self.packet_at(e.at) {
                let prov = provenance::check(self.i.tcp, &p);
                self.v.ttl_decisive = Some(p.ttl);
                for s in &prov.signals {
                    self.reason(cat!("the alert's packet: ", s));
                }
                if prov.forged {
                    ended = EndedBy::Middlebox;
                }
            }
        } else if let Some(p) = self.packet_at(e.at) {
            self.v.ttl_decisive = Some(p.ttl);
        }
        self.set(outcome, cause, ended, conf);
        let when = if before_sh {
            "in answer to the ClientHello, before any ServerHello"
        } else {
            "after the ServerHello"
        };
        self.evidence(
            e.at,
            party,
            what.clone(),
            cat!("a ", party.as_str(), " alert ", when),
        );
        if let Some(cr) = cert_req {
            self.evidence(
                cr.at,
                Party::Server,
                "CertificateRequest",
                "the server asked the client for a certificate",
            );
        }
        self.reason(cat!(what, " ", when));
        if let (Some(d), Some(ch)) = (self.v.decisive, self.client_hello_done_at()) {
            self.reason(cat!(ms(d.ts.since(ch)), " after the ClientHello"));
        }
        self.v.explanation = cat!(
            "The ",
            party.as_str(),
            " ended the handshake with ",
            alert_text,
            " ",
            when,
            ". ",
            advice
        );
    }

    /// Issuer of the server's certificate, as a phrase, with a TLS-inspection remark.
    fn issuer_note(&mut self) -> String {
        let certs = self.i.tls.certificates();
        let Some(leaf) = certs.first() else {
            return String::new();
        };
        let issuer = leaf
            .issuer_cn
            .clone()
            .unwrap_or_else(|| leaf.issuer.clone());
        if let Some(e) = self.first_event(|e| matches!(e.event.kind, TlsEventKind::Certificate(_)))
        {
            self.evidence(
                e.at,
                Party::Server,
                cat!(
                    "Certificate: subject ",
                    leaf.subject_cn
                        .clone()
                        .unwrap_or_else(|| leaf.subject.clone()),
                    ", issuer ",
                    issuer
                ),
                "the certificate the client was shown",
            );
        }
        self.reason(cat!(
            "the server certificate was issued by \"",
            leaf.issuer,
            "\""
        ));
        let inspection =
            inspection_vendor(&leaf.issuer) || certs.iter().any(|c| inspection_vendor(&c.issuer));
        if inspection {
            self.reason("that issuer name is typical of a TLS-inspection device, not a public CA");
            cat!(" issued by \"", issuer, "\", which looks like TLS inspection: bypass inspection for this name or trust that CA in the client")
        } else {
            cat!(" issued by \"", issuer, "\": the client does not trust that issuer (or the certificate is expired or for another name)")
        }
    }

    fn packet_at(&self, at: crate::tcp::FrameRef) -> Option<PacketFacts> {
        let t = self.i.tcp;
        // Only a few packets are remembered individually; build one from the ladder when possible.
        for side in &t.side {
            for p in [
                side.first_data,
                side.last_data,
                side.first_fin,
                side.first_rst,
                side.last_packet,
                side.first_packet,
            ]
            .into_iter()
            .flatten()
            {
                if p.at == at {
                    return Some(p);
                }
            }
        }
        t.ladder
            .rows()
            .find(|r| r.at == at && !r.duplicate)
            .map(|r| PacketFacts {
                at: r.at,
                dir: r.dir,
                flags: r.flags,
                seq: 0,
                ack: 0,
                len: r.len,
                ttl: r.ttl,
                ip_id: None,
                window: 0,
            })
    }

    /// A TLS 1.3 encrypted alert: an alert-sized application-data record that was the last thing a side
    /// sent before closing, while the handshake was unfinished (or, from the server, right after the
    /// client's Finished and before anything else).
    fn encrypted_alert(&self, complete: bool) -> Option<(Direction, crate::tcp::FrameRef)> {
        let tls = self.i.tls;
        tls.server_hello()?;
        let t = self.i.tcp;
        for dir in [Direction::ToServer, Direction::ToClient] {
            let stats = tls.stats(dir);
            let Some((start, ct, len)) = stats.last_record else {
                continue;
            };
            if ct != 23 || len > ALERT_SIZED {
                continue;
            }
            let side = &t.side[dir.index()];
            let closed = self.close_of(dir).is_some() || self.close_of(dir.reverse()).is_some();
            if !closed {
                continue;
            }
            if complete {
                // Only the server's single record after the client's Finished counts.
                let Some((_, server_records_then)) = self.i.completed else {
                    continue;
                };
                if dir != Direction::ToClient || stats.app_data_records != server_records_then + 1 {
                    continue;
                }
                // A normal close_notify answers the client's; an alert comes first.
                if let (Some(cc), Some(last)) = (self.close_of(Direction::ToServer), side.last_data)
                {
                    if cc.at < last.at {
                        continue;
                    }
                }
            } else if dir == Direction::ToServer {
                // The client's alert answers the server's flight: the server must have sent encrypted records.
                if tls.stats(Direction::ToClient).app_data_records == 0 {
                    continue;
                }
            }
            let at = self
                .events()
                .filter(|e| e.event.dir == dir && e.event.start == start)
                .map(|e| e.at)
                .next()
                .or_else(|| side.last_data.map(|p| p.at))?;
            return Some((dir, at));
        }
        None
    }

    fn encrypted_alert_verdict(&mut self, dir: Direction, at: crate::tcp::FrameRef, offer: &Offer) {
        let from_server = dir == Direction::ToClient;
        let party = if from_server {
            Party::Server
        } else {
            Party::Client
        };
        self.v.alert = Some(AlertInfo {
            name: "encrypted".to_string(),
            code: None,
            level: None,
            from: party,
        });
        self.decisive_at(at);
        if let Some(p) = self.packet_at(at) {
            self.v.ttl_decisive = Some(p.ttl);
        }
        let len = self.i.tls.stats(dir).last_record.map_or(0, |r| r.2);
        let what = cat!(
            "encrypted alert from the ",
            party.as_str(),
            " (",
            len,
            "-byte application_data record)"
        );
        let why = cat!("TLS 1.3 encrypts alerts after the ServerHello; a ", len, "-byte record (2 alert bytes + 1 type byte + 16-byte tag) right before the close is an alert, not data");
        self.evidence(at, party, what, why.clone());
        self.reason(why);
        let _ = offer;
        if from_server {
            self.set(
                Outcome::ServerAlert,
                Cause::Unknown,
                EndedBy::Server,
                Confidence::Medium,
            );
            self.v.candidates = vec![Cause::ClientCertificateRequired, Cause::Unknown];
            self.reason("the alert's code is encrypted; after the client's Finished the usual reason is a missing or rejected client certificate");
            self.v.explanation = "The server sent an encrypted alert and closed the connection during the TLS 1.3 handshake. The alert's code is encrypted, so the reason cannot be read; a server rejecting the client's certificate (or the lack of one) does exactly this.".to_string();
        } else {
            let issuer = self.issuer_note();
            let certs_seen = !self.i.tls.certificates().is_empty();
            self.set(
                Outcome::ClientAlert,
                Cause::CertificateRejected,
                EndedBy::Client,
                Confidence::Medium,
            );
            self.v.candidates = vec![Cause::CertificateRejected, Cause::Unknown];
            self.reason("in TLS 1.3 the client's first encrypted record answers the server's Certificate; an alert there is almost always a certificate rejection (unknown_ca, bad_certificate, certificate_expired)");
            let detail = if certs_seen {
                issuer
            } else {
                " (TLS 1.3 hides the certificate; a TLS-inspection device or an untrusted or expired certificate is the usual cause)".to_string()
            };
            self.v.explanation = cat!("The client received the server's encrypted TLS 1.3 flight, answered with an encrypted alert instead of its Finished, and closed: it rejected the server's certificate", detail, ".");
        }
    }

    fn complete(&mut self) {
        let tls = self.i.tls;
        self.set(
            Outcome::HandshakeComplete,
            Cause::None,
            EndedBy::None,
            Confidence::High,
        );
        let version = tls.version().map(names::version_name).unwrap_or_default();
        let suite = tls
            .server_hello()
            .map(|s| offer::suite(s.cipher_suite))
            .unwrap_or_default();
        if let Some(at) = self.i.completed.map(|c| c.0) {
            let from_server = self
                .packet_at(at)
                .is_some_and(|p| p.dir == Direction::ToClient);
            let (party, what) = if from_server {
                (
                    Party::Server,
                    "the server's Finished (the last message of the handshake)",
                )
            } else {
                (
                    Party::Client,
                    "the client's Finished (the last message of the handshake)",
                )
            };
            self.evidence(at, party, what, "both sides finished the handshake");
            self.decisive_at(at);
        }
        if let Some(e) = self.first_event(|e| {
            e.event.dir == Direction::ToClient
                && matches!(e.event.kind, TlsEventKind::ServerHello(_))
        }) {
            self.evidence(
                e.at,
                Party::Server,
                cat!("ServerHello: ", version, ", ", suite),
                "the server accepted the offer",
            );
        }
        if tls.hello_retry().is_some() {
            self.reason("the server first asked for another key share (HelloRetryRequest)");
        }
        self.reason(cat!(
            version,
            " with ",
            suite,
            " was negotiated and both sides finished"
        ));
        let via = self
            .v
            .proxy_target
            .as_ref()
            .map(|t| {
                cat!(
                    " through the proxy ",
                    Endpoint(self.i.tcp.server),
                    " (CONNECT ",
                    t,
                    ")"
                )
            })
            .unwrap_or_default();
        self.v.explanation = cat!(
            "The TLS handshake completed",
            via,
            ": ",
            version,
            ", ",
            suite,
            "."
        );
        self.after_handshake();
    }

    /// How the connection ended once its handshake completed: the first FIN or RST, who sent it,
    /// and the silence before it. A reset from the server side after an idle period, or one the
    /// server did not send, is said in the explanation and cited as evidence; other ends are
    /// recorded only (`after_handshake`).
    fn after_handshake(&mut self) {
        let t = self.i.tcp;
        let close = earliest(
            self.close_of(Direction::ToServer),
            self.close_of(Direction::ToClient),
        );
        let Some(c) = close else {
            self.v.after_handshake = Some(AfterHandshake {
                ended: Ending::Open,
                by: None,
                at: None,
                after_ns: None,
                idle_ns: None,
                finding: None,
            });
            return;
        };
        let reset = c.flags.rst();
        let from_server = c.dir == Direction::ToClient;
        let prov = (from_server && reset).then(|| provenance::check(t, &c));
        let forged = prov.as_ref().is_some_and(|p| p.forged);
        let by = match (from_server, forged) {
            (false, _) => Party::Client,
            (true, false) => Party::Server,
            (true, true) => Party::Middlebox,
        };
        let after_ns = self.i.completed.map(|(at, _)| c.at.ts.since(at.ts));
        let idle_ns = self.idle_before(&c);
        let finding = if !reset || !from_server {
            None
        } else if idle_ns.is_some_and(|n| n >= IDLE_RESET_MIN_NS) {
            Some(AfterFinding::IdleReset)
        } else if forged {
            Some(AfterFinding::MiddleboxReset)
        } else {
            None
        };
        self.v.after_handshake = Some(AfterHandshake {
            ended: if reset { Ending::Reset } else { Ending::Closed },
            by: Some(by),
            at: Some(c.at),
            after_ns,
            idle_ns,
            finding,
        });
        let Some(finding) = finding else { return };
        let who = match by {
            Party::Middlebox => "a middlebox (not the server)",
            _ => "the server side (the server, or a device answering in its name)",
        };
        let later = after_ns
            .map(|n| cat!(", ", ms(n), " after the handshake"))
            .unwrap_or_default();
        if let Some(p) = &prov {
            for s in &p.signals {
                self.reason(cat!("the reset after the handshake: ", s));
            }
        }
        match finding {
            AfterFinding::IdleReset => {
                let idle = ms(idle_ns.unwrap_or_default());
                let azfw = if idle_ns.unwrap_or_default() >= AZFW_IDLE_NS {
                    " The silence lasted at least 4 minutes, Azure Firewall's TCP idle timeout."
                } else {
                    ""
                };
                self.reason(cat!(
                    "after the handshake, ",
                    who,
                    " reset the connection after ",
                    idle,
                    " without a packet",
                    later
                ));
                self.evidence(
                    c.at,
                    by,
                    self.packet_text(&c),
                    cat!(
                        "reset after ",
                        idle,
                        " of silence: the path forgot the idle connection"
                    ),
                );
                cat_to!(
                    self.v.explanation,
                    " Later, after ",
                    idle,
                    " without a packet, ",
                    who,
                    " reset the connection",
                    later,
                    ": it had forgotten the idle connection, as firewalls, NAT gateways and load balancers in the path do (Azure Firewall resets TCP flows idle for 4 minutes).",
                    azfw,
                    " TCP keep-alives more frequent than the path's idle timeout keep such a connection open."
                );
            }
            AfterFinding::MiddleboxReset => {
                self.reason(cat!(
                    "after the handshake, a reset the server did not send arrived",
                    later
                ));
                self.evidence(
                    c.at,
                    by,
                    self.packet_text(&c),
                    "reset forged by a device in the path after the handshake",
                );
                cat_to!(
                    self.v.explanation,
                    " Later a middlebox reset the connection",
                    later,
                    ": the reset carries the server's address, but the server did not send it."
                );
            }
        }
    }

    /// The silence before `c`: the gap to the packet before it, or, when `c` is a reset that
    /// answered the other side's packet within [`ANSWER_WITHIN_NS`], the gap before that packet
    /// (a path that forgot a flow answers its next packet with a reset).
    fn idle_before(&self, c: &PacketFacts) -> Option<u64> {
        let [p1, p2] = self.i.tcp.ladder.before(c.at);
        let p1 = p1?;
        let answers =
            c.flags.rst() && p1.dir != c.dir && c.at.ts.since(p1.at.ts) <= ANSWER_WITHIN_NS;
        if answers {
            Some(p1.at.ts.since(p2?.at.ts))
        } else {
            Some(c.at.ts.since(p1.at.ts))
        }
    }

    fn not_tls_answer(&mut self, e: &TlsEventAt) {
        self.decisive_at(e.at);
        if let Some(p) = self.packet_at(e.at) {
            self.v.ttl_decisive = Some(p.ttl);
        }
        match &e.event.kind {
            TlsEventKind::HttpResponse(_) => {
                let r = self
                    .i
                    .tls
                    .http_response()
                    .cloned()
                    .or_else(|| match &e.event.kind {
                        TlsEventKind::HttpResponse(r) => Some(HttpResponse::clone(r)),
                        _ => None,
                    });
                let Some(r) = r else { return };
                self.v.http_status = Some(r.status);
                if let Some(why) = deny_page(&r) {
                    self.set(
                        Outcome::HttpBlocked,
                        Cause::FirewallBlock,
                        EndedBy::Server,
                        Confidence::High,
                    );
                    self.evidence(
                        e.at,
                        Party::Server,
                        cat!("\"", r.status_line, "\" instead of a ServerHello"),
                        why,
                    );
                    self.reason(cat!(
                        "the ClientHello was answered with \"",
                        r.status_line,
                        "\""
                    ));
                    self.reason(why);
                    self.v.explanation = cat!(
                        "The ClientHello was answered with an HTTP deny page (\"",
                        r.status_line,
                        "\") instead of a ServerHello: a firewall or proxy in the path blocked it."
                    );
                } else {
                    self.set(
                        Outcome::ServerNotTls,
                        Cause::NotTls,
                        EndedBy::Server,
                        Confidence::High,
                    );
                    self.evidence(
                        e.at,
                        Party::Server,
                        cat!("\"", r.status_line, "\" instead of a ServerHello"),
                        "the server speaks plain HTTP on this port",
                    );
                    self.reason(cat!(
                        "the ClientHello was answered with \"",
                        r.status_line,
                        "\""
                    ));
                    self.v.explanation = cat!(
                        "The server at ",
                        Endpoint(self.i.tcp.server),
                        " speaks plain HTTP, not TLS: it answered the ClientHello with \"",
                        r.status_line,
                        "\". Use http:// or the right port."
                    );
                }
            }
            TlsEventKind::NotTls(n) if n.looks_like == "SSLv2 ServerHello" => {
                self.set(
                    Outcome::HandshakeComplete,
                    Cause::None,
                    EndedBy::None,
                    Confidence::Medium,
                );
                self.evidence(
                    e.at,
                    Party::Server,
                    "SSLv2 ServerHello",
                    "the server answered in SSL 2.0",
                );
                self.reason("the server answered with an SSL 2.0 ServerHello; SSL 2.0 handshakes are not followed further");
                self.v.explanation = cat!("The server at ", Endpoint(self.i.tcp.server), " negotiated SSL 2.0, a protocol broken since 1996 (RFC 6176 forbids it): the connection went ahead, but no current client should accept it.");
                self.after_handshake();
            }
            TlsEventKind::NotTls(n) => {
                self.set(
                    Outcome::ServerNotTls,
                    Cause::NotTls,
                    EndedBy::Server,
                    Confidence::High,
                );
                self.evidence(
                    e.at,
                    Party::Server,
                    cat!(n.looks_like, ": \"", n.excerpt, "\""),
                    "the server answered with bytes that are not TLS",
                );
                self.reason(cat!(
                    "the server answered with ",
                    n.looks_like,
                    " instead of a ServerHello"
                ));
                self.v.explanation = cat!(
                    "The server at ",
                    Endpoint(self.i.tcp.server),
                    " does not speak TLS on this port: it answered the ClientHello with ",
                    n.looks_like,
                    " (\"",
                    n.excerpt,
                    "\")."
                );
            }
            _ => {}
        }
    }

    fn after_server_hello(&mut self) {
        let tls = self.i.tls;
        let t = self.i.tcp;
        if let Some(e) = self.first_event(|e| {
            e.event.dir == Direction::ToClient
                && matches!(e.event.kind, TlsEventKind::ServerHello(_))
        }) {
            let (what, why) = match &e.event.kind {
                TlsEventKind::ServerHello(sh) if sh.hello_retry_request => (
                    cat!(
                        "HelloRetryRequest (group ",
                        sh.key_share_group.map(offer::group).unwrap_or_default(),
                        ")"
                    ),
                    "the server asked for another key share",
                ),
                TlsEventKind::ServerHello(sh) => (
                    cat!(
                        "ServerHello: ",
                        names::version_name(sh.version()),
                        ", ",
                        offer::suite(sh.cipher_suite)
                    ),
                    "the server accepted the offer",
                ),
                _ => (String::new(), ""),
            };
            self.evidence(e.at, Party::Server, what, why);
        }
        if let Some(e) = self.first_event(|e| matches!(e.event.kind, TlsEventKind::Certificate(_)))
        {
            if let Some(leaf) = tls.certificates().first() {
                self.evidence(
                    e.at,
                    Party::Server,
                    cat!(
                        "Certificate: subject ",
                        leaf.subject_cn
                            .clone()
                            .unwrap_or_else(|| leaf.subject.clone()),
                        ", issuer ",
                        leaf.issuer_cn
                            .clone()
                            .unwrap_or_else(|| leaf.issuer.clone())
                    ),
                    "the certificate the client was shown",
                );
            }
        }
        let close = earliest(
            self.close_of(Direction::ToServer),
            self.close_of(Direction::ToClient),
        );
        let Some(c) = close else {
            let waited = self.i.capture_end.since(t.last.ts);
            self.set(
                Outcome::InProgress,
                Cause::Unknown,
                EndedBy::None,
                Confidence::Low,
            );
            self.reason(cat!(
                "the server's hello arrived; the capture ended ",
                ms(waited),
                " after the last packet"
            ));
            self.v.explanation =
                "The server's hello arrived, then the capture ended before the handshake finished."
                    .to_string();
            return;
        };
        self.decisive(&c);
        let by_client = c.dir == Direction::ToServer;
        let kind = if c.flags.rst() { "reset" } else { "closed" };
        let mut ended = if by_client {
            EndedBy::Client
        } else {
            EndedBy::Server
        };
        let mut party = if by_client {
            Party::Client
        } else {
            Party::Server
        };
        if !by_client {
            let prov = provenance::check(t, &c);
            for s in &prov.signals {
                self.reason(cat!("the ", kind, ": ", s));
            }
            if prov.forged {
                ended = EndedBy::Middlebox;
                party = Party::Middlebox;
            }
        }
        self.evidence(
            c.at,
            party,
            self.packet_text(&c),
            cat!(
                "the ",
                party.as_str(),
                " ",
                kind,
                " the connection with no alert"
            ),
        );
        self.set(
            Outcome::AbortedAfterServerHello,
            Cause::Unknown,
            ended,
            Confidence::Medium,
        );
        let hrr = tls.hello_retry().is_some() && tls.server_hello().is_none();
        if by_client && !tls.certificates().is_empty() {
            self.v.candidates = vec![Cause::CertificateRejected, Cause::Unknown];
            let issuer = self.issuer_note();
            self.reason("clients that validate the certificate after the handshake (Windows SChannel, .NET) close without an alert");
            self.v.explanation = cat!(
                "The server's hello and certificate arrived, then the client ",
                kind,
                " the connection without an alert: it most likely rejected the certificate",
                issuer,
                "."
            );
        } else if hrr {
            self.v.candidates = vec![Cause::CipherMismatch, Cause::Unknown];
            self.reason("the server sent a HelloRetryRequest and the client did not send a second ClientHello");
            self.v.explanation = cat!(
                "The server asked for another key share (HelloRetryRequest) and the ",
                party.as_str(),
                " then ",
                kind,
                " the connection: the client could not or would not offer that group."
            );
        } else {
            self.v.candidates = vec![
                Cause::FirewallBlock,
                Cause::CertificateRejected,
                Cause::Unknown,
            ];
            self.v.explanation = cat!("The server's hello arrived, then the ", party.as_str(), " ", kind, " the connection ", self.v.client_hello_to_decisive_ns.map(|n| ms(n).to_string()).unwrap_or_default(), " after the ClientHello, without any alert. A device that blocks on the certificate, or an endpoint that failed, does this; the wire does not say which.");
        }
        self.reason(cat!(
            "the ",
            party.as_str(),
            " ",
            kind,
            " the connection after the server's hello, with no alert"
        ));
    }

    fn no_server_answer(&mut self, offer: &Offer, segments: u32, sni: Option<&str>) {
        let t = self.i.tcp;
        let ch_at = self.client_hello_done_at().unwrap_or(t.first.ts);
        let server_close = self.close_of(Direction::ToClient);
        let client_close = self.close_of(Direction::ToServer);
        let ch_end = match self.client_hello_event() {
            Some(e) => e.event.end,
            None => self.cut_client_hello().map_or(0, |p| u64::from(p.len)),
        };
        let acked = t.first_ack_covering(Direction::ToServer, ch_end);
        if let Some(a) = acked {
            self.evidence(
                a,
                Party::Server,
                "ACK of the whole ClientHello",
                "the peer received the ClientHello (TCP level)",
            );
        }
        let server_first = match (server_close, client_close) {
            (Some(s), Some(c)) => s.at <= c.at,
            (Some(_), None) => true,
            _ => false,
        };
        let (outcome, decisive) = if server_first {
            let Some(s) = server_close else { return };
            (
                if s.flags.rst() {
                    Outcome::ResetAfterClientHello
                } else {
                    Outcome::ClosedAfterClientHello
                },
                Some(s),
            )
        } else {
            let waited =
                client_close.map_or(self.i.capture_end.since(ch_at), |c| c.at.ts.since(ch_at));
            if client_close.is_none() && waited < self.cfg.quiet_ns {
                self.set(
                    Outcome::InProgress,
                    Cause::Unknown,
                    EndedBy::None,
                    Confidence::Low,
                );
                self.reason(cat!(
                    "the capture ended ",
                    ms(waited),
                    " after the ClientHello, with no answer yet"
                ));
                self.v.explanation = cat!(
                    "The ClientHello was sent ",
                    ms(waited),
                    " before the capture ended; no answer had arrived yet."
                );
                return;
            }
            (Outcome::SilenceAfterClientHello, client_close)
        };
        // Who ended it.
        let mut ended = EndedBy::None;
        let mut party = Party::Server;
        let mut forged = false;
        if let Some(d) = decisive {
            self.decisive(&d);
            if outcome == Outcome::SilenceAfterClientHello {
                party = Party::Client;
                let waited = d.at.ts.since(ch_at);
                self.evidence(
                    d.at,
                    Party::Client,
                    self.packet_text(&d),
                    cat!(
                        "the client gave up after ",
                        ms(waited),
                        " without a single byte from the server"
                    ),
                );
                self.reason(cat!(
                    "nothing came back from the server for ",
                    ms(waited),
                    "; then the client closed"
                ));
            } else {
                let prov = provenance::check(t, &d);
                forged = prov.forged;
                for s in &prov.signals {
                    self.reason(cat!(
                        "the ",
                        if d.flags.rst() { "reset" } else { "FIN" },
                        ": ",
                        s
                    ));
                }
                ended = if forged {
                    EndedBy::Middlebox
                } else {
                    EndedBy::Server
                };
                party = if forged {
                    Party::Middlebox
                } else {
                    Party::Server
                };
                if self.v.proxy_target.is_some() && !forged {
                    ended = EndedBy::Proxy;
                    party = Party::Proxy;
                }
                let kind = if d.flags.rst() { "reset" } else { "closed" };
                self.evidence(
                    d.at,
                    party,
                    self.packet_text(&d),
                    cat!(
                        "the ",
                        party.as_str(),
                        " ",
                        kind,
                        " the connection ",
                        ms(d.at.ts.since(ch_at)),
                        " after the ClientHello with no TLS byte"
                    ),
                );
                self.reason(cat!(
                    "the server side ",
                    kind,
                    " the connection ",
                    ms(d.at.ts.since(ch_at)),
                    " after the ClientHello without sending any TLS byte"
                ));
            }
        } else {
            let waited = self.i.capture_end.since(ch_at);
            self.reason(cat!(
                "nothing came back from the server for ",
                ms(waited),
                " (until the end of the capture)"
            ));
            // The last thing on the wire: the client's last (re)transmission, still unanswered.
            if let Some(last) = t.side[0].last_data {
                self.decisive(&last);
                let retrans = t.stream_stats(Direction::ToServer).retransmissions > 0;
                self.evidence(
                    last.at,
                    Party::Client,
                    self.packet_text(&last),
                    cat!(
                        "the client's last ",
                        if retrans { "retransmission" } else { "data" },
                        "; the capture went on ",
                        ms(self.i.capture_end.since(last.at.ts)),
                        " with nothing from the server"
                    ),
                );
            }
        }
        if outcome == Outcome::SilenceAfterClientHello {
            let retrans = t.stream_stats(Direction::ToServer).retransmissions;
            if retrans > 0 {
                self.reason(cat!("the client retransmitted ", retrans, " time(s)"));
            }
            if acked.is_none() {
                self.reason("the ClientHello was never acknowledged: it was dropped on the way, or the peer is gone");
            } else {
                self.reason("the ClientHello was acknowledged at the TCP level but never answered");
            }
        }
        // Why.
        let multi = segments > 1;
        let (cause, conf) = if multi
            && outcome != Outcome::ClosedAfterClientHello
            && offer.acceptable
        {
            self.v.candidates = vec![Cause::LargeClientHello, Cause::FirewallBlock];
            self.reason(cat!("the ClientHello needed ", segments, " TCP segments; devices and servers that read only the first segment fail exactly like this (tldr.fail)"));
            (Cause::LargeClientHello, Confidence::Medium)
        } else if !offer.acceptable && offer.problem.is_none() {
            self.v.candidates = vec![
                Cause::FirewallBlock,
                Cause::CipherMismatch,
                Cause::VersionMismatch,
            ];
            self.reason("the offer is unreadable, so a block cannot be told from a mismatch");
            (Cause::Unknown, Confidence::Low)
        } else if let Some(p) = offer.problem {
            self.v.candidates = vec![p, Cause::FirewallBlock];
            self.reason("servers such as Windows SChannel reset or close without an alert when the offer is unacceptable");
            (p, Confidence::Medium)
        } else {
            self.reason("the offer is one any current server accepts, so this is not a cipher or version mismatch");
            if sni.is_none() {
                self.reason("the ClientHello has no SNI: SNI filters (Azure Firewall: \"SNI TLS extension was missing\") deny such connections");
            }
            let conf = if forged || outcome != Outcome::SilenceAfterClientHello {
                Confidence::High
            } else {
                Confidence::Medium
            };
            if outcome == Outcome::SilenceAfterClientHello {
                self.v.candidates = vec![Cause::FirewallBlock, Cause::Unknown];
            }
            (Cause::FirewallBlock, conf)
        };
        self.set(outcome, cause, ended, conf);
        let _ = party;
        self.explain_no_answer(outcome, cause, forged, segments, sni, offer);
    }

    fn explain_no_answer(
        &mut self,
        outcome: Outcome,
        cause: Cause,
        forged: bool,
        segments: u32,
        sni: Option<&str>,
        offer: &Offer,
    ) {
        let t = self.i.tcp;
        // One string, written in place: every connection without an answer gets this sentence.
        let mut x = String::with_capacity(512);
        let sni_text = sni_text(sni, offer);
        let delay = self.v.client_hello_to_decisive_ns.map(ms);
        let ended = match outcome {
            Outcome::ResetAfterClientHello => Some("reset"),
            Outcome::ClosedAfterClientHello => Some("closed"),
            _ => None,
        };
        match ended {
            Some(how) => {
                x.push_str("TCP was accepted, the ClientHello (");
                x.push_str(&sni_text);
                x.push_str(") was sent, and the connection was ");
                x.push_str(how);
                match delay {
                    Some(d) => {
                        cat_to!(x, " ", d, " later with no TLS bytes.");
                    }
                    // No ClientHello time to measure from: no duration.
                    None => x.push_str(" with no TLS bytes."),
                }
            }
            None => {
                x.push_str("TCP was accepted and the ClientHello (");
                x.push_str(&sni_text);
                x.push_str(") was sent, but no byte came back");
                if let Some(d) = delay {
                    cat_to!(x, " before the client gave up ", d, " later");
                }
                x.push('.');
            }
        }
        if forged {
            let (ttl, ref_ttl) = (self.v.ttl_decisive, t.syn_ack.map(|s| s.ttl));
            match (ttl, ref_ttl) {
                (Some(a), Some(b)) if a != b => {
                    cat_to!(
                        x,
                        " The packet carries TTL ",
                        a,
                        " while the SYN-ACK carried ",
                        b,
                        ": it was sent by a device in the path, not the server."
                    );
                }
                _ => x.push_str(
                    " The packet cannot have come from the server: a device in the path sent it.",
                ),
            }
        } else if matches!(
            outcome,
            Outcome::ResetAfterClientHello | Outcome::ClosedAfterClientHello
        ) && cause == Cause::FirewallBlock
        {
            x.push_str(" It came from the host that answered the SYN; a transparent proxy such as Azure Firewall (application rules) answers the SYN itself, so it is that proxy or the server.");
        }
        match cause {
            Cause::FirewallBlock => {
                x.push_str(" The ClientHello offered ");
                x.push_str(&offer.summary);
                x.push_str(", so this is a block (on the SNI or destination), not a cipher mismatch: check the firewall's application rules and logs for ");
                x.push_str(sni.unwrap_or("this destination"));
                x.push('.');
            }
            Cause::LargeClientHello => {
                cat_to!(x, " The ClientHello took ", segments, " TCP segments; a device or server that reads only the first one fails like this (tldr.fail). Retry with post-quantum key shares disabled, or update the device.");
            }
            Cause::VersionMismatch => x.push_str(" The client offered only versions older than TLS 1.2, and servers like Windows SChannel reset instead of alerting: enable TLS 1.2 on the client."),
            Cause::CipherMismatch => x.push_str(" The client offered no modern cipher suite, and servers like Windows SChannel reset instead of alerting: enable ECDHE with AES-GCM on the client."),
            _ => {}
        }
        self.v.explanation = x;
    }
}

#[cfg(test)]
mod tests {
    use super::Ms;
    use std::fmt;

    /// `Ms` through the float path only.
    struct Float(Ms);
    impl fmt::Display for Float {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.float_text(f)
        }
    }

    #[test]
    fn duration_text_equals_float_formatting() {
        let mut values: Vec<u64> = Vec::new();
        // Around every unit boundary and rounding point, in every range.
        for base in [
            0u64,
            1_000,
            999_500,
            1_000_000,
            9_950_000,
            10_000_000,
            999_500_000,
        ] {
            for d in 0..2_000 {
                values.push(base + d);
                values.push(base.saturating_sub(d));
            }
        }
        for unit in [1_000u64, 100_000, 1_000_000, 10_000_000] {
            for k in 1..3_000u64 {
                let tie = k * unit + unit / 2;
                values.extend([tie - 1, tie, tie + 1, k * unit]);
            }
        }
        // And a spread over 13 days (splitmix64).
        let mut z = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^= x >> 31;
            values.push(x >> (14 + (x % 50)));
        }
        values.extend([u64::MAX, 1 << 50, (1 << 50) - 1, 1 << 53]);
        for ns in values {
            let float = Float(Ms(ns)).to_string();
            assert_eq!(Ms(ns).to_string(), float, "{ns} ns");
            assert_eq!(super::cat!(Ms(ns)), float, "{ns} ns, appended in place");
        }
    }
}
