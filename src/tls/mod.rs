//! TLS (and what arrives instead of it) observed on the two reassembled byte streams of a connection.
//!
//! A passive observer in the manner of tls-parser: it records what it sees and never rejects. It is fed
//! in-order bytes per direction by the TCP layer ([`TlsSession::feed`]) and told about holes
//! ([`TlsSession::gap`]). It emits [`TlsEvent`]s tagged with stream offsets; the TCP layer maps offsets
//! back to capture frames. Buffering is bounded: a partial record header or a partial handshake message
//! (capped at [`MAX_HANDSHAKE_MESSAGE`]) is all it keeps; record bodies it does not need are skipped.
//!
//! This module imports only [`crate::tcp::Direction`].
//!
//! Layout: [`session`] drives everything ([`TlsSession`]); `handshake` reassembles handshake
//! messages across records; `hello` and `cert` decode ClientHello/ServerHello and certificates
//! (with tls-parser and x509-parser); `http` sniffs first bytes and parses HTTP header blocks;
//! [`names`] names code points.
//!
//! Wire data never panics this module: no `unwrap`, `expect`, slice indexing or unchecked
//! arithmetic on it (enforced by the lints below).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod cert;
mod handshake;
mod hello;
mod http;
pub mod names;
pub mod session;
#[cfg(test)]
mod tests;

pub use cert::cert_info;
pub use session::{
    TlsSession, ALERT_SIZED_MAX, LATE_TLS_SCAN_LIMIT, MAX_CLIENT_HELLOS, MAX_EVENTS_PER_DIRECTION,
    MAX_RECORD_LEN,
};

use std::borrow::Cow;
use std::sync::Arc;

use crate::tcp::Direction;

/// Bytes from the wire as text, invalid UTF-8 replaced (U+FFFD). Valid text, nearly always, is
/// checked by `from_utf8`, which reads ASCII a word at a time (`from_utf8_lossy` goes byte by byte)
/// and borrowed.
fn text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Whether a stream's first bytes start an HTTP request (a method and a space), as the session's
/// detection reads them.
pub fn starts_http_request(first: &[u8]) -> bool {
    matches!(
        http::classify(first, true),
        Some(http::Detected::HttpRequest)
    )
}

/// Largest handshake message we reassemble (as rustls does: a 16 MB claim must not allocate 16 MB).
pub const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// A parsed ClientHello (TLS, or SSLv2-compatible).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// True when it came in the SSLv2-compatible format (byte0 & 0x80, msg type 1).
    pub sslv2_format: bool,
    /// Record-layer version of the first record that carried it.
    pub record_version: u16,
    /// `legacy_version` field of the ClientHello body.
    pub legacy_version: u16,
    /// supported_versions extension (GREASE removed), empty when absent.
    pub supported_versions: Vec<u16>,
    /// Cipher suites in offer order (GREASE removed; SCSVs kept).
    pub cipher_suites: Vec<u16>,
    /// server_name (host_name), if present.
    pub sni: Option<String>,
    /// ALPN protocol names (lossy UTF-8).
    pub alpn: Vec<String>,
    /// supported_groups (GREASE removed).
    pub groups: Vec<u16>,
    /// key_share entries: (group, key exchange length in bytes), GREASE removed.
    pub key_shares: Vec<(u16, usize)>,
    /// signature_algorithms.
    pub signature_algorithms: Vec<u16>,
    /// Extension types in wire order (GREASE removed).
    pub extensions: Vec<u16>,
    /// encrypted_client_hello (0xfe0d) present.
    pub ech: bool,
    /// session_id length.
    pub session_id_len: u8,
    /// Handshake message length including its 4-byte header (SSLv2: record body length).
    pub message_len: usize,
    /// How many TLS records carried the message.
    pub records: u32,
}

impl ClientHello {
    /// Highest version offered: max of supported_versions if present, else legacy_version.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .max()
            .unwrap_or(self.legacy_version)
    }
}

