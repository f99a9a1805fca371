//! One attempt: a TCP connection from a port of its own, one ClientHello, and what came back, as
//! the socket saw it. The bytes the server sends are read by the same TLS observer as captures are
//! ([`TlsSession`]), which says when the server has answered (a ServerHello and, in TLS 1.2, its
//! whole first flight; a HelloRetryRequest; an alert; HTTP or other bytes instead of TLS). The
//! probe then stops: it never finishes a handshake, so it needs no keys and sends no data.
//!
//! Through an HTTP proxy ([`Route::connect`]), the attempt first asks it to `CONNECT` to the
//! endpoint; the ClientHello goes into the tunnel only after a 2xx answer, and a refusal (403, 407,
//! a deny page) is the attempt's answer.
//!
//! Every wait is bounded by the attempt's timeout; after the answer, the probe lingers a moment to
//! see how the server ends the connection, then closes its side with a FIN.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::hello::{HelloSpec, Nonces};
use crate::tcp::Direction;
use crate::tls::{
    Alert, CertInfo, HttpResponse, NotTls, ServerHello, TlsEvent, TlsEventKind, TlsSession,
};

/// After the answer: how long the probe keeps reading to see how the server ends the connection.
const LINGER: Duration = Duration::from_millis(300);
/// After the probe's FIN: how long it keeps reading for the server's own close.
const AFTER_FIN: Duration = Duration::from_millis(200);
/// Bytes read from the server at most (a deny page, a certificate chain).
const MAX_READ: usize = 256 * 1024;

/// Where an attempt connects: the endpoint itself, or an HTTP proxy asked to CONNECT to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The TCP peer: the endpoint, or the proxy.
    pub addr: SocketAddr,
    /// Through a proxy: the `host:port` of the CONNECT request.
    pub connect: Option<String>,
}

/// What one attempt sends, and why.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Short name (JSON): `agent`, `control_name`, `tls12`, `certificate`.
    pub name: &'static str,
    /// Why the probe sends it, for the report.
    pub purpose: String,
    pub hello: HelloSpec,
}

/// How the TCP connection went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOutcome {
    /// Connected (the SYN was answered by a SYN-ACK), after this long.
    Connected { after: Duration },
    /// Refused: a RST answered the SYN.
    Refused { after: Duration },
    /// No answer to the SYN (and its retransmissions) within the timeout.
    TimedOut { after: Duration },
    /// An ICMP error said the host or network cannot be reached.
    Unreachable { after: Duration, error: String },
    /// Any other error (no route, address in use...).
    Failed { error: String },
}

impl TcpOutcome {
    pub fn connected(&self) -> bool {
        matches!(self, TcpOutcome::Connected { .. })
    }

    /// The name in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            TcpOutcome::Connected { .. } => "connected",
            TcpOutcome::Refused { .. } => "refused",
            TcpOutcome::TimedOut { .. } => "timed_out",
            TcpOutcome::Unreachable { .. } => "unreachable",
            TcpOutcome::Failed { .. } => "failed",
        }
    }
}

/// How the connection ended, after the ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed it (FIN), this long after the ClientHello.
    ServerClosed { after: Duration },
    /// The server reset it, this long after the ClientHello.
    ServerReset { after: Duration },
    /// Nothing more came for the whole timeout: the probe gave up and closed.
    Silence { waited: Duration },
    /// The server had answered; the probe closed the connection itself.
    ProbeStopped,
    /// The ClientHello could not be sent.
    SendFailed { error: String },
    /// A read failed otherwise.
    ReadFailed { error: String },
    /// No TCP connection, so no ClientHello.
    NotConnected,
}

impl End {
    /// The name in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            End::ServerClosed { .. } => "server_closed",
            End::ServerReset { .. } => "server_reset",
            End::Silence { .. } => "silence",
            End::ProbeStopped => "probe_stopped",
            End::SendFailed { .. } => "send_failed",
            End::ReadFailed { .. } => "read_failed",
            End::NotConnected => "not_connected",
        }
    }
}

