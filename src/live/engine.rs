//! The live session, without libpcap: packets (from any source) go through the same [`Analyzer`] and
//! printers as `analyze` uses; the clock ([`Engine::tick`]) judges connections whose fate is known
//! without waiting for more packets. Also: `--write` (rotating pcapng), `--evidence` (the packets of
//! failed connections, redacted by the evidence pipeline of `analyze --evidence` when the capture
//! stops), the late-packet filter and the capture statistics. Pure Rust, so it is tested with or
//! without the `live` feature.
//!
//! Memory is bounded: the analyzer's connection cap, a cap on remembered judged flows, and caps on
//! the packets kept per connection (and in all) for the evidence file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::pcapng_out::{IfaceDesc, PcapngWriter};
use crate::analyze::{
    flow_key, with_verdict, Analyzer, Connection, FlowKey, JudgedBecause, Options,
};
use crate::capture::{Frame, LinkType, Timestamp};
use crate::decode::{Decoded, Decoder};
use crate::report::anonymize::Anonymizer;
use crate::report::evidence::{EvidenceCollector, EvidenceOptions, EvidenceStats};
use crate::report::{time, ConnReport, InputInfo, ReportSink, Summary};
use crate::run::link_name;
use crate::verdict::{Outcome, Verdict};

/// A judged flow is remembered this long after its last packet, so that its stragglers (SYN
/// retransmissions after a "SYN unanswered" verdict, a late ACK after the close) are not taken for
/// a new connection.
const TOMBSTONE_NS: u64 = 60_000_000_000;
/// Evidence kept per connection: the first packets (the handshake is at the start).
const EVIDENCE_MAX_PACKETS: usize = 256;
const EVIDENCE_MAX_CONN_BYTES: usize = 1 << 20;
/// Evidence kept in all, for connections not judged yet.
const EVIDENCE_MAX_BYTES: usize = 64 << 20;
/// Capture-drop history kept (one entry per change, polled about once a second).
const DROP_LOG_MAX: usize = 4096;

/// One capture interface.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    /// LINKTYPE_ value (already mapped from libpcap's DLT_ value).
    pub link: LinkType,
    pub snaplen: u32,
}

/// Capture statistics of one interface, as libpcap counts them since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceStats {
    /// Packets the filter accepted (libpcap's `ps_recv`).
    pub received: u64,
    /// Dropped because the kernel buffer was full (`ps_drop`).
    pub dropped_kernel: u64,
    /// Dropped by the interface or its driver (`ps_ifdrop`).
    pub dropped_interface: u64,
}

/// Why the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Interrupt,
    Terminate,
    Duration,
    Count,
    /// Every interface stopped delivering packets (went away, or an error).
    InterfacesGone,
    /// The output could not be written (closed pipe).
    OutputClosed,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Interrupt => "interrupt",
            StopReason::Terminate => "terminate",
            StopReason::Duration => "duration",
            StopReason::Count => "count",
            StopReason::InterfacesGone => "interfaces_gone",
            StopReason::OutputClosed => "output_closed",
        }
    }
}

/// What the session does besides analysing.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    pub analyzer: Options,
    /// Print healthy connections too (both formats; without it only failed and undetermined).
    pub all: bool,
    /// JSON lines (the capture statistics line) instead of text.
    pub json: bool,
    /// `--write`: every packet, to this pcapng file (rotated when `rotate_bytes` is set).
    pub write: Option<PathBuf>,
    pub rotate_bytes: Option<u64>,
    /// `--evidence`: the packets of failed connections, to this pcapng file. They are copied to
    /// `FILE.partial` (mode 0600) as connections fail; when the session finishes, that file goes
    /// through the evidence pipeline of `analyze --evidence` (redaction, anonymization, packet
    /// comments) into `FILE`, and is removed.
    pub evidence: Option<PathBuf>,
    /// `--no-redact`: the evidence keeps the payload as captured.
    pub no_redact: bool,
    /// `--anonymize`: the address map of the evidence file (the caller wraps what is printed).
    pub anonymizer: Option<Arc<Anonymizer>>,
    /// The capture filter, for the statistics.
    pub filter: String,
}

/// The name of the `n`th file of a rotated `--write` (`cap.pcapng`, `cap-1.pcapng`, ...).
pub fn rotated_path(base: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map_or_else(|| "capture".into(), |s| s.to_string_lossy().to_string());
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    base.with_file_name(name)
}