/// A parsed ServerHello or HelloRetryRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// True when the random is the RFC 8446 HelloRetryRequest magic.
    pub hello_retry_request: bool,
    /// `legacy_version` field.
    pub legacy_version: u16,
    /// supported_versions extension value, if present (TLS 1.3).
    pub supported_version: Option<u16>,
    /// The chosen cipher suite.
    pub cipher_suite: u16,
    /// key_share group (ServerHello) or selected_group (HRR).
    pub key_share_group: Option<u16>,
    /// ALPN chosen.
    pub alpn: Option<String>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// Last 8 bytes of the random are the RFC 8446 downgrade sentinel.
    pub downgrade_sentinel: bool,
}

impl ServerHello {
    /// The negotiated version: supported_versions if present, else legacy_version.
    pub fn version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }
}

/// One certificate of a chain (TLS <= 1.2, where the Certificate message is plaintext).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN in RFC 4514 form.
    pub subject: String,
    /// Issuer DN in RFC 4514 form.
    pub issuer: String,
    /// Subject common name, if any.
    pub subject_cn: Option<String>,
    /// Issuer common name (or organisation when there is no CN), if any.
    pub issuer_cn: Option<String>,
    /// notBefore / notAfter as seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// DNS and IP subjectAltNames.
    pub san: Vec<String>,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// DER length in bytes.
    pub der_len: usize,
    /// Set when x509-parser could not parse it; the other fields are then empty.
    pub parse_error: Option<String>,
}

/// A plaintext alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// Alert description code.
    pub description: u8,
}

/// An HTTP request line and the headers we care about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// e.g. "CONNECT", "GET".
    pub method: String,
    /// e.g. "example.com:443" or "/path".
    pub target: String,
    /// Host header.
    pub host: Option<String>,
}

/// An HTTP response: status line, some headers and the start of the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 470.
    pub status: u16,
    /// The whole status line, lossy UTF-8, e.g. "HTTP/1.1 470 status code 470".
    pub status_line: String,
    /// Headers in order (at most 32 kept).
    pub headers: Vec<(String, String)>,
    /// Start of the body as lossy UTF-8 (at most 1024 bytes kept), once seen.
    pub body_excerpt: String,
    /// Total length of the response header block including the blank line.
    pub header_len: usize,
}

/// Bytes that are neither TLS nor an HTTP message we parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotTls {
    /// What it looks like: "HTML", "SSH banner", "SMTP/FTP banner", "binary", ...
    pub looks_like: String,
    /// First bytes as printable text (non-printables escaped), at most 120 characters.
    pub excerpt: String,
}

/// What was seen, one item per record or message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsEventKind {
    /// A ClientHello (also SSLv2-compatible, see [`ClientHello::sslv2_format`]).
    /// Shared with [`session::TlsSession::client_hello`] (no copy of its lists).
    ClientHello(Arc<ClientHello>),
    /// A ServerHello or HelloRetryRequest (shared with the session, as the ClientHello).
    ServerHello(Arc<ServerHello>),
    /// A plaintext Certificate message (TLS <= 1.2; shared with the session, as the ClientHello).
    Certificate(Arc<[CertInfo]>),
    /// Another plaintext handshake message, by type (12 ServerKeyExchange, 13 CertificateRequest,
    /// 14 ServerHelloDone, 15 CertificateVerify, 16 ClientKeyExchange, 4 NewSessionTicket, ...).
    Handshake(u8),
    /// A ChangeCipherSpec record.
    ChangeCipherSpec,
    /// A plaintext alert.
    Alert(Alert),
    /// A record that is encrypted (after this direction's CCS in TLS <= 1.2; any 0x17 in TLS 1.3),
    /// emitted while the handshake is not complete: content type and record length.
    /// TLS 1.2 Finished shows up here as content type 22.
    EncryptedRecord { content_type: u8, len: u16 },
    /// The first application-data record of this direction after the handshake completed.
    FirstApplicationData { len: u16 },
    /// An HTTP request (CONNECT or plain HTTP).
    HttpRequest(Box<HttpRequest>),
    /// An HTTP response, emitted when its header block is complete. For a CONNECT with a 2xx status,
    /// TLS is expected next in both directions. `body_excerpt` holds only the body bytes that arrived
    /// together with the header block; [`TlsSession::http_response`] keeps growing it (up to 1024 bytes).
    HttpResponse(Box<HttpResponse>),
    /// Bytes that are not TLS, emitted once the first bytes decide it. The excerpt shows the bytes at hand
    /// then; [`TlsSession::not_tls`] keeps growing it (up to 120 characters). When TLS starts later in
    /// the same direction (a ClientHello after STARTTLS; from the server, a ServerHello once the client
    /// sent a ClientHello), parsing switches to TLS at that byte and the excerpts stop before it.
    NotTls(Box<NotTls>),
    /// Bytes that claim to be TLS but are malformed; parsing of this direction stops.
    Malformed(String),
    /// Parsing of this direction stopped because bytes were missing (a gap) and it could not resynchronise.
    /// When the gap fell inside a record body but broke handshake-message framing, only handshake-message
    /// decoding stops: records are still framed (CCS, encrypted records, alerts and progress keep working).
    /// Emitted at most once per direction, with the gap's offsets.
    LostSync,
}