/// What the server's bytes were, as the TLS observer read them.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// Through a proxy: its answer to the CONNECT request (`None`: none came).
    pub proxy: Option<HttpResponse>,
    pub server_hello: Option<ServerHello>,
    pub hello_retry: Option<ServerHello>,
    /// TLS 1.2 only (TLS 1.3 encrypts the Certificate message).
    pub certificates: Vec<CertInfo>,
    /// The first alert the server sent.
    pub alert: Option<Alert>,
    pub http: Option<HttpResponse>,
    pub not_tls: Option<NotTls>,
    /// The server's bytes claimed to be TLS but were malformed.
    pub malformed: Option<String>,
}

impl Answer {
    /// A TLS server answered the ClientHello with a ServerHello or a HelloRetryRequest.
    pub fn tls_answered(&self) -> bool {
        self.server_hello.is_some() || self.hello_retry.is_some()
    }

    /// Through a proxy: it answered the CONNECT with a 2xx, so the tunnel is open.
    pub fn tunnel_open(&self) -> bool {
        self.proxy
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status))
    }
}

/// One attempt, as the socket saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub plan: Plan,
    /// The TCP peer (the endpoint, or the proxy).
    pub remote: SocketAddr,
    /// Through a proxy: the CONNECT target.
    pub connect: Option<String>,
    /// The probe's address and port (the port is bound before connecting, so it is known even when
    /// the connection fails): how the attempt is found in the capture.
    pub local: Option<SocketAddr>,
    pub tcp: TcpOutcome,
    /// ClientHello bytes sent (0 when none was).
    pub hello_len: usize,
    /// Bytes the server sent.
    pub received: usize,
    /// The server's first byte, after the ClientHello.
    pub first_byte_after: Option<Duration>,
    pub answer: Answer,
    pub end: End,
}

fn classify_connect_error(e: &io::Error, after: Duration) -> TcpOutcome {
    // EHOSTUNREACH (113), ENETUNREACH (101) on Linux: an ICMP error, or no route at all.
    let unreachable = matches!(
        e.kind(),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable
    ) || matches!(e.raw_os_error(), Some(101 | 113));
    match e.kind() {
        io::ErrorKind::TimedOut => TcpOutcome::TimedOut { after },
        io::ErrorKind::ConnectionRefused => TcpOutcome::Refused { after },
        _ if unreachable => TcpOutcome::Unreachable {
            after,
            error: e.to_string(),
        },
        _ => TcpOutcome::Failed {
            error: e.to_string(),
        },
    }
}

/// A socket bound to an ephemeral port of its own, then connected.
fn connect(
    remote: SocketAddr,
    timeout: Duration,
) -> (
    Option<SocketAddr>,
    Result<(TcpStream, Duration), TcpOutcome>,
) {
    let failed = |e: io::Error| TcpOutcome::Failed {
        error: e.to_string(),
    };
    let sock = match Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    ) {
        Ok(s) => s,
        Err(e) => return (None, Err(failed(e))),
    };
    let any: SocketAddr = if remote.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    if let Err(e) = sock.bind(&any.into()) {
        return (None, Err(failed(e)));
    }
    let bound = sock.local_addr().ok().and_then(|a| a.as_socket());
    let t0 = Instant::now();
    if let Err(e) = sock.connect_timeout(&remote.into(), timeout) {
        return (bound, Err(classify_connect_error(&e, t0.elapsed())));
    }
    let after = t0.elapsed();
    let local = sock.local_addr().ok().and_then(|a| a.as_socket()).or(bound);
    let stream: TcpStream = sock.into();
    let _ = stream.set_nodelay(true);
    (local, Ok((stream, after)))
}

