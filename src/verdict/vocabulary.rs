//! The outcome vocabulary: a public API, documented here and in `docs/verdicts.md`.

use serde::Serialize;

/// Where the connection got to, exactly one per connection.
///
/// | value | meaning |
/// |---|---|
/// | `handshake_complete` | both sides finished the TLS handshake |
/// | `cleartext` | not TLS, and nothing failed (plain HTTP answered normally, another protocol) |
/// | `syn_unanswered` | the client's SYN (and its retransmissions) got no answer at all |
/// | `syn_rejected` | the SYN was answered by a TCP RST |
/// | `syn_unreachable` | the SYN was answered by an ICMP/ICMPv6 error |
/// | `no_client_hello` | TCP was established but the client never sent a byte (a TCP port test, like Test-NetConnection) |
/// | `reset_after_client_hello` | ClientHello sent, the server side reset the connection without sending any TLS byte |
/// | `closed_after_client_hello` | ClientHello sent, the server side closed (FIN) without sending any TLS byte |
/// | `silence_after_client_hello` | ClientHello sent, nothing came back for the quiet time, or until the client gave up |
/// | `server_alert` | the server sent a fatal alert (plaintext, or an encrypted one inferred) before the handshake completed |
/// | `client_alert` | the client sent a fatal alert before the handshake completed |
/// | `server_not_tls` | the server answered the ClientHello with something that is not TLS |
/// | `aborted_after_server_hello` | the server's hello arrived, then the connection was closed or reset without an alert |
/// | `http_blocked` | an HTTP deny page (e.g. Azure Firewall's `HTTP/1.1 470`) answered the request |
/// | `proxy_refused` | an explicit proxy refused the `CONNECT` (403, 407, ...) |
/// | `in_progress` | the capture ended while the handshake was still moving |
/// | `midstream` | the capture started after the handshake, or cut or lost the bytes it would be judged by (a small snaplen): too little to judge |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    HandshakeComplete,
    Cleartext,
    SynUnanswered,
    SynRejected,
    SynUnreachable,
    NoClientHello,
    ResetAfterClientHello,
    ClosedAfterClientHello,
    SilenceAfterClientHello,
    ServerAlert,
    ClientAlert,
    ServerNotTls,
    AbortedAfterServerHello,
    HttpBlocked,
    ProxyRefused,
    InProgress,
    Midstream,
}

impl Outcome {
    /// Every outcome, in documentation order.
    pub const ALL: [Outcome; 17] = [
        Outcome::HandshakeComplete,
        Outcome::Cleartext,
        Outcome::SynUnanswered,
        Outcome::SynRejected,
        Outcome::SynUnreachable,
        Outcome::NoClientHello,
        Outcome::ResetAfterClientHello,
        Outcome::ClosedAfterClientHello,
        Outcome::SilenceAfterClientHello,
        Outcome::ServerAlert,
        Outcome::ClientAlert,
        Outcome::ServerNotTls,
        Outcome::AbortedAfterServerHello,
        Outcome::HttpBlocked,
        Outcome::ProxyRefused,
        Outcome::InProgress,
        Outcome::Midstream,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::HandshakeComplete => "handshake_complete",
            Outcome::Cleartext => "cleartext",
            Outcome::SynUnanswered => "syn_unanswered",
            Outcome::SynRejected => "syn_rejected",
            Outcome::SynUnreachable => "syn_unreachable",
            Outcome::NoClientHello => "no_client_hello",
            Outcome::ResetAfterClientHello => "reset_after_client_hello",
            Outcome::ClosedAfterClientHello => "closed_after_client_hello",
            Outcome::SilenceAfterClientHello => "silence_after_client_hello",
            Outcome::ServerAlert => "server_alert",
            Outcome::ClientAlert => "client_alert",
            Outcome::ServerNotTls => "server_not_tls",
            Outcome::AbortedAfterServerHello => "aborted_after_server_hello",
            Outcome::HttpBlocked => "http_blocked",
            Outcome::ProxyRefused => "proxy_refused",
            Outcome::InProgress => "in_progress",
            Outcome::Midstream => "midstream",
        }
    }

    /// How the outcome counts for the exit status and the summary.
    pub fn class(self) -> OutcomeClass {
        match self {
            Outcome::HandshakeComplete | Outcome::Cleartext => OutcomeClass::Ok,
            Outcome::NoClientHello | Outcome::InProgress | Outcome::Midstream => {
                OutcomeClass::Undetermined
            }
            _ => OutcomeClass::Failed,
        }
    }
}

/// Whether an outcome is a success, a failure, or not a judgement of TLS at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// The connection did what it set out to do.
    Ok,
    /// The handshake (or the request) failed: exit status 1.
    Failed,
    /// Not enough to judge TLS (no ClientHello, capture too short): reported, not counted as failed.
    Undetermined,
}