fn create(
    path: &Path,
    comment: &str,
    ifaces: &[IfaceDesc],
) -> io::Result<PcapngWriter<BufWriter<File>>> {
    let f = File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    PcapngWriter::new(BufWriter::with_capacity(1 << 16, f), Some(comment), ifaces)
}

/// The evidence file (created now, so that a bad path fails at the start; written at the end) and
/// its temporary file, readable by the owner only: it holds payload that is not redacted yet.
fn create_partial(path: &Path, ifaces: &[IfaceDesc]) -> io::Result<PcapngWriter<BufWriter<File>>> {
    File::create(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let partial = evidence_partial_path(path);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o
        .open(&partial)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", partial.display())))?;
    PcapngWriter::new(
        BufWriter::with_capacity(1 << 16, f),
        Some("tlsautopsy live --evidence: temporary copy of the packets of failed connections, NOT redacted yet (redacted into the evidence file when the capture stops)"),
        ifaces,
    )
}

struct WrittenFile {
    path: String,
    packets: u64,
    bytes: u64,
}

/// `--write`: rotating pcapng output.
struct Rotating {
    base: PathBuf,
    rotate_bytes: Option<u64>,
    ifaces: Vec<IfaceDesc>,
    w: Option<PcapngWriter<BufWriter<File>>>,
    files: Vec<WrittenFile>,
    error: Option<String>,
}

impl Rotating {
    fn open(base: &Path, rotate_bytes: Option<u64>, ifaces: &[IfaceDesc]) -> io::Result<Self> {
        let w = create(base, "written by tlsautopsy live", ifaces)?;
        Ok(Rotating {
            base: base.to_path_buf(),
            rotate_bytes,
            ifaces: ifaces.to_vec(),
            w: Some(w),
            files: vec![WrittenFile {
                path: base.display().to_string(),
                packets: 0,
                bytes: 0,
            }],
            error: None,
        })
    }

    /// Start the next file if this packet would overflow the current one. Returns true when it rotated.
    fn rotate_if_needed(&mut self, len: usize) -> io::Result<bool> {
        let (Some(limit), Some(w)) = (self.rotate_bytes, self.w.as_mut()) else {
            return Ok(false);
        };
        if w.packets() == 0 || w.bytes() + len as u64 + 32 <= limit {
            return Ok(false);
        }
        w.flush()?;
        let path = rotated_path(&self.base, self.files.len() as u32);
        self.w = Some(create(&path, "written by tlsautopsy live", &self.ifaces)?);
        self.files.push(WrittenFile {
            path: path.display().to_string(),
            packets: 0,
            bytes: 0,
        });
        Ok(true)
    }

    fn packet(&mut self, iface: u32, ts: Timestamp, origlen: u32, data: &[u8]) -> io::Result<()> {
        if let Some(w) = self.w.as_mut() {
            w.packet(iface, ts, origlen, data)?;
            if let Some(f) = self.files.last_mut() {
                f.packets = w.packets();
                f.bytes = w.bytes();
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: &io::Error) {
        if self.error.is_none() {
            eprintln!("tlsautopsy: warning: --write stopped: {e}");
            self.error = Some(e.to_string());
        }
        self.w = None;
    }
}

struct OwnedPacket {
    /// (file, frame) as the analyzer numbers it (the frame its verdict cites).
    at: (u16, u64),
    iface: u32,
    ts: Timestamp,
    origlen: u32,
    data: Box<[u8]>,
}

#[derive(Default)]
struct ConnPackets {
    packets: Vec<OwnedPacket>,
    bytes: usize,
    last: Timestamp,
    /// Packets not kept (limits).
    omitted: u64,
}

/// The temporary file of `--evidence` (`FILE.partial`).
pub fn evidence_partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// `--evidence`: packets buffered per connection until its verdict; those of failed ones are copied
/// to the temporary file, and their verdicts to the collector of the evidence pipeline.
struct EvidenceOut {
    path: String,
    final_path: PathBuf,
    partial: PathBuf,
    w: Option<PcapngWriter<BufWriter<File>>>,
    collector: EvidenceCollector,
    buffers: HashMap<FlowKey, ConnPackets>,
    buffered: usize,
    connections: u64,
    packets: u64,
    omitted: u64,
    error: Option<String>,
}

impl EvidenceOut {
    fn push(
        &mut self,
        k: FlowKey,
        at: (u16, u64),
        iface: u32,
        ts: Timestamp,
        origlen: u32,
        data: &[u8],
    ) {
        let total = self.buffered;
        let b = self.buffers.entry(k).or_default();
        b.last = ts;
        if b.packets.len() >= EVIDENCE_MAX_PACKETS
            || b.bytes + data.len() > EVIDENCE_MAX_CONN_BYTES
            || total + data.len() > EVIDENCE_MAX_BYTES
        {
            b.omitted += 1;
            return;
        }
        b.bytes += data.len();
        self.buffered += data.len();
        b.packets.push(OwnedPacket {
            at,
            iface,
            ts,
            origlen,
            data: data.into(),
        });
    }

    fn take(&mut self, k: &FlowKey) -> ConnPackets {
        let b = self.buffers.remove(k).unwrap_or_default();
        self.buffered -= b.bytes;
        b
    }

    /// Copy the packets of a failed connection to the temporary file, and its verdict to the collector
    /// (the frames it cites mapped to their places in that file).
    fn write(&mut self, b: &ConnPackets, report: &ConnReport<'_>) {
        let Some(w) = self.w.as_mut() else { return };
        if b.packets.is_empty() {
            return;
        }
        let before = w.packets();
        let mut map: HashMap<(u16, u64), u64> = HashMap::with_capacity(b.packets.len());
        let r = b
            .packets
            .iter()
            .try_for_each(|p| {
                map.insert(p.at, w.packets() + 1);
                w.packet(p.iface, p.ts, p.origlen, &p.data)
            })
            .and_then(|()| w.flush());
        match r {
            Ok(()) => {
                self.connections += 1;
                self.packets += b.packets.len() as u64;
                self.omitted += b.omitted;
                let (first, last) = (before + 1, w.packets());
                self.collector.add_copied(report, first, last, &|r| {
                    map.get(&(r.file(), r.frame)).copied()
                });
            }
            Err(e) => {
                eprintln!(
                    "tlsautopsy: warning: --evidence stopped: {}: {e}",
                    self.path
                );
                self.error = Some(e.to_string());
                self.w = None;
            }
        }
    }

    /// The end of the session: run the evidence pipeline on the temporary file (redaction,
    /// anonymization, packet comments) into the evidence file, and remove the temporary file.
    fn finalize(&mut self, head: &str) {
        if let Some(mut w) = self.w.take() {
            if let Err(e) = w.flush() {
                self.error.get_or_insert_with(|| e.to_string());
            }
        }
        self.buffers.clear();
        self.buffered = 0;
        let _ = self.collector.finish(&Summary::default());
        let paths = vec![self.partial.to_string_lossy().into_owned()];
        let r = (|| -> io::Result<EvidenceStats> {
            let plan = self.collector.plan(&paths)?;
            let mut s = format!(
                "{head}: {} packets of {} failed connection(s).\nCommand: {}\nConnections:\n",
                plan.packets(),
                self.collector.selected().len(),
                crate::bundle::command_line()
            );
            for (i, sel) in self.collector.selected().iter().enumerate().take(200) {
                s.push_str(&format!(
                    "  {}: {} packets\n",
                    sel.line(),
                    plan.packets_of(i)
                ));
            }
            if self.collector.selected().len() > 200 {
                s.push_str(&format!(
                    "  ... and {} more (see the packet comments or the JSON)\n",
                    self.collector.selected().len() - 200
                ));
            }
            if self.omitted > 0 {
                s.push_str(&format!(
                    "Limits: {} packets of these connections were not kept (the first {EVIDENCE_MAX_PACKETS} packets or 1 MiB of each are).\n",
                    self.omitted
                ));
            }
            if self.collector.options().no_redact {
                s.push_str("Redaction: none (--no-redact): payload as captured.\n");
            } else {
                s.push_str(crate::bundle::REDACTION_TEXT);
                s.push('\n');
            }
            if self.collector.options().anonymizer.is_some() {
                s.push_str("Addresses: anonymized (IP: keyed, prefix-preserving, in IP headers and ICMP quotes, checksums adjusted; MAC: keyed pseudo-random). They are not the real addresses.\n");
            } else {
                s.push_str("Addresses: as captured.\n");
            }
            s.push_str("The packets a verdict cites carry a packet comment (display filter: frame.comment contains \"tlsautopsy\"); each comment names the frame as the verdict printed it (in the --write file when there was one). Connections are in the order they were judged.");
            let f = File::create(&self.final_path)?;
            plan.write(&self.collector, &paths, &[s], BufWriter::new(f))
        })();
        let _ = std::fs::remove_file(&self.partial);
        match r {
            Ok(st) => {
                self.connections = st.connections as u64;
                self.packets = st.packets;
            }
            Err(e) => {
                eprintln!(
                    "tlsautopsy: warning: --evidence {}: {e} (the unredacted temporary file was removed)",
                    self.path
                );
                self.error = Some(e.to_string());
            }
        }
    }

    /// Forget buffers untouched for `older_than_ns` (their connection was judged without them).
    fn expire(&mut self, now: Timestamp, older_than_ns: u64) {
        let mut freed = 0;
        self.buffers.retain(|_, b| {
            let keep = now.since(b.last) < older_than_ns;
            if !keep {
                freed += b.bytes;
            }
            keep
        });
        self.buffered -= freed;
    }
}

/// A judged flow: later packets of it are not analysed again (unless a new SYN starts a new connection).
struct Tomb {
    syn_seq: Option<u32>,
    last: Timestamp,
}

/// The packet being fed, for the evidence of a connection judged while it is processed.
#[derive(Clone, Copy)]
struct Current<'p> {
    key: FlowKey,
    at: (u16, u64),
    new_syn: bool,
    iface: u32,
    ts: Timestamp,
    origlen: u32,
    data: &'p [u8],
}

/// Counters of the live session beyond the analyzer's.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveCounters {
    /// Verdicts printed.
    pub printed: u64,
    /// Packets of already judged connections, not analysed again.
    pub late_packets: u64,
    /// Connections judged early at the connection cap whose verdict was still "in progress" (counted, not printed).
    pub evicted_not_printed: u64,
    /// Judged flows not remembered because the cap was reached.
    pub tombstones_full: u64,
}

struct Out<'s> {
    sink: &'s mut dyn ReportSink,
    all: bool,
    /// Input names by file index: the `--write` files, or the interfaces.
    names: Vec<String>,
    summary: Summary,
    counters: LiveCounters,
    error: Option<io::Error>,
    tombs: HashMap<FlowKey, Tomb>,
    max_tombs: usize,
    evidence: Option<EvidenceOut>,
    /// (time, total packets dropped by the capture up to then).
    drops: Vec<(Timestamp, u64)>,
    now: Timestamp,
}

