//! `tlsautopsy live` on real interfaces: the command line, libpcap (immediate mode, a large kernel
//! buffer, nanosecond stamps on Linux) and a tokio loop in which packets, the clock, signals and the
//! output run together.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use clap::Args;
use futures_util::stream::{select_all, SelectAll, Stream, StreamExt};
use pcap::{Active, Capture, Packet, PacketCodec, PacketStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;

use super::engine::{Engine, EngineOptions, IfaceStats, Interface, StopReason};
use crate::analyze::Options;
use crate::capture::{LinkType, Timestamp};
use crate::report::anonymize::AnonWriter;
use crate::report::json::JsonLinesReport;
use crate::report::text::TextReport;
use crate::report::ReportSink;
use crate::run::link_name;

/// The capture filter when `--filter` is not given: TCP, plus the ICMP errors that answer it
/// (unreachable, time exceeded), which verdicts tie to the SYN they quote.
pub const DEFAULT_FILTER: &str = "tcp or icmp or icmp6";

/// How often the clock judges connections whose fate is known without more packets.
const TICK: Duration = Duration::from_millis(100);
/// How often libpcap's drop counters are read.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// `tlsautopsy live` flags.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (`any`: all of them, Linux); repeat for several.
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        required_unless_present = "list_interfaces"
    )]
    pub interfaces: Vec<String>,
    /// Capture filter in libpcap (tcpdump) syntax, compiled by libpcap.
    #[arg(long, value_name = "BPF", default_value = DEFAULT_FILTER)]
    pub filter: String,
    /// List the interfaces libpcap can capture on, and exit.
    #[arg(long)]
    pub list_interfaces: bool,
    /// JSON lines (schema in docs/json-schema.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print healthy connections too (text and JSON).
    #[arg(long)]
    pub all: bool,
    /// Do not draw ladder diagrams (text output).
    #[arg(long)]
    pub no_ladder: bool,
    /// Seconds without an answer to a SYN or a ClientHello before the silence is reported.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub quiet_time: f64,
    /// Seconds after a connection's close (RST, FIN, fatal alert) before it is judged, for its last packets.
    #[arg(long, value_name = "SECS", default_value_t = 0.5)]
    pub close_grace: f64,
    /// Connections tracked at once; beyond it the least recently active are judged early (and counted).
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub max_connections: usize,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many verdicts have been printed.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Save every captured packet to this pcapng file (verdicts then cite its frame numbers).
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// With --write: start a new file (FILE-1.pcapng, FILE-2.pcapng, ...) when one reaches this size.
    #[arg(long, value_name = "MB", requires = "write")]
    pub rotate_mb: Option<u64>,
    /// Save the packets of failed connections to this pcapng file when the capture stops, redacted
    /// as `analyze --evidence` does, with comments on the packets that prove each verdict (until
    /// then they are kept in FILE.pcapng.partial, readable by the owner only).
    #[arg(long, value_name = "FILE.pcapng")]
    pub evidence: Option<PathBuf>,
    /// Keep all payload in the evidence (default: application data, HTTP bodies and non-TLS payload are cut).
    #[arg(long, requires = "evidence")]
    pub no_redact: bool,
    /// Replace IP addresses in the printed verdicts (text, JSON) and the evidence by a keyed,
    /// prefix-preserving map (docs/anonymization.md). The --write capture is not anonymized.
    #[arg(long)]
    pub anonymize: bool,
    /// Key of the address map (implies --anonymize; also read from TLSAUTOPSY_ANONYMIZE_KEY): the same
    /// key gives the same map. Without one, a random key is used for the run.
    #[arg(long, value_name = "KEY")]
    pub anonymize_key: Option<String>,
    /// Promiscuous mode (also see other hosts' traffic; needs CAP_NET_ADMIN).
    #[arg(long)]
    pub promisc: bool,
    /// Bytes kept of each packet.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: u32,
    /// Kernel capture buffer per interface, in MiB (larger: fewer drops in bursts).
    #[arg(long, value_name = "MB", default_value_t = 32)]
    pub buffer_mb: u32,
}