/// Why it ended that way. `unknown` comes with `candidates` where the evidence narrows it down.
///
/// | value | meaning |
/// |---|---|
/// | `none` | nothing went wrong (or nothing to explain) |
/// | `firewall_block` | a device in the path (or the server acting as one) refused the connection after reading what it needed (SNI, Host, port): the client's offer was acceptable, and the answer was a close, reset, silence, ICMP prohibition or deny page |
/// | `cipher_mismatch` | client and server share no cipher suite (or group/signature algorithm) |
/// | `version_mismatch` | client and server share no protocol version |
/// | `certificate_rejected` | the client refused the server's certificate (untrusted issuer, TLS inspection, expired, wrong name) |
/// | `client_certificate_required` | the server wanted a client certificate and did not get an acceptable one |
/// | `sni_rejected` | the server does not serve the name the client asked for (`unrecognized_name`) |
/// | `alpn_mismatch` | no common application protocol (`no_application_protocol`) |
/// | `large_client_hello` | a ClientHello that needed several TCP segments was followed by silence or a reset: a device that cannot reassemble it (tldr.fail) |
/// | `port_closed` | nothing listens on the port (RST or ICMP port unreachable to the SYN) |
/// | `no_route` | ICMP net/host unreachable: the network path does not exist |
/// | `not_tls` | the server speaks another protocol on this port |
/// | `proxy_denied` | an explicit proxy's policy refused the tunnel |
/// | `proxy_auth_required` | an explicit proxy wants credentials (407) |
/// | `server_error` | the server failed internally (`internal_error`) |
/// | `unknown` | the evidence does not carry a cause; see `candidates` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    None,
    FirewallBlock,
    CipherMismatch,
    VersionMismatch,
    CertificateRejected,
    ClientCertificateRequired,
    SniRejected,
    AlpnMismatch,
    LargeClientHello,
    PortClosed,
    NoRoute,
    NotTls,
    ProxyDenied,
    ProxyAuthRequired,
    ServerError,
    Unknown,
}

impl Cause {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::None => "none",
            Cause::FirewallBlock => "firewall_block",
            Cause::CipherMismatch => "cipher_mismatch",
            Cause::VersionMismatch => "version_mismatch",
            Cause::CertificateRejected => "certificate_rejected",
            Cause::ClientCertificateRequired => "client_certificate_required",
            Cause::SniRejected => "sni_rejected",
            Cause::AlpnMismatch => "alpn_mismatch",
            Cause::LargeClientHello => "large_client_hello",
            Cause::PortClosed => "port_closed",
            Cause::NoRoute => "no_route",
            Cause::NotTls => "not_tls",
            Cause::ProxyDenied => "proxy_denied",
            Cause::ProxyAuthRequired => "proxy_auth_required",
            Cause::ServerError => "server_error",
            Cause::Unknown => "unknown",
        }
    }
}

/// Who sent the decisive packet.
///
/// | value | meaning |
/// |---|---|
/// | `client` | the client (its alert, close, reset, or giving up) |
/// | `server` | the TCP peer that answered the SYN. A transparent proxy that answers the SYN itself (Azure Firewall application rules) *is* that peer: the explanation says when the evidence points there |
/// | `middlebox` | the packet carries the server's address but cannot have come from the host that sent the SYN-ACK (different TTL / hop limit, the server kept talking after it, it came faster than the server could answer), or an ICMP error came from another address |
/// | `proxy` | an explicit HTTP proxy (`CONNECT`) answered or closed |
/// | `none` | nobody: silence, a completed handshake, or a capture that ended |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    Client,
    Server,
    Middlebox,
    Proxy,
    None,
}

impl EndedBy {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Client => "client",
            EndedBy::Server => "server",
            EndedBy::Middlebox => "middlebox",
            EndedBy::Proxy => "proxy",
            EndedBy::None => "none",
        }
    }
}

/// How sure the rule is.
///
/// | value | meaning |
/// |---|---|
/// | `high` | the decisive packet says it (an alert code, a status line, an ICMP code) or several signals agree |
/// | `medium` | one strong signal, with a known look-alike (e.g. a server that resets instead of alerting) |
/// | `low` | a best reading of partial evidence |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Which side an alert or a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Client,
    Server,
    Middlebox,
    Proxy,
}

impl Party {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Client => "client",
            Party::Server => "server",
            Party::Middlebox => "middlebox",
            Party::Proxy => "proxy",
        }
    }
}

/// How a connection whose handshake completed ended (`after_handshake.ended`).
///
/// | value | meaning |
/// |---|---|
/// | `closed` | a FIN came first (an orderly close, by either side) |
/// | `reset` | an RST came first |
/// | `open` | neither, by the end of the capture (or when the connection was judged idle) |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Closed,
    Reset,
    Open,
}

impl Ending {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Reset => "reset",
            Ending::Open => "open",
        }
    }
}

/// What the end of a completed connection says (`after_handshake.finding`), when it says something.
/// Resets by the client, and closes, are how connections normally end: no finding.
///
/// | value | meaning |
/// |---|---|
/// | `idle_reset` | the server side or a middlebox reset the connection after at least 5 s without a packet (counting back from the packet the reset answered, when it answered one within a second): something in the path forgot the idle flow, as firewalls, NAT gateways and load balancers do (Azure Firewall resets TCP flows idle for 4 minutes) |
/// | `middlebox_reset` | a reset carrying the server's address that the server cannot have sent (its TTL / hop limit differs from the SYN-ACK's, or the server kept sending after it), with no idle period before it |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFinding {
    IdleReset,
    MiddleboxReset,
}

impl AfterFinding {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            AfterFinding::IdleReset => "idle_reset",
            AfterFinding::MiddleboxReset => "middlebox_reset",
        }
    }
}