impl Out<'_> {
    fn drops_between(&self, a: Timestamp, b: Timestamp) -> u64 {
        // Drops are polled about once a second: widen the window by that much on each side.
        let before = |t: Timestamp| {
            self.drops
                .iter()
                .take_while(|(at, _)| *at <= t)
                .last()
                .map_or(0, |d| d.1)
        };
        let a = Timestamp(a.0.saturating_sub(1_000_000_000));
        let b = Timestamp(b.0.saturating_add(1_500_000_000));
        before(b).saturating_sub(before(a))
    }

    fn done(
        &mut self,
        conn: Box<Connection>,
        mut v: Verdict,
        current: Option<&mut Option<Current<'_>>>,
    ) {
        let t = &conn.tcp;
        let k = flow_key(
            t.client.ip(),
            t.client.port(),
            t.server.ip(),
            t.server.port(),
        );
        let why = conn.judged_because;
        if why != JudgedBecause::EndOfInput {
            if self.tombs.len() >= self.max_tombs {
                let now = self.now;
                self.tombs.retain(|_, tb| now.since(tb.last) < TOMBSTONE_NS);
            }
            if self.tombs.len() < self.max_tombs {
                self.tombs.insert(
                    k,
                    Tomb {
                        syn_seq: t.syn.map(|s| s.seq),
                        last: t.last.ts.max(self.now),
                    },
                );
            } else {
                self.counters.tombstones_full += 1;
            }
        }
        let dropped = self.drops_between(t.first.ts, t.last.ts);
        if dropped > 0 {
            v.notes.push(format!(
                "the capture dropped {dropped} packet(s) while this connection was live (kernel buffer or interface): some of its packets may be missing"
            ));
        }
        let wanted = v.needs_evidence();
        if let Some(ev) = self.evidence.as_mut() {
            let mut b = ev.take(&k);
            if let Some(cur) = current.and_then(|c| c.take_if(|c| c.key == k && !c.new_syn)) {
                b.packets.push(OwnedPacket {
                    at: cur.at,
                    iface: cur.iface,
                    ts: cur.ts,
                    origlen: cur.origlen,
                    data: cur.data.into(),
                });
            }
            if wanted {
                if b.omitted > 0 {
                    v.notes.push(format!(
                        "the evidence file has the first {} packets of this connection ({} more not kept)",
                        b.packets.len(),
                        b.omitted
                    ));
                }
                let report = ConnReport {
                    conn: &conn,
                    verdict: &v,
                    files: &self.names,
                    json_tail: None,
                };
                ev.write(&b, &report);
            }
        }
        self.summary.count(&v, conn.tcp.server);
        if v.healthy() && !self.all {
            return;
        }
        if why == JudgedBecause::Evicted && v.outcome == Outcome::InProgress {
            self.counters.evicted_not_printed += 1;
            return;
        }
        if self.error.is_some() {
            return;
        }
        let r = self
            .sink
            .connection(&ConnReport {
                conn: &conn,
                verdict: &v,
                files: &self.names,
                json_tail: None,
            })
            .and_then(|()| io::stdout().flush());
        match r {
            Ok(()) => self.counters.printed += 1,
            Err(e) => self.error = Some(e),
        }
    }
}