/// Has the server said enough for the probe to stop? `events` are the ones just emitted.
fn answered(s: &TlsSession, events: &[TlsEvent]) -> bool {
    if s.hello_retry().is_some() {
        return true;
    }
    if s.server_hello().is_some_and(|sh| sh.version() >= 0x0304) {
        return true;
    }
    events.iter().any(|e| {
        e.dir == Direction::ToClient
            && match &e.kind {
                // ServerHelloDone ends a TLS 1.2 server's first flight.
                TlsEventKind::Handshake(14) => true,
                TlsEventKind::Alert(_)
                | TlsEventKind::HttpResponse(_)
                | TlsEventKind::NotTls(_)
                | TlsEventKind::Malformed(_)
                | TlsEventKind::LostSync
                | TlsEventKind::EncryptedRecord { .. }
                | TlsEventKind::ChangeCipherSpec => true,
                _ => false,
            }
    })
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// What one read brought.
enum Got {
    /// Bytes, counted and fed to the observer (its new events are in `events`).
    Bytes,
    Closed,
    Reset,
    /// Nothing before the limit.
    Timeout,
    Failed(String),
}

/// One read of the server's bytes, waiting until `limit` at most.
fn read_until(
    stream: &mut TcpStream,
    limit: Instant,
    buf: &mut [u8],
    session: &mut TlsSession,
    at: &mut Attempt,
    events: &mut Vec<TlsEvent>,
) -> Got {
    let now = Instant::now();
    if now >= limit {
        return Got::Timeout;
    }
    if stream.set_read_timeout(Some(limit - now)).is_err() {
        return Got::Failed("cannot set a read timeout".to_string());
    }
    match stream.read(buf) {
        Ok(0) => Got::Closed,
        Ok(n) => {
            at.received += n;
            session.feed(
                Direction::ToClient,
                buf.get(..n).unwrap_or_default(),
                events,
            );
            Got::Bytes
        }
        Err(e) if is_timeout(&e) => Got::Timeout,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Got::Reset,
        Err(e) => Got::Failed(e.to_string()),
    }
}

/// Through a proxy: sends the CONNECT request and reads the answer's head. `None`: the tunnel
/// is open (2xx); otherwise how the exchange ended (the answer, if any, is in `at.answer.proxy`).
fn open_tunnel(
    stream: &mut TcpStream,
    target: &str,
    session: &mut TlsSession,
    at: &mut Attempt,
    timeout: Duration,
) -> Option<End> {
    let req = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: tlsautopsy-probe\r\n\r\n"
    );
    let mut events = Vec::new();
    session.feed(Direction::ToServer, req.as_bytes(), &mut events);
    if let Err(e) = stream.write_all(req.as_bytes()) {
        return Some(End::SendFailed {
            error: e.to_string(),
        });
    }
    let sent = Instant::now();
    let limit = sent + timeout;
    // Byte by byte: the answer's head is small, and a byte past it would be the server's.
    let mut buf = [0u8; 1];
    loop {
        if Instant::now() >= limit {
            return Some(End::Silence {
                waited: sent.elapsed(),
            });
        }
        match read_until(stream, limit, &mut buf, session, at, &mut events) {
            Got::Bytes => {
                events.clear();
                if let Some(r) = session.connect_response() {
                    at.answer.proxy = Some(r.clone());
                    if (200..300).contains(&r.status) {
                        return None;
                    }
                    // Refused: the rest is the proxy's page and its close.
                    return Some(linger_to_end(stream, session, at, sent));
                }
                if session.not_tls(Direction::ToClient).is_some() {
                    // Not HTTP: not a proxy (the conclusion shows what came).
                    return Some(linger_to_end(stream, session, at, sent));
                }
                if at.received >= 16 * 1024 {
                    return Some(End::ProbeStopped);
                }
            }
            Got::Timeout => {}
            Got::Closed => {
                at.answer.proxy = session.connect_response().cloned();
                return Some(End::ServerClosed {
                    after: sent.elapsed(),
                });
            }
            Got::Reset => {
                return Some(End::ServerReset {
                    after: sent.elapsed(),
                })
            }
            Got::Failed(error) => return Some(End::ReadFailed { error }),
        }
    }
}

/// After a refusal: reads (the page) until the peer closes, or for [`LINGER`]; times from `sent`.
fn linger_to_end(
    stream: &mut TcpStream,
    session: &mut TlsSession,
    at: &mut Attempt,
    sent: Instant,
) -> End {
    let limit = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut events = Vec::new();
    loop {
        if Instant::now() >= limit {
            return End::ProbeStopped;
        }
        match read_until(stream, limit, &mut buf, session, at, &mut events) {
            Got::Bytes => events.clear(),
            Got::Timeout => {}
            Got::Closed => {
                return End::ServerClosed {
                    after: sent.elapsed(),
                }
            }
            Got::Reset => {
                return End::ServerReset {
                    after: sent.elapsed(),
                }
            }
            Got::Failed(_) => return End::ProbeStopped,
        }
    }
}

