//! `tlsautopsy probe HOST[:PORT]`: an honest Test-NetConnection. It connects to the endpoint, sends
//! real ClientHellos (byte for byte what a client sends: [`hello`]), watches what comes back
//! ([`attempt`]) and explains the outcome.
//!
//! # What it sends
//! 1. `agent`: what a current client sends (TLS 1.3 and 1.2, the host name as SNI, ALPN http/1.1,
//!    an X25519MLKEM768 key share: about 1.5 KB, two segments on an Ethernet path; `--no-pq` leaves
//!    it out); with `--replay CAPTURE`, the ClientHello a real client sent, from its capture, byte
//!    for byte ([`replay`]).
//! 2. Then, only when that tells too little, the attempts that separate the causes:
//!    - no TLS byte back (closed, reset, silence): `small_hello`, the same offer without the
//!      post-quantum share (an answer means a middlebox or MTU that handles one segment only);
//!      then `control_name`, the small offer with another server name (`--control-sni`, default
//!      `example.com`: a TLS answer to it and none to the real name means something in the path
//!      filters on the name, such as Azure Firewall's application rules); then `tls12`, a broad
//!      TLS 1.2 offer, for servers that close on an offer they dislike rather than send an alert.
//!    - a TLS alert: `tls12`. An answer to it means a version or cipher-suite policy the first offer
//!      missed, and which suite the server wanted.
//!    - a TLS 1.3 ServerHello: `certificate`, the broad TLS 1.2 offer, to see the certificate chain
//!      in clear (TLS 1.3 encrypts it): its issuer shows TLS inspection, and whether the system's
//!      trust store knows it.
//!
//! With `--proxy`, or the proxy the environment names as curl reads it ([`env_proxy`]: `HTTPS_PROXY`
//! and the like, `NO_PROXY`; `--no-proxy` goes direct), every attempt asks that HTTP proxy to
//! `CONNECT` to the endpoint first; a refusal is the answer.
//!
//! The probe never finishes a handshake: once the server has answered, it closes the connection.
//!
//! # Evidence
//! With packet capture (feature `live`, root or CAP_NET_RAW), the probe captures its own packets
//! while it runs (`capture`), on `--interface` (default `any`), and analyses them with the same
//! analyzer and rules as `tlsautopsy analyze`: each attempt gets its connection's verdict, with the
//! packets as evidence (TTLs, timings, who sent what), and `--write` saves the capture. Without, the
//! report says so and rests on what the sockets saw (connect result, bytes, FIN or reset, timing),
//! read by the same TLS observer.

pub mod attempt;
#[cfg(feature = "live")]
mod capture;
pub mod hello;
mod replay;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;

use crate::analyze::Connection;
use crate::report::{endpoint, ConnReport, ReportSink};
use crate::tls::names::{alert_label, alert_level_name, cipher_label, group_label, version_str};
use crate::tls::CertInfo;
use crate::verdict::{OutcomeClass, Verdict};
use attempt::{Attempt, End, Plan, Route, TcpOutcome};
use hello::{HelloSpec, Offer};

/// `tlsautopsy probe` flags.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// The endpoint: HOST, HOST:PORT, an IPv6 address in brackets with a port, or an https:// URL
    /// (port 443 by default).
    /// With `--replay`, by default the captured ClientHello's server name and port (or the server
    /// address it went to, without a name).
    #[arg(value_name = "HOST[:PORT]", required_unless_present = "replay")]
    pub target: Option<String>,
    /// Send first the ClientHello of a connection of this capture, byte for byte (the first failed
    /// one that sent one, or `--connection`), then the attempts that separate the causes.
    #[arg(long, value_name = "CAPTURE", conflicts_with_all = ["sni", "no_sni", "no_pq"])]
    pub replay: Option<String>,
    /// With `--replay`: the connection (its `#` in `tlsautopsy analyze`) whose ClientHello is sent.
    #[arg(long, value_name = "ID", requires = "replay")]
    pub connection: Option<u64>,
    /// Server name to send (default: the host name; none for an IP address).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Send no server name at all.
    #[arg(long, conflicts_with = "sni")]
    pub no_sni: bool,
    /// The other server name sent to learn whether the name matters.
    #[arg(long, value_name = "NAME", default_value = "example.com")]
    pub control_sni: String,
    /// ALPN protocols offered, comma-separated (empty: no ALPN).
    #[arg(long, value_name = "LIST", default_value = "http/1.1")]
    pub alpn: String,
    /// Seconds to wait for the TCP connection, and then for an answer to each ClientHello.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub timeout: f64,
    /// Send only the first ClientHello (no diagnostic attempts).
    #[arg(long)]
    pub single: bool,
    /// Leave the post-quantum key share (X25519MLKEM768) out of the first ClientHello, as clients
    /// from before 2024 do (the ClientHello then fits one TCP segment).
    #[arg(long)]
    pub no_pq: bool,
    /// Go through this HTTP proxy (HOST:PORT or http://HOST:PORT), as a client configured with a
    /// proxy does: CONNECT to the endpoint, then TLS in the tunnel. Without it, the proxy of
    /// `https_proxy`/`HTTPS_PROXY` (or `all_proxy`/`ALL_PROXY`) is used unless `no_proxy`/`NO_PROXY`
    /// exempts the host, as curl and agents that read the environment do.
    #[arg(long, value_name = "HOST:PORT")]
    pub proxy: Option<String>,
    /// Go direct, even when the environment names a proxy (`HTTPS_PROXY` and the like).
    #[arg(long, conflicts_with = "proxy")]
    pub no_proxy: bool,
    /// JSON lines (schema in docs/json-schema.md): one line per connection, then the probe's.
    #[arg(long)]
    pub json: bool,
    /// Do not draw ladder diagrams (text output).
    #[arg(long)]
    pub no_ladder: bool,
    /// Interface to capture the probe's packets on.
    #[arg(long, value_name = "IFACE", default_value = "any")]
    pub interface: String,
    /// Do not capture packets (the report then rests on what the sockets saw).
    #[arg(long)]
    pub no_capture: bool,
    /// Save the captured packets to this pcapng file (the verdicts cite its frame numbers).
    #[arg(long, value_name = "FILE.pcapng", conflicts_with_all = ["no_capture", "all_addresses"])]
    pub write: Option<PathBuf>,
    /// Probe every address the name resolves to (8 at most), one after the other, instead of the
    /// first only.
    #[arg(long, conflicts_with = "proxy")]
    pub all_addresses: bool,
}

/// Addresses probed at most with `--all-addresses`.
const MAX_ADDRESSES: usize = 8;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As given (without scheme, path or port).
    pub host: String,
    pub port: u16,
}

/// Parses `HOST`, `HOST:PORT`, `[V6]:PORT`, a bare IPv6 address, or a URL (`https://host:port/path`).
pub fn parse_target(s: &str) -> Result<Target, String> {
    let mut rest = s.trim();
    let mut default_port = 443;
    if let Some((scheme, r)) = rest.split_once("://") {
        default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("unknown scheme {other}:// in {s:?}")),
        };
        rest = r;
    }
    let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // userinfo@host
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let bad_port = |p: &str| format!("{p:?} is not a port number (1-65535) in {s:?}");
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad_port(p)),
        Ok(n) => Ok(n),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in {s:?}"))?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), parse_port(p)?),
            None if after.is_empty() => (h.to_string(), default_port),
            None => return Err(format!("unexpected {after:?} after ']' in {s:?}")),
        }
    } else if rest.matches(':').count() > 1 {
        (rest.to_string(), default_port) // a bare IPv6 address
    } else if let Some((h, p)) = rest.split_once(':') {
        (h.to_string(), parse_port(p)?)
    } else {
        (rest.to_string(), default_port)
    };
    if host.is_empty() {
        return Err(format!("no host in {s:?}"));
    }
    Ok(Target { host, port })
}