/// A live session: feed it packets and clock ticks, then finish it.
pub struct Engine<'s> {
    analyzer: Analyzer,
    decoder: Decoder,
    out: Out<'s>,
    stats_out: Box<dyn Write + 's>,
    json: bool,
    ifaces: Vec<Interface>,
    inputs: Vec<InputInfo>,
    write: Option<Rotating>,
    frame_no: u64,
    started: Option<Timestamp>,
    last_housekeeping: Timestamp,
    drop_total: Vec<u64>,
    filter: String,
}

impl<'s> Engine<'s> {
    /// A session on `ifaces`, printing verdicts through `sink` and the capture statistics to `stats_out`.
    /// Creates the `--write` and `--evidence` files.
    pub fn new(
        opts: EngineOptions,
        ifaces: Vec<Interface>,
        sink: &'s mut dyn ReportSink,
        stats_out: Box<dyn Write + 's>,
    ) -> io::Result<Self> {
        let descs: Vec<IfaceDesc> = ifaces
            .iter()
            .map(|i| IfaceDesc {
                name: i.name.clone(),
                link: i.link,
                snaplen: i.snaplen,
            })
            .collect();
        let write = match &opts.write {
            Some(p) => Some(Rotating::open(p, opts.rotate_bytes, &descs)?),
            None => None,
        };
        let evidence = match &opts.evidence {
            Some(p) => Some(EvidenceOut {
                path: p.display().to_string(),
                final_path: p.clone(),
                partial: evidence_partial_path(p),
                w: Some(create_partial(p, &descs)?),
                collector: EvidenceCollector::new(EvidenceOptions {
                    all: false,
                    no_redact: opts.no_redact,
                    anonymizer: opts.anonymizer.clone(),
                }),
                buffers: HashMap::new(),
                buffered: 0,
                connections: 0,
                packets: 0,
                omitted: 0,
                error: None,
            }),
            None => None,
        };
        let names = match &write {
            Some(w) => vec![w.files[0].path.clone()],
            None => vec![ifaces
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(",")],
        };
        sink.begin(&names)?;
        let inputs = ifaces
            .iter()
            .map(|i| InputInfo {
                name: i.name.clone(),
                format: "live".to_string(),
                link_types: vec![link_name(i.link)],
                ..InputInfo::default()
            })
            .collect();
        let max_tombs = opts.analyzer.max_connections.max(1);
        Ok(Engine {
            analyzer: Analyzer::new(opts.analyzer),
            decoder: Decoder::new(),
            out: Out {
                sink,
                all: opts.all,
                names,
                summary: Summary::default(),
                counters: LiveCounters::default(),
                error: None,
                tombs: HashMap::new(),
                max_tombs,
                evidence,
                drops: Vec::new(),
                now: Timestamp(0),
            },
            stats_out,
            json: opts.json,
            drop_total: vec![0; ifaces.len()],
            ifaces,
            inputs,
            write,
            frame_no: 0,
            started: None,
            last_housekeeping: Timestamp(0),
            filter: opts.filter,
        })
    }