/// Runs one attempt along `route`; `timeout` bounds the connect, the proxy's answer and the wait
/// for an answer to the ClientHello.
pub fn run(plan: Plan, route: &Route, timeout: Duration) -> Attempt {
    let remote = route.addr;
    let (local, stream) = connect(remote, timeout);
    let mut at = Attempt {
        plan,
        remote,
        connect: route.connect.clone(),
        local,
        tcp: TcpOutcome::Failed {
            error: String::new(),
        },
        hello_len: 0,
        received: 0,
        first_byte_after: None,
        answer: Answer::default(),
        end: End::NotConnected,
    };
    let mut stream = match stream {
        Ok((s, after)) => {
            at.tcp = TcpOutcome::Connected { after };
            s
        }
        Err(outcome) => {
            at.tcp = outcome;
            return at;
        }
    };
    let mut session = TlsSession::new();
    if let Some(target) = &route.connect {
        if let Some(end) = open_tunnel(&mut stream, target, &mut session, &mut at, timeout) {
            at.end = end;
            close_gently(&mut stream, &at.end);
            return at;
        }
    }
    let hello = at.plan.hello.records(&Nonces::fresh());
    let mut events = Vec::new();
    session.feed(Direction::ToServer, &hello, &mut events);
    events.clear();
    if let Err(e) = stream.write_all(&hello) {
        at.end = End::SendFailed {
            error: e.to_string(),
        };
        return at;
    }
    at.hello_len = hello.len();
    let sent = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    let mut done: Option<Instant> = None;
    let end = loop {
        let limit = done.map_or(sent + timeout, |d| d + LINGER);
        if Instant::now() >= limit {
            break match done {
                Some(_) => End::ProbeStopped,
                None => End::Silence {
                    waited: sent.elapsed(),
                },
            };
        }
        match read_until(
            &mut stream,
            limit,
            &mut buf,
            &mut session,
            &mut at,
            &mut events,
        ) {
            Got::Bytes => {
                at.first_byte_after.get_or_insert_with(|| sent.elapsed());
                for e in events.iter().filter(|e| e.dir == Direction::ToClient) {
                    match &e.kind {
                        TlsEventKind::Alert(a) => {
                            at.answer.alert.get_or_insert(*a);
                        }
                        TlsEventKind::Malformed(m) => {
                            at.answer.malformed.get_or_insert_with(|| m.clone());
                        }
                        _ => {}
                    }
                }
                if done.is_none() && answered(&session, &events) {
                    done = Some(Instant::now());
                }
                events.clear();
                if at.received >= MAX_READ {
                    break End::ProbeStopped;
                }
            }
            Got::Timeout => {}
            Got::Closed => {
                break End::ServerClosed {
                    after: sent.elapsed(),
                }
            }
            Got::Reset => {
                break End::ServerReset {
                    after: sent.elapsed(),
                }
            }
            Got::Failed(error) => break End::ReadFailed { error },
        }
    };
    at.end = end;
    at.answer.server_hello = session.server_hello().cloned();
    at.answer.hello_retry = session.hello_retry().cloned();
    at.answer.certificates = session.certificates().to_vec();
    // Through a proxy, the HTTP response the observer keeps is the proxy's 2xx to the CONNECT:
    // an HTTP answer inside the tunnel is the one after it.
    at.answer.http = session
        .http_response()
        .filter(|h| route.connect.is_none() || Some(*h) != session.connect_response())
        .cloned();
    at.answer.not_tls = session.not_tls(Direction::ToClient).cloned();
    close_gently(&mut stream, &at.end);
    at
}

/// When the probe ends the connection (the server answered, or never did): close our side and
/// give the server a moment to close its own, so that a capture shows how it really ended.
fn close_gently(stream: &mut TcpStream, end: &End) {
    if !matches!(end, End::ProbeStopped | End::Silence { .. }) {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + AFTER_FIN;
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= until || stream.set_read_timeout(Some(until - now)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
}