/// The variables that name a proxy for HTTPS, in the order curl reads them.
const PROXY_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];

/// The proxy the environment (`get`) names for `target`, with the variable that named it; none
/// when `no_proxy`/`NO_PROXY` exempts the host.
fn env_proxy(
    target: &Target,
    get: impl Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    let (value, var) = PROXY_VARS.iter().find_map(|&v| {
        get(v)
            .filter(|s| !s.trim().is_empty())
            .map(|s| (s.trim().to_string(), v))
    })?;
    let exempt = get("no_proxy")
        .or_else(|| get("NO_PROXY"))
        .is_some_and(|list| no_proxy_matches(&list, &target.host));
    (!exempt).then_some((value, var))
}

/// Whether a `NO_PROXY` list exempts `host`, as curl reads it: `*` exempts every host; a name
/// exempts itself and its subdomains (a leading dot changes nothing); an IP address exempts itself,
/// and `ADDRESS/BITS` its network.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',').map(str::trim).any(|entry| {
        let e = entry
            .trim_start_matches('.')
            .trim_end_matches('.')
            .trim_start_matches('[')
            .to_ascii_lowercase();
        let e = e.split_once(']').map_or(e.as_str(), |(a, _)| a);
        if entry == "*" {
            return true;
        }
        if e.is_empty() {
            return false;
        }
        match ip {
            Some(ip) => {
                let (net, bits) = e.split_once('/').unwrap_or((e, ""));
                match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (Ok(net), Ok(bits)) => in_network(ip, net, bits),
                    (Ok(net), Err(_)) => bits.is_empty() && net == ip,
                    _ => false,
                }
            }
            None => host == e || host.ends_with(&format!(".{e}")),
        }
    })
}

/// Whether `ip` is in `net`/`bits` (both of one family).
fn in_network(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    // (A shift by the whole width: every address.)
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// A proxy as `--proxy` or the environment gives it: `HOST:PORT` or `http://HOST:PORT`, port 1080
/// when none is given (as curl has it). A user name and password in it are not sent (the probe
/// sends no credentials: a proxy that wants them answers 407).
fn parse_proxy(s: &str) -> Result<Target, String> {
    let s = s.trim();
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "the proxy is {scheme}://, and the probe speaks to a proxy in plain HTTP (CONNECT) only: \
                 give its plain HTTP address with --proxy, or go direct with --no-proxy"
            ))
        }
        None => s,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        parse_target(hostport)
    } else if hostport.contains(':') && !hostport.starts_with('[') {
        // A bare IPv6 address.
        parse_target(&format!("[{hostport}]:1080"))
    } else {
        parse_target(&format!("{hostport}:1080"))
    }
}

/// One attempt and, with a capture, its connection's verdict.
pub struct Finding {
    pub attempt: Attempt,
    pub judged: Option<(Box<Connection>, Verdict)>,
}

/// What the attempts together say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conclusion {
    /// JSON name: `tls_ok`, `tcp_unanswered`, `tcp_refused`, `tcp_unreachable`, `tcp_failed`,
    /// `proxy_no_answer`, `proxy_refused`, `large_client_hello`, `blocked_on_name`,
    /// `blocked_whatever_name`, `offer_refused_tls12_accepted`, `offer_refused`, `http_answer`,
    /// `not_tls`, `no_answer` (docs/probe.md).
    pub kind: &'static str,
    pub headline: String,
    pub text: String,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn secs_or_ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        ms(d)
    }
}

/// "TLS 1.3, TLS_AES_128_GCM_SHA256" (and the ALPN chosen).
fn server_hello_text(a: &Attempt) -> Option<String> {
    if let Some(h) = &a.answer.hello_retry {
        return Some(format!(
            "HelloRetryRequest ({}{}): the server wants a key share for another group; it speaks TLS",
            version_str(h.version()),
            h.key_share_group
                .map(|g| format!(", group {}", group_label(g)))
                .unwrap_or_default()
        ));
    }
    let sh = a.answer.server_hello.as_ref()?;
    let mut s = format!(
        "ServerHello: {}, {}",
        version_str(sh.version()),
        cipher_label(sh.cipher_suite)
    );
    if let Some(p) = &sh.alpn {
        let _ = write!(s, ", ALPN {p}");
    }
    Some(s)
}

/// What came back, in a few words.
fn answer_text(a: &Attempt) -> String {
    let ans = &a.answer;
    let when = a
        .first_byte_after
        .map(|d| format!(", {} after the ClientHello", ms(d)))
        .unwrap_or_default();
    if let Some(s) = server_hello_text(a) {
        let mut s = format!("{s}{when}");
        if let Some(leaf) = ans.certificates.first() {
            let _ = write!(
                s,
                "; certificate for {}, issued by {}",
                leaf.subject_cn.as_deref().unwrap_or(&leaf.subject),
                leaf.issuer_cn.as_deref().unwrap_or(&leaf.issuer)
            );
        }
        return s;
    }
    if let Some(al) = ans.alert {
        return format!(
            "alert {} ({}){when}",
            alert_label(al.description),
            alert_level_name(al.level).unwrap_or("warning")
        );
    }
    if let Some(h) = &ans.http {
        return format!("HTTP instead of TLS: \"{}\"{when}", h.status_line);
    }
    if let Some(n) = &ans.not_tls {
        return format!("not TLS ({}): \"{}\"{when}", n.looks_like, n.excerpt);
    }
    if let Some(m) = &ans.malformed {
        return format!("bytes that are not valid TLS: {m}{when}");
    }
    if a.received > 0 {
        return format!("{} bytes{when}", a.received);
    }
    "nothing".to_string()
}

/// What the probe sent last: the ClientHello, or (through a proxy that refused) the CONNECT request.
fn last_sent(a: &Attempt) -> &'static str {
    if a.hello_len == 0 && a.connect.is_some() {
        "the CONNECT request"
    } else {
        "the ClientHello"
    }
}

fn end_text(a: &Attempt) -> String {
    let what = last_sent(a);
    match &a.end {
        End::ServerClosed { after } => format!(
            "the server side closed the connection (FIN) {} after {what}",
            ms(*after)
        ),
        End::ServerReset { after } => format!(
            "the server side reset the connection {} after {what}",
            ms(*after)
        ),
        End::Silence { waited } => format!(
            "no answer for {}: the probe gave up and closed",
            secs_or_ms(*waited)
        ),
        End::ProbeStopped => "the probe closed the connection once the server had answered".into(),
        End::SendFailed { error } => format!("{what} could not be sent: {error}"),
        End::ReadFailed { error } => format!("reading failed: {error}"),
        End::NotConnected => "no TCP connection".into(),
    }
}

fn tcp_text(t: &TcpOutcome, timeout: Duration) -> String {
    match t {
        TcpOutcome::Connected { after } => format!("connected in {}", ms(*after)),
        TcpOutcome::Refused { after } => {
            format!("refused: a reset answered the SYN ({})", ms(*after))
        }
        TcpOutcome::TimedOut { after } => format!(
            "no answer to the SYN in {} (timeout {})",
            secs_or_ms(*after),
            secs_or_ms(timeout)
        ),
        TcpOutcome::Unreachable { after, error } => {
            format!("unreachable ({error}) after {}", ms(*after))
        }
        TcpOutcome::Failed { error } => format!("failed: {error}"),
    }
}

/// Subjects of the system's trust store (by name: the probe checks no signatures).
struct TrustStore {
    path: String,
    subjects: HashSet<String>,
}

fn trust_store() -> Option<TrustStore> {
    let path = std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".to_string());
    let data = std::fs::read(&path).ok()?;
    let mut subjects = HashSet::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&data).flatten() {
        let info = crate::tls::cert_info(&pem.contents);
        if info.parse_error.is_none() {
            subjects.insert(info.subject);
        }
    }
    (!subjects.is_empty()).then_some(TrustStore { path, subjects })
}