/// libpcap's DLT_ value to the LINKTYPE_ value our decoder (and pcapng) uses. They are equal except
/// for raw IP, whose DLT_ value differs between systems.
pub fn link_from_dlt(dlt: i32) -> LinkType {
    match dlt {
        12 if cfg!(target_os = "openbsd") => LinkType::LOOP,
        12 | 14 => LinkType::RAW,
        n => LinkType(u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

fn wall_clock() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn secs(name: &str, v: f64) -> anyhow::Result<u64> {
    if !(v.is_finite() && v >= 0.0) {
        bail!("{name} must be a non-negative number of seconds");
    }
    Ok((v * 1e9) as u64)
}

/// A packet as the stream hands it over.
struct Pkt {
    ts: Timestamp,
    origlen: u32,
    data: Vec<u8>,
}

struct Codec {
    nano: bool,
}

impl PacketCodec for Codec {
    type Item = Pkt;
    fn decode(&mut self, p: Packet<'_>) -> Pkt {
        let sec = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
        let frac = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
        let ns = if self.nano { frac } else { frac * 1_000 };
        Pkt {
            ts: Timestamp(sec.saturating_mul(1_000_000_000).saturating_add(ns)),
            origlen: p.header.len,
            data: p.data.to_vec(),
        }
    }
}

/// One interface's packet stream, tagged with its index; ends after its first error.
struct Tagged {
    idx: usize,
    stream: PacketStream<Active, Codec>,
    failed: bool,
}

impl Stream for Tagged {
    type Item = (usize, Result<Pkt, pcap::Error>);
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let idx = self.idx;
        match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.failed = true;
                Poll::Ready(Some((idx, Err(e))))
            }
            Poll::Ready(Some(Ok(p))) => Poll::Ready(Some((idx, Ok(p)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// libpcap's 32-bit counters, accumulated into 64 bits.
#[derive(Default, Clone, Copy)]
struct Counters {
    raw: Option<(u32, u32, u32)>,
    total: IfaceStats,
}

impl Counters {
    fn update(&mut self, s: pcap::Stat) {
        let (r0, d0, i0) = self.raw.unwrap_or((0, 0, 0));
        self.total.received += u64::from(s.received.wrapping_sub(r0));
        self.total.dropped_kernel += u64::from(s.dropped.wrapping_sub(d0));
        self.total.dropped_interface += u64::from(s.if_dropped.wrapping_sub(i0));
        self.raw = Some((s.received, s.dropped, s.if_dropped));
    }
}

fn poll_stats(
    streams: &mut SelectAll<Tagged>,
    counters: &mut [Counters],
    names: &[String],
    engine: &mut Engine<'_>,
) {
    let now = wall_clock();
    for t in streams.iter_mut() {
        let Ok(s) = t.stream.capture_mut().stats() else {
            continue;
        };
        let Some(c) = counters.get_mut(t.idx) else {
            continue;
        };
        c.update(s);
        let new = engine.capture_stats(t.idx, now, c.total);
        if new > 0 {
            eprintln!(
                "tlsautopsy: warning: {}: {new} packets dropped by the capture (total: {} by the kernel, {} by the interface); verdicts may miss packets",
                names.get(t.idx).map_or("?", String::as_str),
                c.total.dropped_kernel,
                c.total.dropped_interface
            );
        }
    }
}

/// Why an interface could not be opened.
enum OpenError {
    /// No permission to capture: the message to print (exit 2).
    Permission(String),
    Other(anyhow::Error),
}

fn permission_help(name: &str, promisc: bool, err: &str) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tlsautopsy".to_string());
    format!(
        "cannot capture on {name}: {err}\n\
         Capturing packets needs the CAP_NET_RAW capability{}. Either run it as root:\n\
         \x20   sudo {exe} live -i {name} ...\n\
         or grant the capabilities to the binary once (then any user can run it):\n\
         \x20   sudo setcap cap_net_raw,cap_net_admin+eip {exe}",
        if promisc {
            ", and CAP_NET_ADMIN for promiscuous mode (--promisc)"
        } else {
            " (and CAP_NET_ADMIN for promiscuous mode, --promisc)"
        }
    )
}

pub(crate) fn is_permission_error(e: &pcap::Error) -> bool {
    let s = e.to_string().to_lowercase();
    s.contains("permission") || s.contains("not permitted")
}

fn open(name: &str, a: &LiveArgs) -> Result<(Interface, PacketStream<Active, Codec>), OpenError> {
    let other = |what: &str, e: pcap::Error| OpenError::Other(anyhow!("{name}: {what}: {e}"));
    let cap = Capture::from_device(name)
        .map_err(|e| other("cannot use this interface", e))?
        .immediate_mode(true)
        .promisc(a.promisc)
        .snaplen(i32::try_from(a.snaplen).unwrap_or(i32::MAX))
        .buffer_size(i32::try_from(u64::from(a.buffer_mb) << 20).unwrap_or(i32::MAX))
        .timeout(100);
    #[cfg(target_os = "linux")]
    let (cap, nano) = (cap.precision(pcap::Precision::Nano), true);
    #[cfg(not(target_os = "linux"))]
    let nano = false;
    let cap = cap.open().map_err(|e| {
        if is_permission_error(&e) {
            OpenError::Permission(permission_help(name, a.promisc, &e.to_string()))
        } else {
            let hint = if e.to_string().to_lowercase().contains("no such device") {
                " (tlsautopsy live --list-interfaces lists them)"
            } else {
                ""
            };
            OpenError::Other(anyhow!("cannot capture on {name}: {e}{hint}"))
        }
    })?;
    let mut cap = cap
        .setnonblock()
        .map_err(|e| other("cannot set non-blocking mode", e))?;
    cap.filter(&a.filter, true).map_err(|e| {
        OpenError::Other(anyhow!(
            "--filter {:?} is not a valid capture filter: {e}",
            a.filter
        ))
    })?;
    let link = link_from_dlt(cap.get_datalink().0);
    let stream = cap
        .stream(Codec { nano })
        .map_err(|e| other("cannot poll this interface", e))?;
    Ok((
        Interface {
            name: name.to_string(),
            link,
            snaplen: a.snaplen,
        },
        stream,
    ))
}

fn list_interfaces() -> anyhow::Result<ExitCode> {
    let devices = pcap::Device::list().map_err(|e| anyhow!("cannot list interfaces: {e}"))?;
    for d in devices {
        let mut flags = Vec::new();
        if d.flags.is_up() {
            flags.push("up");
        }
        if d.flags.is_running() {
            flags.push("running");
        }
        if d.flags.is_loopback() {
            flags.push("loopback");
        }
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
        println!(
            "{:<16} {:<24} {}{}",
            d.name,
            flags.join(","),
            addrs.join(" "),
            d.desc.map_or_else(String::new, |s| format!("  ({s})"))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tlsautopsy live`: exit 0 when no connection failed, 1 when one did, 2 when it could not capture.
pub fn main(a: LiveArgs) -> anyhow::Result<ExitCode> {
    if a.list_interfaces {
        return list_interfaces();
    }
    let mut opts = Options::default();
    opts.verdict.quiet_ns = secs("--quiet-time", a.quiet_time)?;
    opts.close_grace_ns = secs("--close-grace", a.close_grace)?;
    opts.max_connections = a.max_connections.max(1);
    if let Some(d) = a.duration {
        secs("--duration", d)?;
    }
    if a.rotate_mb == Some(0) {
        bail!("--rotate-mb must be at least 1");
    }
    if a.snaplen == 0 {
        bail!("--snaplen must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(a, opts))
}

async fn run(a: LiveArgs, opts: Options) -> anyhow::Result<ExitCode> {
    // Handle the signals from now on: a Ctrl-C once capturing flushes instead of killing.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut ifaces = Vec::new();
    let mut streams = Vec::new();
    for (idx, name) in a.interfaces.iter().enumerate() {
        match open(name, &a) {
            Ok((i, s)) => {
                ifaces.push(i);
                streams.push(Tagged {
                    idx,
                    stream: s,
                    failed: false,
                });
            }
            Err(OpenError::Permission(msg)) => {
                eprintln!("tlsautopsy: {msg}");
                return Ok(ExitCode::from(2));
            }
            Err(OpenError::Other(e)) => return Err(e),
        }
    }
    let names: Vec<String> = ifaces.iter().map(|i| i.name.clone()).collect();
    let described: Vec<String> = ifaces
        .iter()
        .map(|i| format!("{} ({})", i.name, link_name(i.link)))
        .collect();
    let anon = crate::bundle::anonymizer(a.anonymize, a.anonymize_key.as_deref());
    let stdout = || -> Box<dyn io::Write> {
        match &anon {
            Some(x) => Box::new(AnonWriter::new(io::stdout(), x.clone())),
            None => Box::new(io::stdout()),
        }
    };
    let mut sink: Box<dyn ReportSink> = if a.json {
        Box::new(JsonLinesReport::new(stdout()))
    } else {
        Box::new(TextReport::new(stdout(), a.all, !a.no_ladder))
    };
    let eopts = EngineOptions {
        analyzer: opts,
        all: a.all,
        json: a.json,
        write: a.write.clone(),
        rotate_bytes: a.rotate_mb.map(|m| m.saturating_mul(1 << 20)),
        evidence: a.evidence.clone(),
        no_redact: a.no_redact,
        anonymizer: anon.clone(),
        filter: a.filter.clone(),
    };
    let mut engine = Engine::new(eopts, ifaces, sink.as_mut(), stdout())
        .map_err(|e| anyhow!("cannot create the output files: {e}"))?;
    if let Some(p) = &a.evidence {
        eprintln!(
            "tlsautopsy: --evidence {}: the packets of failed connections, {}, written when the capture stops (until then in {}, not redacted, readable by you only)",
            p.display(),
            if a.no_redact {
                "NOT redacted (--no-redact: payloads as captured)"
            } else {
                "redacted (application data, HTTP bodies and non-TLS payload cut; handshake, alerts and headers kept)"
            },
            super::engine::evidence_partial_path(p).display()
        );
    }
    eprintln!(
        "tlsautopsy: capturing on {}, filter \"{}\"; a verdict {} s after a close, {} s after an unanswered SYN or ClientHello; Ctrl-C to stop",
        described.join(", "),
        a.filter,
        a.close_grace,
        a.quiet_time
    );
    engine.start(wall_clock());
    let mut counters = vec![Counters::default(); names.len()];
    let mut streams: SelectAll<Tagged> = select_all(streams);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stats_timer = tokio::time::interval(STATS_EVERY);
    stats_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = a
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let why = loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break StopReason::Interrupt,
            _ = sigterm.recv() => break StopReason::Terminate,
            () = &mut until => break StopReason::Duration,
            _ = tick.tick() => engine.tick(wall_clock()),
            _ = stats_timer.tick() => poll_stats(&mut streams, &mut counters, &names, &mut engine),
            p = streams.next() => match p {
                Some((idx, Ok(p))) => engine.packet(idx, p.ts, p.origlen, &p.data),
                Some((idx, Err(e))) => eprintln!(
                    "tlsautopsy: {}: capture stopped: {e}",
                    names.get(idx).map_or("?", String::as_str)
                ),
                None => break StopReason::InterfacesGone,
            },
        }
        if engine.output_error().is_some() {
            break StopReason::OutputClosed;
        }
        if a.count.is_some_and(|n| engine.counters().printed >= n) {
            break StopReason::Count;
        }
    };
    poll_stats(&mut streams, &mut counters, &names, &mut engine);
    let stats: Vec<Option<IfaceStats>> = counters.iter().map(|c| c.raw.map(|_| c.total)).collect();
    let summary = match engine.finish(wall_clock(), why, &stats) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    Ok(ExitCode::from(if summary.counts.failed > 0 {
        1
    } else {
        0
    }))
}
