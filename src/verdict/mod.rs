//! Verdicts: exactly one [`Outcome`] per connection, a [`Cause`], who ended it ([`EndedBy`]), and the
//! [`Evidence`] (frames, times, who sent them, why they matter) that a reader can check in Wireshark.
//!
//! The rules are pure functions of the facts the lower layers recorded ([`ConnInput`]); they are in
//! [`rules`], the offer assessment (is this ClientHello acceptable to a modern server?) in [`offer`],
//! and the "was this packet really from the server?" checks in [`provenance`].

pub mod endpoints;
pub mod offer;
pub mod provenance;
pub mod rules;
mod text;
pub mod vocabulary;

pub use rules::judge;
pub use vocabulary::{
    AfterFinding, Cause, Confidence, EndedBy, Ending, Outcome, OutcomeClass, Party,
};

use std::borrow::Cow;

use crate::capture::Timestamp;
use crate::decode::IcmpError;
use crate::tcp::{FrameRef, TcpConn};
use crate::tls::{TlsEvent, TlsSession};

/// A TLS event and the packets it came in: `first` carried its first byte (when still known),
/// `at` completed it.
#[derive(Clone, Debug)]
pub struct TlsEventAt {
    pub event: TlsEvent,
    pub first: Option<FrameRef>,
    pub at: FrameRef,
}

/// Everything the rules look at for one connection.
#[derive(Clone, Copy)]
pub struct ConnInput<'a> {
    pub tcp: &'a TcpConn,
    pub tls: &'a TlsSession,
    /// TLS events in order (bounded; see `events_dropped`).
    pub events: &'a [TlsEventAt],
    pub events_dropped: u64,
    /// The first ICMP error quoting this connection.
    pub icmp: Option<&'a (FrameRef, IcmpError)>,
    /// When the handshake became complete, and how many application-data records the server had sent then.
    pub completed: Option<(FrameRef, u64)>,
    /// Time of the last packet of the whole input.
    pub capture_end: Timestamp,
}

/// Tunables of the rules.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Nothing from the server for this long after a ClientHello (or a SYN) counts as silence rather
    /// than a handshake still in progress when the capture ends.
    pub quiet_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            quiet_ns: 2_000_000_000,
        }
    }
}

/// One piece of evidence: a packet and what it proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub at: FrameRef,
    /// Who sent it.
    pub from: Party,
    /// What the packet is ("RST from 198.51.100.20:443, TTL 64"). Most texts are fixed: borrowed,
    /// not copied.
    pub what: Cow<'static, str>,
    /// Why it matters for the verdict.
    pub why: Cow<'static, str>,
}

/// The alert that decided the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertInfo {
    /// RFC name (`handshake_failure`), or `encrypted` when it was inferred from an encrypted record.
    pub name: String,
    /// The alert code when it was plaintext.
    pub code: Option<u8>,
    /// 1 warning, 2 fatal (plaintext only).
    pub level: Option<u8>,
    pub from: Party,
}

/// The judgement of one connection.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub outcome: Outcome,
    pub cause: Cause,
    pub ended_by: EndedBy,
    pub confidence: Confidence,
    /// One or two sentences a person understands.
    pub explanation: String,
    /// Why each rule fired, in order, so a reader can check them.
    pub reasons: Vec<String>,
    /// With `cause: unknown` (or a medium/low cause): the other causes the evidence allows.
    pub candidates: Vec<Cause>,
    pub alert: Option<AlertInfo>,
    pub http_status: Option<u16>,
    /// The decisive packets, in time order.
    pub evidence: Vec<Evidence>,
    /// What could not be seen (capture started late, bytes lost, limits hit).
    pub notes: Vec<String>,
    /// The packet that decided the outcome.
    pub decisive: Option<FrameRef>,
    /// SYN to SYN-ACK.
    pub syn_ack_rtt_ns: Option<u64>,
    /// ClientHello (its last segment) to the decisive packet.
    pub client_hello_to_decisive_ns: Option<u64>,
    /// TTL / hop limit of the client's SYN, the SYN-ACK and the decisive packet.
    pub ttl_client: Option<u8>,
    pub ttl_syn_ack: Option<u8>,
    pub ttl_decisive: Option<u8>,
    /// The explicit proxy (`CONNECT` target) the connection went through, if any.
    pub proxy_target: Option<String>,
    /// How the connection ended after its handshake completed (`handshake_complete` only).
    pub after_handshake: Option<AfterHandshake>,
    /// The name the client asked for: the ClientHello's SNI, else the `CONNECT` target, else a
    /// plain HTTP request's `Host`. Kept by
    /// [`Verdict::release_text`]: the summary counts connections per server with it.
    pub server_name: Option<String>,
    /// The agent endpoint `server_name` is ([`endpoints::lookup`]).
    pub endpoint: Option<endpoints::Match>,
    /// The connection's plain HTTP request fetched a certificate, a CRL or an OCSP answer (a
    /// revocation check or a chain download: [`endpoints::is_pki_fetch`]).
    pub pki_fetch: bool,
}

/// How a connection whose handshake completed ended afterwards: the first FIN or RST, who sent
/// it, after how long, and after how much silence. The outcome stays `handshake_complete` (the
/// handshake did complete); a reset that the path, not the endpoints, decided is a [`AfterFinding`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfterHandshake {
    pub ended: Ending,
    /// Who sent the first FIN or RST: the client, the server side, or a middlebox when the
    /// reset's provenance says the server did not send it. `None` when the connection stayed open.
    pub by: Option<Party>,
    /// That FIN or RST.
    pub at: Option<FrameRef>,
    /// From the handshake's last message to that FIN or RST.
    pub after_ns: Option<u64>,
    /// The silence before it: the gap to the packet before it, or, for a reset that answered the
    /// other side's packet within a second, the gap before that packet. `None` when the packets
    /// before it were not kept (a long connection keeps its first 64 and last 12).
    pub idle_ns: Option<u64>,
    pub finding: Option<AfterFinding>,
}

impl Verdict {
    /// Failed, or completed and then reset by the path ([`AfterFinding`]): what the evidence
    /// pcapng and the HTML report's details take without `--evidence-all`.
    pub fn needs_evidence(&self) -> bool {
        self.outcome.class() == OutcomeClass::Failed || self.after_finding().is_some()
    }

    /// Completed, and not reset by the path afterwards: what the text report and `live` print
    /// only with `--all`.
    pub fn healthy(&self) -> bool {
        self.outcome.class() == OutcomeClass::Ok && self.after_finding().is_none()
    }

    /// What the end of a completed connection says, when it says something ([`AfterFinding`]).
    pub fn after_finding(&self) -> Option<AfterFinding> {
        self.after_handshake.as_ref().and_then(|a| a.finding)
    }

    /// Frees the verdict's text (explanation, reasons, evidence, notes), keeping the outcome and
    /// the other small facts: for a printer that reads only the JSON line rendered ahead.
    pub fn release_text(&mut self) {
        self.explanation = String::new();
        self.reasons = Vec::new();
        self.candidates = Vec::new();
        self.evidence = Vec::new();
        self.notes = Vec::new();
        self.proxy_target = None;
    }
}