/// `name` matches a certificate name (`*.example.com` covers one label).
fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(suffix) => n
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => p == n,
    }
}

/// What the certificate chain says, as sentences.
fn certificate_findings(certs: &[CertInfo], sni: Option<&str>, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let Some(leaf) = certs.first() else {
        return out;
    };
    let issuer = leaf.issuer_cn.as_deref().unwrap_or(&leaf.issuer);
    out.push(format!(
        "The server's certificate is for {} and was issued by \"{}\".",
        leaf.subject_cn.as_deref().unwrap_or(&leaf.subject),
        issuer
    ));
    if leaf.self_issued {
        out.push(
            "It is self-signed: only a client told to trust this very certificate accepts it."
                .to_string(),
        );
    }
    if certs
        .iter()
        .any(|c| crate::verdict::rules::inspection_vendor(&c.issuer))
    {
        out.push(format!(
            "That issuer name is typical of a TLS-inspection device, not a public CA: something in \
             the path decrypts TLS. A client that does not trust \"{issuer}\" rejects this certificate \
             (client_alert, certificate_rejected); exclude the name from inspection or install that CA \
             in the client's trust store."
        ));
    }
    if let Some(name) = sni {
        let names: Vec<&str> = if leaf.san.is_empty() {
            leaf.subject_cn.iter().map(String::as_str).collect()
        } else {
            leaf.san.iter().map(String::as_str).collect()
        };
        if !names.is_empty() && !names.iter().any(|p| name_matches(p, name)) {
            out.push(format!(
                "It does not name {name} (it names {}): a client checking the name rejects it.",
                names.iter().take(4).copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if leaf.parse_error.is_none() && leaf.not_after < now {
        out.push("It has expired.".to_string());
    } else if leaf.parse_error.is_none() && leaf.not_before > now {
        out.push("It is not valid yet.".to_string());
    }
    if let Some(store) = trust_store() {
        let anchored = certs
            .iter()
            .find(|c| store.subjects.contains(&c.issuer) || store.subjects.contains(&c.subject));
        match anchored {
            Some(c) => out.push(format!(
                "The chain leads to \"{}\", a CA of this system's trust store ({}; matched by name).",
                if store.subjects.contains(&c.subject) {
                    c.subject_cn.as_deref().unwrap_or(&c.subject)
                } else {
                    c.issuer_cn.as_deref().unwrap_or(&c.issuer)
                },
                store.path
            )),
            None => out.push(format!(
                "No certificate of the chain was issued by a CA of this system's trust store ({}): \
                 a client that trusts only those rejects it.",
                store.path
            )),
        }
    }
    out
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The verdict of a finding's connection, as a short phrase.
fn verdict_phrase(f: &Finding) -> Option<String> {
    let (c, v) = f.judged.as_ref()?;
    if f.attempt.end == End::ProbeStopped {
        return Some(format!(
            "none: the probe ended connection #{} itself once the server had answered (what the \
             packets show after that, {}, is the server's reaction to the probe's close)",
            c.id,
            v.outcome.as_str()
        ));
    }
    Some(format!(
        "{} (cause {}, ended by {}, confidence {}; connection #{})",
        v.outcome.as_str(),
        v.cause.as_str(),
        v.ended_by.as_str(),
        v.confidence.as_str(),
        c.id
    ))
}

fn find<'a>(findings: &'a [Finding], name: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.attempt.plan.name == name)
}

/// What the attempts together say.
pub fn conclude(findings: &[Finding], sni: Option<&str>, timeout: Duration) -> Conclusion {
    let Some(first) = findings.first() else {
        return Conclusion {
            kind: "no_answer",
            headline: "nothing was sent".into(),
            text: String::new(),
        };
    };
    let a = &first.attempt;
    // Through a proxy, the endpoint is the CONNECT target.
    let to = a.connect.clone().unwrap_or_else(|| endpoint(&a.remote));
    let proxy = endpoint(&a.remote);
    // Whom TCP went to.
    let peer = if a.connect.is_some() {
        format!("the proxy {proxy}")
    } else {
        to.clone()
    };
    let named = sni.map(|n| format!(" (SNI {n})")).unwrap_or_default();
    let engine = first
        .judged
        .as_ref()
        .map(|(_, v)| format!(" The packets say: {}", v.explanation))
        .unwrap_or_default();
    let c = |kind, headline: String, text: String| Conclusion {
        kind,
        headline,
        text,
    };
    match &a.tcp {
        TcpOutcome::TimedOut { .. } => {
            return c(
                "tcp_unanswered",
                format!("TCP to {peer} is not answered"),
                format!(
                    "No SYN-ACK came back within {}: a firewall drops the packets, there is no route back, \
                     or the host is down. TLS could not be tried. Test-NetConnection would say \
                     TcpTestSucceeded: False.{engine}",
                    secs_or_ms(timeout)
                ),
            )
        }
        TcpOutcome::Refused { .. } => {
            return c(
                "tcp_refused",
                format!("TCP to {peer} is refused"),
                format!(
                    "A reset answered the SYN: nothing listens on that port, or a firewall rejects the \
                     connection. TLS could not be tried.{engine}"
                ),
            )
        }
        TcpOutcome::Unreachable { error, .. } => {
            return c(
                "tcp_unreachable",
                format!("{peer} is unreachable"),
                format!("The connection failed with \"{error}\": a router or firewall says there is no way there.{engine}"),
            )
        }
        TcpOutcome::Failed { error } => {
            return c(
                "tcp_failed",
                format!("TCP to {peer} failed"),
                format!("The connection failed: {error}."),
            )
        }
        TcpOutcome::Connected { .. } => {}
    }
    let tcp_ok_direct = "TCP connects (Test-NetConnection would say TcpTestSucceeded: True)";
    let tunnel;
    let tcp_ok = match &a.connect {
        None => tcp_ok_direct,
        Some(target) => {
            let how = end_text(a);
            match &a.answer.proxy {
                None => {
                    return c(
                        "proxy_no_answer",
                        format!("the proxy {proxy} does not answer the CONNECT"),
                        format!(
                            "TCP to the proxy connects, but no HTTP answer to CONNECT {target} \
                             came ({how}{}): not an HTTP proxy, or one that drops the request.{engine}",
                            if a.received > 0 {
                                format!("; it sent {}", answer_text(a))
                            } else {
                                String::new()
                            }
                        ),
                    )
                }
                Some(r) if !(200..300).contains(&r.status) => {
                    let advice = match r.status {
                        407 => "it wants credentials: configure the client's proxy authentication, or exempt this destination",
                        403 | 451 => "its policy denies this destination: ask for the name to be allowed",
                        502..=504 => "it could not reach the endpoint itself (its DNS, its route or the endpoint's firewall)",
                        _ => "it refuses this tunnel",
                    };
                    return c(
                        "proxy_refused",
                        format!("the proxy refuses CONNECT {target}: {}", r.status_line),
                        format!(
                            "TCP to the proxy {proxy} connects, but it answered CONNECT {target} with \
                             \"{}\": {advice}. No ClientHello reached the endpoint.{engine}",
                            r.status_line
                        ),
                    );
                }
                Some(_) => {
                    tunnel = format!(
                        "TCP to the proxy {proxy} connects and it opened a tunnel to {target}"
                    );
                    tunnel.as_str()
                }
            }
        }
    };
    if a.answer.tls_answered() {
        let what = server_hello_text(a).unwrap_or_default();
        let mut text = format!(
            "{tcp_ok}, and a TLS server answered the ClientHello{named}: {what}. TLS is reachable with \
             this offer; the probe does not finish handshakes, so a failure later in the handshake \
             (the client rejecting the certificate, a client certificate required) would not show \
             here: capture the real client with `tlsautopsy live` or `tcpdump` to see one."
        );
        let certs = if a.answer.certificates.is_empty() {
            find(findings, "certificate")
                .map(|f| f.attempt.answer.certificates.as_slice())
                .unwrap_or_default()
        } else {
            a.answer.certificates.as_slice()
        };
        let notes = certificate_findings(certs, sni, now_secs());
        if !notes.is_empty() {
            if a.answer.certificates.is_empty() {
                text.push_str(" The TLS 1.2 offer showed the certificate (TLS 1.3 encrypts it).");
            }
            for n in notes {
                text.push(' ');
                text.push_str(&n);
            }
        } else if find(findings, "certificate").is_some() {
            text.push_str(
                " The server did not show its certificate to a TLS 1.2 offer (TLS 1.3 encrypts it).",
            );
        }
        return c("tls_ok", format!("TLS to {to} works"), text);
    }
    let tls12 = find(findings, "tls12");
    let tls12_answer = tls12
        .filter(|f| f.attempt.answer.tls_answered())
        .and_then(|f| {
            let sh = f.attempt.answer.server_hello.as_ref()?;
            Some((sh.version(), sh.cipher_suite))
        });
    let first_offer = match a.plan.hello.captured {
        Some(_) => "the captured ClientHello",
        None => "the current offer",
    };
    let suite_gap = |suite: u16| {
        if a.plan.hello.cipher_suites().contains(&suite) {
            "a suite the first offer also had, so the version or another part of the offer (groups, \
             signature algorithms, extensions) is what the server objects to"
        } else {
            "a suite the first offer lacks: the server's cipher-suite policy is narrower than (or \
             older than) what current clients offer"
        }
    };
    if let Some(al) = a.answer.alert {
        let alert = alert_label(al.description);
        if al.description == 112 {
            return c(
                "offer_refused",
                format!("the server does not know the name{named}"),
                format!("{tcp_ok}. The server answered the ClientHello with alert {alert}: it has no certificate for that name. Check the name the client uses.{engine}"),
            );
        }
        if let Some((version, suite)) = tls12_answer {
            return c(
                "offer_refused_tls12_accepted",
                format!("the server refuses the client's offer (alert {alert}) but accepts TLS 1.2"),
                format!(
                    "{tcp_ok}. The server answered {first_offer}{named} with alert {alert}, but \
                     answered a broad TLS 1.2 offer with {}, {}: {}. This is a version or cipher-suite \
                     mismatch, not a firewall.{engine}",
                    version_str(version),
                    cipher_label(suite),
                    suite_gap(suite)
                ),
            );
        }
        return c(
            "offer_refused",
            format!("the server refuses the ClientHello (alert {alert})"),
            format!(
                "{tcp_ok}. The server answered the ClientHello{named} with alert {alert}{}. A TLS \
                 server is there, but it accepts neither offer: its version or cipher-suite policy, or \
                 another requirement of the handshake.{engine}",
                if tls12.is_some() {
                    ", and refused a broad TLS 1.2 offer too"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some(h) = &a.answer.http {
        return c(
            "http_answer",
            format!("HTTP instead of TLS: {}", h.status_line),
            format!(
                "{tcp_ok}, but the ClientHello was answered with \"{}\": a proxy or firewall answers in \
                 plain HTTP (a deny page: Azure Firewall sends HTTP 470), or a plain HTTP server listens \
                 on this port.{engine}",
                h.status_line
            ),
        );
    }
    if a.answer.not_tls.is_some() || a.answer.malformed.is_some() {
        return c(
            "not_tls",
            "the server does not speak TLS on this port".into(),
            format!(
                "{tcp_ok}, but the answer is not TLS: {}.{engine}",
                answer_text(a)
            ),
        );
    }
    // Nothing came back after the ClientHello.
    let how = end_text(a);
    if let Some(sm) = find(findings, "small_hello").filter(|f| tls_server_answered(&f.attempt)) {
        return c(
            "large_client_hello",
            "a large ClientHello is cut off; a small one gets through".to_string(),
            format!(
                "{tcp_ok}, but the {}ClientHello{named} of {} bytes ({}two TCP segments on an \
                 Ethernet path) got no TLS byte back ({how}), while {}, {} bytes, got an answer \
                 ({}). Something in the path handles only a \
                 ClientHello that fits one segment: a firewall, IPS or proxy that reads the first \
                 segment only, or an MTU problem that drops full-size packets. Fix or update the \
                 middlebox (or the path MTU); until then clients that send the large ClientHello \
                 fail, and older ones work.{engine}",
                if a.plan.hello.captured.is_some() {
                    "captured "
                } else {
                    ""
                },
                a.hello_len,
                if a.plan.hello.captured.is_some() {
                    ""
                } else {
                    "with the post-quantum key share X25519MLKEM768, as current browsers and \
                     OpenSSL 3.5 send it: "
                },
                if a.plan.hello.captured.is_some() {
                    "the probe's own offer in one segment"
                } else {
                    "the same offer without that share"
                },
                sm.attempt.hello_len,
                answer_text(&sm.attempt)
            ),
        );
    }
    if let Some(ctl) = find(findings, "control_name") {
        let control_sni = ctl.attempt.plan.hello.sni.as_deref().unwrap_or("none");
        if tls_server_answered(&ctl.attempt) {
            return c(
                "blocked_on_name",
                format!(
                    "blocked on the name{}",
                    sni.map(|n| format!(" {n}")).unwrap_or_default()
                ),
                format!(
                    "{tcp_ok}, but the ClientHello{named} got no TLS byte back ({how}), while the same \
                     offer with SNI {control_sni} got a TLS answer from the same address ({}). Something \
                     in the path reads the server name and blocks this one: an SNI-filtering firewall \
                     (Azure Firewall application rules, a proxy's deny list). Allow the name there; the \
                     cipher suites are not the problem.{engine}",
                    answer_text(&ctl.attempt)
                ),
            );
        }
        if let Some((version, suite)) = tls12_answer {
            return c(
                "offer_refused_tls12_accepted",
                "the server drops the client's offer but accepts TLS 1.2".to_string(),
                format!(
                    "{tcp_ok}. The current offer got no TLS byte back ({how}), with the real name and \
                     with {control_sni}, but a broad TLS 1.2 offer was answered with {}, {}: {}. Some \
                     servers (Windows SChannel among them) close instead of sending an alert.{engine}",
                    version_str(version),
                    cipher_label(suite),
                    suite_gap(suite)
                ),
            );
        }
        return c(
            "blocked_whatever_name",
            "every ClientHello is cut off after TCP connects".to_string(),
            format!(
                "{tcp_ok}, but no ClientHello got a TLS byte back: not with{named}, not with SNI \
                 {control_sni}{} ({how}). A firewall or proxy that completes TCP itself and then denies \
                 TLS to this destination whatever the name (Azure Firewall with no application rule \
                 allowing it, for instance), or a server that serves no TLS here. A TCP test cannot \
                 tell this from success.{engine}",
                if tls12.is_some() {
                    ", not with a broad TLS 1.2 offer"
                } else {
                    ""
                }
            ),
        );
    }
    c(
        "no_answer",
        "no TLS answer to the ClientHello".to_string(),
        format!("{tcp_ok}, but the ClientHello{named} got no TLS byte back ({how}).{engine}"),
    )
}

/// A TLS server answered this attempt (a ServerHello, a HelloRetryRequest or an alert).
fn tls_server_answered(a: &Attempt) -> bool {
    a.answer.tls_answered() || a.answer.alert.is_some()
}

/// The next attempt to make, given those made so far; `None`: enough. `agent` is the first
/// attempt's ClientHello.
fn next_plan(done: &[Attempt], agent: &HelloSpec, control: &str) -> Option<Plan> {
    let first = done.first()?;
    // Without TCP, or through a proxy that refused the CONNECT, no ClientHello went anywhere.
    if !first.tcp.connected() || (first.connect.is_some() && !first.answer.tunnel_open()) {
        return None;
    }
    let made = |name: &str| done.iter().any(|a| a.plan.name == name);
    let sni = agent.sni.clone();
    // (The probe's own offers: a captured ClientHello is sent first only.)
    let small = HelloSpec::built(Offer::Modern, sni.clone(), agent.alpn.clone(), false);
    let broad = HelloSpec::built(Offer::Tls12Broad, sni.clone(), agent.alpn.clone(), false);
    let ans = &first.answer;
    let tls12 = || Plan {
        name: "tls12",
        purpose: "a broad TLS 1.2 offer, to see whether the version or the cipher suites are what \
                  the server refuses"
            .into(),
        hello: broad.clone(),
    };
    if ans.tls_answered() {
        let tls13 = ans
            .server_hello
            .as_ref()
            .is_some_and(|s| s.version() >= 0x0304)
            || ans.hello_retry.is_some();
        return (tls13 && !made("certificate")).then(|| Plan {
            name: "certificate",
            purpose: "a TLS 1.2 offer, to see the certificate chain in clear (TLS 1.3 encrypts it)"
                .into(),
            hello: broad.clone(),
        });
    }
    if ans.alert.is_some() {
        return (!made("tls12") && ans.alert.is_some_and(|a| a.description != 112)).then(tls12);
    }
    if ans.http.is_some() || ans.not_tls.is_some() || ans.malformed.is_some() {
        return None;
    }
    // No TLS byte back. First: was it the size (a ClientHello over two segments)?
    if agent.large() && !made("small_hello") {
        return Some(Plan {
            name: "small_hello",
            purpose: match agent.captured {
                Some(_) => "the probe's own offer (TLS 1.3 and 1.2) in one TCP segment, to see \
                            whether the size of the ClientHello matters"
                    .into(),
                None => "the same offer without the post-quantum key share (one TCP segment), to \
                         see whether the size of the ClientHello matters"
                    .into(),
            },
            hello: small,
        });
    }
    if done
        .iter()
        .any(|a| a.plan.name == "small_hello" && tls_server_answered(a))
    {
        return None;
    }
    if !made("control_name") {
        let differs = sni
            .as_deref()
            .is_none_or(|s| !s.eq_ignore_ascii_case(control));
        if differs {
            return Some(Plan {
                name: "control_name",
                purpose: format!(
                    "the same offer with SNI {control}, to see whether the name matters"
                ),
                hello: HelloSpec {
                    sni: Some(control.to_string()),
                    ..small
                },
            });
        }
    }
    let control_answered = done
        .iter()
        .any(|a| a.plan.name == "control_name" && tls_server_answered(a));
    (!control_answered && !made("tls12")).then(tls12)
}

/// `host:port` as a CONNECT request names it (`[v6]:port`).
fn authority(t: &Target) -> String {
    if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    }
}

/// The addresses `target` resolves to: the first, and all of them.
fn resolve(t: &Target) -> anyhow::Result<(SocketAddr, Vec<SocketAddr>)> {
    let addrs: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, t.port)],
        Err(_) => (t.host.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|e| anyhow!("cannot resolve {}: {e}", t.host))?
            .collect(),
    };
    match addrs.first() {
        Some(&first) => Ok((first, addrs)),
        None => bail!("{} resolves to no address", t.host),
    }
}

/// The capture, as the report describes it.
struct CaptureInfo {
    /// Interface, when packets were captured.
    interface: Option<String>,
    packets: usize,
    dropped: u64,
    /// Why there is no capture, or what went wrong with it.
    problem: Option<String>,
    file: Option<PathBuf>,
}

impl CaptureInfo {
    /// No capture, and why.
    fn none(problem: String) -> CaptureInfo {
        CaptureInfo {
            interface: None,
            packets: 0,
            dropped: 0,
            problem: Some(problem),
            file: None,
        }
    }
}

/// Runs the probe; exit status 0 when TLS is reachable with the client's offer, 1 when not, 2 when
/// it could not run.
pub fn main(a: ProbeArgs) -> anyhow::Result<ExitCode> {
    if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= 600.0) {
        bail!("--timeout must be a number of seconds between 0 and 600");
    }
    let timeout = Duration::from_secs_f64(a.timeout);
    let captured = match &a.replay {
        Some(file) => Some(Arc::new(replay::from_capture(file, a.connection)?)),
        None => None,
    };
    let target = match (&a.target, &captured) {
        (Some(t), _) => parse_target(t).map_err(|e| anyhow!(e))?,
        (None, Some(c)) => replay::target(c),
        (None, None) => bail!("give the endpoint, HOST[:PORT], or --replay CAPTURE"),
    };
    // The proxy given, or the environment's (as curl reads it), unless told to go direct.
    let from_env = match (&a.proxy, a.no_proxy) {
        (None, false) => env_proxy(&target, |v| std::env::var(v).ok()),
        _ => None,
    };
    let proxy = a
        .proxy
        .as_ref()
        .map(|p| (p.clone(), "--proxy"))
        .or_else(|| from_env.clone());
    if let (Some((_, var)), true) = (&from_env, a.all_addresses) {
        bail!(
            "{var} names a proxy, which resolves the name itself: --all-addresses needs --no-proxy"
        );
    }
    let proxy_from = from_env.as_ref().map(|(_, var)| *var);
    // Through a proxy, the proxy resolves the name (as it does for a client configured with it).
    let (route, addrs) = match &proxy {
        Some((p, from)) => {
            let p = parse_proxy(p).map_err(|e| anyhow!("{from}: {e}"))?;
            let (addr, _) = resolve(&p).map_err(|e| anyhow!("{from}: {e}"))?;
            (
                Route {
                    addr,
                    connect: Some(authority(&target)),
                },
                Vec::new(),
            )
        }
        None => {
            let (addr, addrs) = resolve(&target)?;
            (
                Route {
                    addr,
                    connect: None,
                },
                addrs,
            )
        }
    };
    let sni: Option<String> = if let Some(c) = &captured {
        c.sni.clone()
    } else if a.no_sni {
        None
    } else {
        a.sni.clone().or_else(|| {
            target
                .host
                .parse::<IpAddr>()
                .is_err()
                .then(|| target.host.clone())
        })
    };
    // (A captured ClientHello carries its own ALPN; the probe's own offers carry this one.)
    let alpn: Vec<String> = a
        .alpn
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let agent = HelloSpec {
        pq: captured.as_ref().map_or(!a.no_pq, |c| c.post_quantum),
        captured,
        ..HelloSpec::built(Offer::Modern, sni.clone(), alpn, false)
    };
    let routes: Vec<Route> = if a.all_addresses && route.connect.is_none() {
        addrs
            .iter()
            .take(MAX_ADDRESSES)
            .map(|&addr| Route {
                addr,
                connect: None,
            })
            .collect()
    } else {
        vec![route]
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut all_ok = true;
    let several = routes.len() > 1;
    // With several addresses, connection ids go on from one address's section to the next, so
    // that they stay unique in the output.
    let mut id_offset = 0u64;
    for (n, route) in routes.iter().enumerate() {
        let (mut findings, info, files) = probe_route(&a, route, &agent, timeout)?;
        let mut last = id_offset;
        for (c, _) in findings.iter_mut().filter_map(|f| f.judged.as_mut()) {
            c.id += id_offset;
            last = last.max(c.id);
        }
        id_offset = last;
        let conclusion = conclude(&findings, sni.as_deref(), timeout);
        all_ok &= conclusion.kind == "tls_ok";
        // The header names the address probed first, then the others (none through a proxy).
        let shown: Vec<SocketAddr> = std::iter::once(route.addr)
            .chain(addrs.iter().copied().filter(|x| *x != route.addr))
            .filter(|_| route.connect.is_none())
            .collect();
        let probed = Probed {
            target: &target,
            proxy_from,
            addrs: &shown,
            findings: &findings,
            conclusion: &conclusion,
            info: &info,
            files: &files,
        };
        let res = if a.json {
            print_json(&mut out, &probed)
        } else {
            let section = match (several, n) {
                (false, _) => String::new(),
                (true, 0) => format!("== address 1 of {} ==\n", routes.len()),
                (true, _) => format!("\n== address {} of {} ==\n", n + 1, routes.len()),
            };
            out.write_all(section.as_bytes())
                .and_then(|()| print_text(&mut out, &probed, !a.no_ladder, timeout))
        };
        match res.and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::from(1)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::from(if all_ok { 0 } else { 1 }))
}

/// The attempts along one route, with their verdicts when the packets were captured.
fn probe_route(
    a: &ProbeArgs,
    route: &Route,
    agent: &HelloSpec,
    timeout: Duration,
) -> anyhow::Result<(Vec<Finding>, CaptureInfo, Vec<String>)> {
    let remote = route.addr;
    let filter = format!(
        "(tcp and host {} and port {}) or icmp or icmp6",
        remote.ip(),
        remote.port()
    );
    #[cfg(feature = "live")]
    let (capturer, mut info) = if a.no_capture {
        (
            None,
            CaptureInfo::none("not captured (--no-capture)".into()),
        )
    } else {
        match capture::start(&a.interface, &filter) {
            Ok(c) => (
                Some(c),
                CaptureInfo {
                    interface: Some(a.interface.clone()),
                    packets: 0,
                    dropped: 0,
                    problem: None,
                    file: a.write.clone(),
                },
            ),
            Err(e) => {
                if a.write.is_some() {
                    bail!("--write needs a packet capture, which failed: {e}");
                }
                (None, CaptureInfo::none(format!("not captured: {e}")))
            }
        }
    };
    #[cfg(not(feature = "live"))]
    let info = {
        if a.write.is_some() {
            bail!("--write needs packet capture: this tlsautopsy was built without the `live` feature");
        }
        let _ = &filter;
        CaptureInfo::none(if a.no_capture {
            "not captured (--no-capture)".into()
        } else {
            "not captured: this tlsautopsy was built without the `live` feature (libpcap)".into()
        })
    };

    let mut done: Vec<Attempt> = Vec::new();
    let first = Plan {
        name: "agent",
        purpose: match &agent.captured {
            Some(c) => c.source.clone(),
            None => "what a current client sends".into(),
        },
        hello: agent.clone(),
    };
    done.push(attempt::run(first, route, timeout));
    while !a.single && done.len() < 5 {
        match next_plan(&done, agent, &a.control_sni) {
            Some(p) => done.push(attempt::run(p, route, timeout)),
            None => break,
        }
    }

    let mut judged: Vec<(Box<Connection>, Verdict)> = Vec::new();
    #[cfg(feature = "live")]
    if let Some(cap) = capturer {
        // The last packets (the server's FIN or RST after the probe's) are on their way.
        std::thread::sleep(Duration::from_millis(150));
        let got = cap.stop();
        info.packets = got.packets.len();
        info.dropped = got.dropped;
        if let Some(e) = &got.error {
            info.problem = Some(format!("the capture stopped early: {e}"));
        } else if got.not_kept > 0 {
            info.problem = Some(format!(
                "{} packets were not kept (the probe keeps {} at most)",
                got.not_kept,
                capture::MAX_PACKETS
            ));
        }
        if let Some(path) = &a.write {
            write_pcapng(path, &got).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        }
        judged = judge_packets(&got, timeout);
    }
    let files = vec![info.file.as_ref().map_or_else(
        || format!("probe:{}", endpoint(&remote)),
        |p| p.display().to_string(),
    )];

    let mut findings: Vec<Finding> = Vec::new();
    for at in done {
        let idx = at.local.and_then(|l| {
            judged.iter().position(|(c, _)| {
                // By address and port only: an IPv6 scope or flow label is not on the wire.
                let (srv, peer) = (c.tcp.server, at.remote);
                c.tcp.client.port() == l.port()
                    && srv.ip() == peer.ip()
                    && srv.port() == peer.port()
            })
        });
        let j = idx.map(|i| judged.swap_remove(i));
        findings.push(Finding {
            attempt: at,
            judged: j,
        });
    }
    Ok((findings, info, files))
}

#[cfg(feature = "live")]
fn write_pcapng(path: &std::path::Path, got: &capture::Captured) -> io::Result<()> {
    use crate::live::pcapng_out::{IfaceDesc, PcapngWriter};
    let f = io::BufWriter::new(std::fs::File::create(path)?);
    let mut w = PcapngWriter::new(
        f,
        Some("tlsautopsy probe: the probe's own packets"),
        &[IfaceDesc {
            name: got.interface.clone(),
            link: got.link,
            snaplen: 65_535,
        }],
    )?;
    for p in &got.packets {
        w.packet(0, p.ts, p.origlen, &p.data)?;
    }
    w.flush()
}

/// The captured packets through the analyzer and the rules, as `analyze` runs them on a file.
#[cfg(feature = "live")]
fn judge_packets(got: &capture::Captured, timeout: Duration) -> Vec<(Box<Connection>, Verdict)> {
    use crate::analyze::{with_verdict, Analyzer, Options};
    use crate::capture::Frame;
    let mut opts = Options::default();
    // The probe waited `timeout` for each answer: a silence that long is a silence.
    opts.verdict.quiet_ns = u64::try_from(timeout.as_nanos() / 2).unwrap_or(u64::MAX);
    let mut analyzer = Analyzer::new(opts);
    let mut judged = Vec::new();
    let mut done = with_verdict(|c, v| judged.push((c, v)));
    for (i, p) in got.packets.iter().enumerate() {
        let frame = Frame {
            number: i as u64 + 1,
            ts: p.ts,
            link: got.link,
            interface: 0,
            origlen: p.origlen,
            data: &p.data,
        };
        analyzer.frame(0, &frame, &mut done);
    }
    analyzer.finish(&mut done);
    drop(done);
    judged
}

/// The `probe` JSON line (docs/json-schema.md), fields in schema order.
#[derive(Serialize)]
struct ProbeLine<'a> {
    schema: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    target: TargetJson,
    capture: CaptureJson,
    attempts: Vec<AttemptJson<'a>>,
    conclusion: ConclusionJson<'a>,
}

#[derive(Serialize)]
struct TargetJson {
    host: String,
    port: u16,
    address: Option<String>,
    addresses: Vec<String>,
    proxy: Option<String>,
    proxy_from: Option<String>,
}

#[derive(Serialize)]
struct CaptureJson {
    captured: bool,
    interface: Option<String>,
    packets: usize,
    dropped: u64,
    problem: Option<String>,
    file: Option<String>,
}

#[derive(Serialize)]
struct AttemptJson<'a> {
    name: &'static str,
    purpose: &'a str,
    offer: &'static str,
    post_quantum: bool,
    sni: Option<&'a str>,
    alpn: &'a [String],
    local_port: Option<u16>,
    tcp: &'static str,
    tcp_ms: Option<f64>,
    tcp_error: Option<&'a str>,
    client_hello_bytes: usize,
    received_bytes: usize,
    first_byte_ms: Option<f64>,
    end: &'static str,
    end_ms: Option<f64>,
    proxy: Option<ProxyJson<'a>>,
    server_hello: Option<ServerHelloJson>,
    alert: Option<AlertJson>,
    http_status: Option<u16>,
    http_status_line: Option<&'a str>,
    not_tls: Option<NotTlsJson<'a>>,
    certificates: Vec<CertJson<'a>>,
    connection_id: Option<u64>,
    outcome: Option<&'static str>,
    cause: Option<&'static str>,
}

#[derive(Serialize)]
struct ProxyJson<'a> {
    connect: &'a str,
    status: Option<u16>,
    status_line: Option<&'a str>,
}