    /// The live counters so far.
    pub fn counters(&self) -> LiveCounters {
        self.out.counters
    }

    /// Connections judged so far, per class: (failed, ok, undetermined).
    pub fn judged(&self) -> (u64, u64, u64) {
        let s = &self.out.summary;
        (s.counts.failed, s.counts.ok, s.counts.undetermined)
    }

    /// An error writing the verdicts (the caller stops: nobody reads them any more).
    pub fn output_error(&self) -> Option<&io::Error> {
        self.out.error.as_ref()
    }

    /// Mark the start of the capture (for the statistics).
    pub fn start(&mut self, now: Timestamp) {
        self.started = Some(now);
        self.out.now = self.out.now.max(now);
        self.last_housekeeping = now;
    }

    /// One packet captured on interface `iface` (index in the list given to [`Engine::new`]).
    pub fn packet(&mut self, iface: usize, ts: Timestamp, origlen: u32, data: &[u8]) {
        let Some(info) = self.ifaces.get(iface) else {
            return;
        };
        let link = info.link;
        if let Some(inp) = self.inputs.get_mut(iface) {
            inp.frames += 1;
            inp.bytes += data.len() as u64;
        }
        if self.started.is_none() {
            self.started = Some(ts);
        }
        self.out.now = self.out.now.max(ts);
        if let Some(w) = self.write.as_mut() {
            match w.rotate_if_needed(data.len()) {
                Ok(true) => {
                    self.out.names.push(w.files[w.files.len() - 1].path.clone());
                    self.frame_no = 0;
                }
                Ok(false) => {}
                Err(e) => w.fail(&e),
            }
            if let Err(e) = w.packet(iface as u32, ts, origlen, data) {
                w.fail(&e);
            }
        }
        self.frame_no += 1;
        let file = u16::try_from(self.out.names.len() - 1).unwrap_or(u16::MAX);
        let frame = Frame {
            number: self.frame_no,
            ts,
            link,
            interface: iface as u32,
            origlen,
            data,
        };
        // Which flow is it? (For the late-packet filter and the evidence buffers.)
        let flow = match self.decoder.decode(&frame) {
            Decoded::Tcp(p) => Some((
                flow_key(p.ip.src, p.src_port, p.ip.dst, p.dst_port),
                p.flags.syn() && !p.flags.ack(),
                p.seq,
            )),
            Decoded::IcmpError(e) => Some((
                flow_key(
                    e.quoted_src,
                    e.quoted_src_port,
                    e.quoted_dst,
                    e.quoted_dst_port,
                ),
                false,
                0,
            )),
            Decoded::Skipped(_) => None,
        };
        if let Some((k, syn, seq)) = flow {
            if let Some(tomb) = self.out.tombs.get_mut(&k) {
                if syn && tomb.syn_seq != Some(seq) {
                    self.out.tombs.remove(&k);
                } else {
                    tomb.last = ts.max(tomb.last);
                    self.out.counters.late_packets += 1;
                    return;
                }
            }
        }
        let mut current = flow.map(|(k, syn, _)| Current {
            key: k,
            at: (file, self.frame_no),
            new_syn: syn,
            iface: iface as u32,
            ts,
            origlen,
            data,
        });
        let out = &mut self.out;
        self.analyzer.frame(
            file,
            &frame,
            &mut with_verdict(|c, v| out.done(c, v, Some(&mut current))),
        );
        if let (Some(cur), Some(ev)) = (current, self.out.evidence.as_mut()) {
            ev.push(cur.key, cur.at, cur.iface, cur.ts, cur.origlen, cur.data);
        }
    }