/// One observation, with the stream offsets (bytes since the first payload byte of its direction)
/// of its first byte and one past its last byte.
///
/// Record-level events (ChangeCipherSpec, EncryptedRecord, FirstApplicationData, Alert, a bad record
/// header) span their whole record, header included, as its header declares it. Handshake-message
/// events (ClientHello, ServerHello, Certificate, Handshake) span the message itself, its 4-byte
/// header included, which may stretch over several records (an SSLv2 ClientHello spans its record).
/// HTTP events span the header block; NotTls spans the bytes shown in its excerpt; LostSync spans
/// the gap; Malformed spans the offending record or message as far as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsEvent {
    pub dir: Direction,
    pub start: u64,
    pub end: u64,
    pub kind: TlsEventKind,
}

/// Where the handshake got to, as far as the bytes show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum HandshakeProgress {
    /// No ClientHello yet.
    #[default]
    None,
    /// ClientHello seen, nothing from the server.
    ClientHello,
    /// HelloRetryRequest seen, waiting for the second ClientHello / ServerHello.
    HelloRetry,
    /// ServerHello seen (and maybe more of the server's flight).
    ServerHello,
    /// Both sides sent their Finished (TLS 1.2: CCS + encrypted handshake record each way;
    /// TLS 1.3: the client's first encrypted record that is not an alert-sized record).
    Complete,
}

/// Per-direction counters and the last record, kept even after the handshake (cheap: headers only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Bytes fed (bytes reported missing are in [`DirectionStats::gap_bytes`]).
    pub bytes: u64,
    /// TLS records framed (counted when their header is complete; an SSLv2 ClientHello counts as one).
    pub records: u64,
    /// Application-data records framed.
    pub app_data_records: u64,
    /// The last complete record: (start offset, content type, length). An SSLv2-compatible ClientHello
    /// record shows as content type 0x80.
    pub last_record: Option<(u64, u8, u16)>,
    /// True once the direction was found not to be TLS (HTTP, banner, garbage). Cleared again when TLS
    /// follows an HTTP exchange on the same direction (CONNECT tunnel), or starts later in a not-TLS
    /// stream (STARTTLS, PostgreSQL SSLRequest, SOCKS: see [`LATE_TLS_SCAN_LIMIT`]).
    pub not_tls: bool,
    /// The record whose header was read but whose body has not fully arrived: (start offset, content
    /// type, length). `None` between records.
    pub current_record: Option<(u64, u8, u16)>,
    /// Bytes reported missing by [`TlsSession::gap`].
    pub gap_bytes: u64,
    /// Events not emitted because [`MAX_EVENTS_PER_DIRECTION`] was reached.
    pub events_suppressed: u64,
    /// Handshake messages whose length claim exceeded the handshake message size limit (parsing of
    /// the direction stopped there, with a [`TlsEventKind::Malformed`] event).
    pub oversized_messages: u64,
}