#[derive(Serialize)]
struct ServerHelloJson {
    hello_retry_request: bool,
    version: String,
    cipher_suite: String,
    alpn: Option<String>,
}

#[derive(Serialize)]
struct AlertJson {
    name: &'static str,
    code: u8,
    level: u8,
}

#[derive(Serialize)]
struct NotTlsJson<'a> {
    looks_like: &'a str,
    excerpt: &'a str,
}

#[derive(Serialize)]
struct CertJson<'a> {
    subject: &'a str,
    issuer: &'a str,
    not_before: i64,
    not_after: i64,
    san: &'a [String],
    self_signed: bool,
}

#[derive(Serialize)]
struct ConclusionJson<'a> {
    kind: &'static str,
    headline: &'a str,
    text: &'a str,
}

/// Milliseconds with microsecond precision.
fn json_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn attempt_json(f: &Finding) -> AttemptJson<'_> {
    let a = &f.attempt;
    let ans = &a.answer;
    let (tcp_ms, tcp_error) = match &a.tcp {
        TcpOutcome::Connected { after }
        | TcpOutcome::Refused { after }
        | TcpOutcome::TimedOut { after } => (Some(json_ms(*after)), None),
        TcpOutcome::Unreachable { after, error } => (Some(json_ms(*after)), Some(error.as_str())),
        TcpOutcome::Failed { error } => (None, Some(error.as_str())),
    };
    let end_ms = match &a.end {
        End::ServerClosed { after } | End::ServerReset { after } => Some(json_ms(*after)),
        End::Silence { waited } => Some(json_ms(*waited)),
        _ => None,
    };
    let sh = ans.server_hello.as_ref().or(ans.hello_retry.as_ref());
    AttemptJson {
        name: a.plan.name,
        purpose: &a.plan.purpose,
        offer: a.plan.hello.offer_name(),
        post_quantum: a.plan.hello.pq && a.plan.hello.offer == Offer::Modern,
        sni: a.plan.hello.sni.as_deref(),
        alpn: a.plan.hello.sent_alpn(),
        local_port: a.local.map(|l| l.port()),
        tcp: a.tcp.as_str(),
        tcp_ms,
        tcp_error,
        client_hello_bytes: a.hello_len,
        received_bytes: a.received,
        first_byte_ms: a.first_byte_after.map(json_ms),
        end: a.end.as_str(),
        end_ms,
        proxy: a.connect.as_deref().map(|connect| ProxyJson {
            connect,
            status: ans.proxy.as_ref().map(|r| r.status),
            status_line: ans.proxy.as_ref().map(|r| r.status_line.as_str()),
        }),
        server_hello: sh.map(|s| ServerHelloJson {
            hello_retry_request: s.hello_retry_request,
            version: version_str(s.version()).into_owned(),
            cipher_suite: cipher_label(s.cipher_suite),
            alpn: s.alpn.clone(),
        }),
        alert: ans.alert.map(|al| AlertJson {
            name: crate::tls::names::alert_name(al.description).unwrap_or("unknown"),
            code: al.description,
            level: al.level,
        }),
        http_status: ans.http.as_ref().map(|h| h.status),
        http_status_line: ans.http.as_ref().map(|h| h.status_line.as_str()),
        not_tls: ans.not_tls.as_ref().map(|n| NotTlsJson {
            looks_like: &n.looks_like,
            excerpt: &n.excerpt,
        }),
        certificates: ans
            .certificates
            .iter()
            .map(|c| CertJson {
                subject: &c.subject,
                issuer: &c.issuer,
                not_before: c.not_before,
                not_after: c.not_after,
                san: &c.san,
                self_signed: c.self_issued,
            })
            .collect(),
        connection_id: f.judged.as_ref().map(|(c, _)| c.id),
        outcome: f.judged.as_ref().map(|(_, v)| v.outcome.as_str()),
        cause: f.judged.as_ref().map(|(_, v)| v.cause.as_str()),
    }
}