    /// The clock: judge what is known at `now` (wall time), flush the files, expire old state.
    pub fn tick(&mut self, now: Timestamp) {
        self.out.now = self.out.now.max(now);
        let out = &mut self.out;
        self.analyzer
            .tick(now, &mut with_verdict(|c, v| out.done(c, v, None)));
        if now.since(self.last_housekeeping) >= 1_000_000_000 {
            self.last_housekeeping = now;
            self.out
                .tombs
                .retain(|_, t| now.since(t.last) < TOMBSTONE_NS);
            let idle = self.analyzer.options().idle_timeout_ns;
            if let Some(ev) = self.out.evidence.as_mut() {
                ev.expire(now, idle.saturating_add(10_000_000_000));
            }
            if let Some(w) = self.write.as_mut() {
                if let Some(pw) = w.w.as_mut() {
                    if let Err(e) = pw.flush() {
                        w.fail(&e);
                    }
                }
            }
        }
    }

    /// The capture statistics of interface `iface` so far (libpcap's counters since it was opened).
    /// Returns the packets newly dropped since the last call.
    pub fn capture_stats(&mut self, iface: usize, now: Timestamp, s: IfaceStats) -> u64 {
        let Some(prev) = self.drop_total.get_mut(iface) else {
            return 0;
        };
        let total = s.dropped_kernel + s.dropped_interface;
        let new = total.saturating_sub(*prev);
        *prev = total.max(*prev);
        if new > 0 {
            let all: u64 = self.drop_total.iter().sum();
            if self.out.drops.len() >= DROP_LOG_MAX {
                self.out.drops.drain(..DROP_LOG_MAX / 2);
            }
            self.out.drops.push((now, all));
        }
        new
    }