/// The verdicts of the attempts' connections, through `sink` (the `analyze` printers).
fn print_judged<'f>(
    sink: &mut dyn ReportSink,
    findings: impl IntoIterator<Item = &'f Finding>,
    files: &[String],
) -> io::Result<()> {
    for f in findings {
        if let Some((conn, verdict)) = &f.judged {
            sink.connection(&ConnReport {
                conn,
                verdict,
                files,
                json_tail: None,
            })?;
        }
    }
    Ok(())
}

/// One address's probe, as the printers show it.
#[derive(Clone, Copy)]
struct Probed<'a> {
    target: &'a Target,
    /// The environment variable that named the proxy, if one did.
    proxy_from: Option<&'a str>,
    /// The address probed, then the others the name resolves to (none through a proxy).
    addrs: &'a [SocketAddr],
    findings: &'a [Finding],
    conclusion: &'a Conclusion,
    info: &'a CaptureInfo,
    /// The names of the packet files the verdicts cite.
    files: &'a [String],
}

impl Probed<'_> {
    /// The proxy the attempts went through (its CONNECT), if they did.
    fn proxy(&self) -> Option<SocketAddr> {
        self.findings
            .first()
            .filter(|f| f.attempt.connect.is_some())
            .map(|f| f.attempt.remote)
    }
}

fn print_json(out: &mut dyn Write, probed: &Probed<'_>) -> io::Result<()> {
    let (addrs, findings, info, conclusion) = (
        probed.addrs,
        probed.findings,
        probed.info,
        probed.conclusion,
    );
    print_judged(
        &mut crate::report::json::JsonLinesReport::new(&mut *out),
        findings,
        probed.files,
    )?;
    let line = ProbeLine {
        schema: 1,
        kind: "probe",
        target: TargetJson {
            host: probed.target.host.clone(),
            port: probed.target.port,
            address: addrs.first().map(|a| a.ip().to_string()),
            addresses: addrs.iter().map(|a| a.ip().to_string()).collect(),
            proxy: probed.proxy().map(|a| endpoint(&a)),
            proxy_from: probed.proxy_from.map(str::to_string),
        },
        capture: CaptureJson {
            captured: info.interface.is_some(),
            interface: info.interface.clone(),
            packets: info.packets,
            dropped: info.dropped,
            problem: info.problem.clone(),
            file: info.file.as_ref().map(|p| p.display().to_string()),
        },
        attempts: findings.iter().map(attempt_json).collect(),
        conclusion: ConclusionJson {
            kind: conclusion.kind,
            headline: &conclusion.headline,
            text: &conclusion.text,
        },
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

fn print_text(
    out: &mut dyn Write,
    probed: &Probed<'_>,
    ladder: bool,
    timeout: Duration,
) -> io::Result<()> {
    let Probed {
        target,
        proxy_from,
        addrs,
        findings,
        conclusion,
        info,
        files,
    } = *probed;
    let mut ips = addrs.iter().map(|a| a.ip().to_string());
    write!(out, "probe {} port {}", target.host, target.port)?;
    if let Some(proxy) = probed.proxy() {
        write!(
            out,
            " through the proxy {} (which resolves the name",
            endpoint(&proxy)
        )?;
        match proxy_from {
            Some(var) => write!(out, "; from {var}, --no-proxy to go direct)")?,
            None => write!(out, ")")?,
        }
    }
    if let Some(first) = ips.next() {
        write!(out, ": {first}")?;
    }
    if addrs.len() > 1 {
        let others: Vec<String> = ips.collect();
        write!(
            out,
            " (first of {}; also {})",
            addrs.len(),
            others.join(", ")
        )?;
    }
    writeln!(out)?;
    match &info.interface {
        Some(i) => {
            write!(out, "packets: {} captured on {i}", info.packets)?;
            if let Some(f) = &info.file {
                write!(
                    out,
                    ", saved to {} (the frame numbers below are its own)",
                    f.display()
                )?;
            }
            if info.dropped > 0 {
                write!(out, "; {} dropped by the capture", info.dropped)?;
            }
            if let Some(p) = &info.problem {
                write!(out, "; {p}")?;
            }
            writeln!(out)?;
        }
        None => {
            let problem = info.problem.as_deref().unwrap_or("not captured");
            write!(
                out,
                "packets: {problem}; what follows is what the sockets saw"
            )?;
            if !problem.contains("--no-capture") {
                write!(
                    out,
                    " (run as root, or give the binary CAP_NET_RAW, for the packet evidence)"
                )?;
            }
            writeln!(out)?;
        }
    }
    for (n, f) in findings.iter().enumerate() {
        let a = &f.attempt;
        let h = &a.plan.hello;
        writeln!(out)?;
        writeln!(
            out,
            "{}. {}: {} ({}; SNI {}; ALPN {})",
            n + 1,
            a.plan.name,
            a.plan.purpose,
            h.describe(),
            h.sni.as_deref().unwrap_or("none"),
            match h.sent_alpn() {
                [] => "none".to_string(),
                few @ [_, _, _] | few @ [_, _] | few @ [_] => few.join(","),
                many => format!("{},... ({} in all)", many[..3].join(","), many.len()),
            }
        )?;
        write!(out, "   TCP      {}", tcp_text(&a.tcp, timeout))?;
        if let Some(l) = a.local {
            write!(out, " (from port {})", l.port())?;
        }
        writeln!(out)?;
        if a.tcp.connected() {
            if let Some(target) = &a.connect {
                write!(out, "   proxy    CONNECT {target}: ")?;
                match &a.answer.proxy {
                    Some(r) => writeln!(out, "\"{}\"", r.status_line)?,
                    None => writeln!(out, "no answer")?,
                }
            }
            if a.hello_len > 0 {
                writeln!(out, "   sent     ClientHello, {} bytes", a.hello_len)?;
            }
            if a.hello_len > 0 || a.connect.is_none() {
                writeln!(out, "   answer   {}", answer_text(a))?;
            }
            writeln!(out, "   end      {}", end_text(a))?;
        }
        if let Some(p) = verdict_phrase(f) {
            writeln!(out, "   verdict  {p}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Conclusion: {}", conclusion.headline)?;
    for line in wrap(&conclusion.text, 98) {
        writeln!(out, "  {line}")?;
    }
    // The packet evidence of what failed (not of the attempts the probe ended itself).
    let failed: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.judged.as_ref().is_some_and(|(_, v)| {
                v.outcome.class() != OutcomeClass::Ok && f.attempt.end != End::ProbeStopped
            })
        })
        .collect();
    if !failed.is_empty() {
        writeln!(out)?;
        writeln!(out, "Packet evidence:")?;
        let mut sink = crate::report::text::TextReport::new(&mut *out, true, ladder);
        print_judged(&mut sink, failed, files)?;
    }
    Ok(())
}

/// Words of `s` in lines of at most `width` characters.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in s.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// The environment's proxy, as curl reads it: the variables in curl's order, NO_PROXY's
    /// names (with their subdomains), addresses and networks, `*`.
    #[test]
    fn the_environment_proxy_is_read_as_curl_reads_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |v: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == v)
                    .map(|(_, x)| x.to_string())
            }
        };
        let t = |h: &str| parse_target(h).unwrap();
        let p = &[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("ALL_PROXY", "other:1"),
        ];
        assert_eq!(
            env_proxy(&t("global.handler.control.monitor.azure.com"), env(p)),
            Some(("http://proxy:3128".to_string(), "HTTPS_PROXY"))
        );
        let lower = &[("https_proxy", "a:1"), ("HTTPS_PROXY", "b:2")];
        assert_eq!(
            env_proxy(&t("x.test"), env(lower)).unwrap().1,
            "https_proxy"
        );
        assert_eq!(
            env_proxy(&t("x.test"), env(&[("ALL_PROXY", "c:3")]))
                .unwrap()
                .1,
            "ALL_PROXY"
        );
        assert_eq!(env_proxy(&t("x.test"), env(&[("HTTPS_PROXY", " ")])), None);
        assert_eq!(env_proxy(&t("x.test"), env(&[])), None);
        let np = &[
            ("HTTPS_PROXY", "proxy:3128"),
            (
                "NO_PROXY",
                "localhost, .internal.example,10.0.0.0/8,::1,169.254.169.254",
            ),
        ];
        for (host, direct) in [
            ("localhost", true),
            ("a.internal.example", true),
            ("internal.example", true),
            ("notinternal.example", false),
            ("10.1.2.3", true),
            ("11.1.2.3", false),
            ("[::1]:443", true),
            ("169.254.169.254", true),
            ("global.handler.control.monitor.azure.com", false),
        ] {
            assert_eq!(env_proxy(&t(host), env(np)).is_none(), direct, "{host}");
        }
        assert!(no_proxy_matches("*", "anything.test"));
        assert!(!no_proxy_matches("", "anything.test"));
        assert!(!no_proxy_matches("3.4", "1.2.3.4"), "addresses match whole");
        assert!(no_proxy_matches("0.0.0.0/0", "1.2.3.4"));
        assert!(!no_proxy_matches("10.0.0.0/33", "10.0.0.1"));
    }

    #[test]
    fn proxies_parse_with_curls_default_port_and_without_credentials() {
        let hp = |s: &str| parse_proxy(s).map(|t| (t.host, t.port));
        assert_eq!(hp("proxy:3128"), Ok(("proxy".into(), 3128)));
        assert_eq!(hp("http://proxy:3128/"), Ok(("proxy".into(), 3128)));
        assert_eq!(hp("HTTP://proxy"), Ok(("proxy".into(), 1080)));
        assert_eq!(
            hp("http://user:secret@proxy:8080"),
            Ok(("proxy".into(), 8080))
        );
        assert_eq!(hp("http://user:secret@proxy"), Ok(("proxy".into(), 1080)));
        assert_eq!(hp("[2001:db8::1]:3128"), Ok(("2001:db8::1".into(), 3128)));
        assert_eq!(hp("2001:db8::1"), Ok(("2001:db8::1".into(), 1080)));
        for bad in ["socks5://proxy:1080", "https://proxy:443"] {
            let e = parse_proxy(bad).unwrap_err();
            assert!(e.contains("plain HTTP") && e.contains("--no-proxy"), "{e}");
        }
    }

    #[test]
    fn targets_parse_as_test_netconnection_and_urls_give_them() {
        let t = |s: &str| parse_target(s).unwrap();
        assert_eq!(
            t("example.com"),
            Target {
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(t("example.com:8443").port, 8443);
        assert_eq!(t("https://example.com/ping?x=1").host, "example.com");
        assert_eq!(t("http://example.com").port, 80);
        assert_eq!(t("https://user@example.com:444/").port, 444);
        assert_eq!(
            t("[2001:db8::1]:8443"),
            Target {
                host: "2001:db8::1".into(),
                port: 8443
            }
        );
        assert_eq!(t("2001:db8::1").port, 443);
        assert_eq!(t("[::1]").host, "::1");
        assert!(parse_target("example.com:0").is_err());
        assert!(parse_target("example.com:99999").is_err());
        assert!(parse_target("ftp://example.com").is_err());
        assert!(parse_target(":443").is_err());
        assert!(parse_target("[::1").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_target_text_parses_or_is_refused_without_panicking(s in "\\PC{0,40}") {
            if let Ok(t) = parse_target(&s) {
                proptest::prop_assert!(!t.host.is_empty() && t.port > 0);
            }
        }
    }

    #[test]
    fn certificate_names_match_like_a_client_checks_them() {
        assert!(name_matches(
            "*.monitor.azure.com",
            "global.monitor.azure.com"
        ));
        assert!(!name_matches(
            "*.monitor.azure.com",
            "a.b.monitor.azure.com"
        ));
        assert!(!name_matches("*.monitor.azure.com", "monitor.azure.com"));
        assert!(name_matches("Example.COM", "example.com"));
    }

    #[test]
    fn text_wraps_on_words() {
        let w = wrap("aaa bbb ccc ddd", 7);
        assert_eq!(w, vec!["aaa bbb", "ccc ddd"]);
    }
}