    /// Stop: judge every open connection as it stands (at `now`), print the capture statistics
    /// (`stats[i]` for interface `i`, when libpcap gave them) and the summary.
    pub fn finish(
        mut self,
        now: Timestamp,
        why: StopReason,
        stats: &[Option<IfaceStats>],
    ) -> io::Result<Summary> {
        self.tick(now);
        let out = &mut self.out;
        let totals = self
            .analyzer
            .finish(&mut with_verdict(|c, v| out.done(c, v, None)));
        if let Some(w) = self.write.as_mut() {
            if let Some(pw) = w.w.as_mut() {
                if let Err(e) = pw.flush() {
                    w.fail(&e);
                }
            }
        }
        if let Some(ev) = self.out.evidence.as_mut() {
            let started = self.started.unwrap_or(now);
            let ifaces: Vec<String> = self
                .ifaces
                .iter()
                .map(|i| format!("{} ({})", i.name, link_name(i.link)))
                .collect();
            ev.finalize(&format!(
                "Evidence written by tlsautopsy {} live, captured on {} from {} to {}",
                env!("CARGO_PKG_VERSION"),
                ifaces.join(", "),
                time::rfc3339(started),
                time::rfc3339(now)
            ));
        }
        for (i, inp) in self.inputs.iter_mut().enumerate() {
            if let Some(Some(s)) = stats.get(i) {
                if s.dropped_kernel > 0 {
                    inp.warnings.push(format!(
                        "the kernel dropped {} packets (capture buffer full): verdicts may miss packets; try --buffer-mb or a narrower --filter",
                        s.dropped_kernel
                    ));
                }
                if s.dropped_interface > 0 {
                    inp.warnings.push(format!(
                        "the interface dropped {} packets",
                        s.dropped_interface
                    ));
                }
            } else {
                inp.warnings
                    .push("no capture statistics from libpcap".to_string());
            }
        }
        if let Some(w) = &self.write {
            if let (Some(e), Some(inp)) = (&w.error, self.inputs.first_mut()) {
                inp.warnings.push(format!("--write stopped: {e}"));
            }
        }
        let mut summary = std::mem::take(&mut self.out.summary);
        summary.totals = totals;
        summary.inputs = std::mem::take(&mut self.inputs);
        if let Some(e) = self.out.error.take() {
            return Err(e);
        }
        let cs = self.capture_line(now, why, stats, &summary);
        if self.json {
            serde_json::to_writer(&mut self.stats_out, &cs)?;
            self.stats_out.write_all(b"\n")?;
        } else {
            write_capture_text(&mut self.stats_out, &cs)?;
        }
        self.stats_out.flush()?;
        self.out.sink.finish(&summary)?;
        Ok(summary)
    }

    fn capture_line(
        &self,
        now: Timestamp,
        why: StopReason,
        stats: &[Option<IfaceStats>],
        summary: &Summary,
    ) -> JsonCapture {
        let started = self.started.unwrap_or(now);
        let c = self.out.counters;
        JsonCapture {
            schema: crate::report::json::SCHEMA,
            kind: "capture",
            started: time::rfc3339(started),
            stopped: time::rfc3339(now),
            duration_ms: (now.since(started) as f64 / 1e3).round() / 1e3,
            stopped_by: why.as_str(),
            filter: self.filter.clone(),
            interfaces: self
                .ifaces
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let s = stats.get(i).copied().flatten();
                    JsonCaptureInterface {
                        name: f.name.clone(),
                        link_type: link_name(f.link),
                        packets: summary.inputs.get(i).map_or(0, |x| x.frames),
                        received: s.map(|s| s.received),
                        dropped_kernel: s.map(|s| s.dropped_kernel),
                        dropped_interface: s.map(|s| s.dropped_interface),
                    }
                })
                .collect(),
            verdicts_printed: c.printed,
            late_packets: c.late_packets,
            evicted_connections: summary.totals.evicted,
            evicted_not_printed: c.evicted_not_printed,
            max_connections: self.analyzer.options().max_connections,
            max_live_connections: summary.totals.max_live_connections,
            written: self.write.as_ref().map_or_else(Vec::new, |w| {
                w.files
                    .iter()
                    .map(|f| JsonWritten {
                        path: f.path.clone(),
                        packets: f.packets,
                        bytes: f.bytes,
                    })
                    .collect()
            }),
            evidence: self.out.evidence.as_ref().map(|e| JsonEvidenceFile {
                path: e.path.clone(),
                connections: e.connections,
                packets: e.packets,
                packets_not_kept: e.omitted,
                redacted: !e.collector.options().no_redact,
                anonymized: e.collector.options().anonymizer.is_some(),
                error: e.error.clone(),
            }),
        }
    }
}

/// The `"type": "capture"` line of `live --json`, printed once, just before the summary.
#[derive(Serialize, Debug)]
pub struct JsonCapture {
    pub schema: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub started: String,
    pub stopped: String,
    pub duration_ms: f64,
    pub stopped_by: &'static str,
    pub filter: String,
    pub interfaces: Vec<JsonCaptureInterface>,
    pub verdicts_printed: u64,
    pub late_packets: u64,
    pub evicted_connections: u64,
    pub evicted_not_printed: u64,
    pub max_connections: usize,
    pub max_live_connections: usize,
    pub written: Vec<JsonWritten>,
    pub evidence: Option<JsonEvidenceFile>,
}

/// One capture interface's counters.
#[derive(Serialize, Debug)]
pub struct JsonCaptureInterface {
    pub name: String,
    pub link_type: String,
    /// Packets tlsautopsy read.
    pub packets: u64,
    /// libpcap's counters (null when it gave none).
    pub received: Option<u64>,
    pub dropped_kernel: Option<u64>,
    pub dropped_interface: Option<u64>,
}

/// One `--write` file.
#[derive(Serialize, Debug)]
pub struct JsonWritten {
    pub path: String,
    pub packets: u64,
    pub bytes: u64,
}

/// The `--evidence` file.
#[derive(Serialize, Debug)]
pub struct JsonEvidenceFile {
    pub path: String,
    pub connections: u64,
    pub packets: u64,
    pub packets_not_kept: u64,
    /// Application data, HTTP bodies and non-TLS payload cut (not with `--no-redact`).
    pub redacted: bool,
    /// IP (and MAC) addresses mapped (`--anonymize`).
    pub anonymized: bool,
    pub error: Option<String>,
}

fn write_capture_text(out: &mut dyn Write, c: &JsonCapture) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== Capture ==")?;
    writeln!(
        out,
        "  {} to {} ({:.3} s), stopped by {}; filter \"{}\"",
        c.started,
        c.stopped,
        c.duration_ms / 1e3,
        c.stopped_by,
        c.filter
    )?;
    for i in &c.interfaces {
        match (i.received, i.dropped_kernel, i.dropped_interface) {
            (Some(r), Some(k), Some(d)) => writeln!(
                out,
                "  {} ({}): {} packets analysed; {} received by the filter, {} dropped by the kernel, {} dropped by the interface",
                i.name, i.link_type, i.packets, r, k, d
            )?,
            _ => writeln!(
                out,
                "  {} ({}): {} packets analysed; no statistics from libpcap",
                i.name, i.link_type, i.packets
            )?,
        }
    }
    writeln!(out, "  {} verdicts printed", c.verdicts_printed)?;
    if c.evicted_connections > 0 {
        writeln!(
            out,
            "  {} connections judged early at the connection limit (--max-connections {}; {} still in progress, not printed)",
            c.evicted_connections, c.max_connections, c.evicted_not_printed
        )?;
    }
    if c.late_packets > 0 {
        writeln!(
            out,
            "  {} packets of connections already judged were not analysed again",
            c.late_packets
        )?;
    }
    for w in &c.written {
        writeln!(out, "  written: {} ({} packets)", w.path, w.packets)?;
    }
    if let Some(e) = &c.evidence {
        writeln!(
            out,
            "  evidence: {}: {} packets of {} failed connections, {}{}{}",
            e.path,
            e.packets,
            e.connections,
            if e.redacted {
                "redacted (application data, HTTP bodies and non-TLS payload cut; handshake, alerts and headers kept)"
            } else {
                "NOT redacted (--no-redact: payloads as captured)"
            },
            if e.anonymized {
                ", addresses anonymized"
            } else {
                ""
            },
            e.error
                .as_ref()
                .map_or_else(String::new, |x| format!("; stopped: {x}"))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
