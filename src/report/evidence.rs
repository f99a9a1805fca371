//! The evidence pcapng (`--evidence FILE.pcapng`): the packets of the selected connections (the
//! failed ones, or all with `--evidence-all`), in their original order with their original
//! timestamps and link types, redacted and optionally anonymized, with a comment on each packet that
//! a verdict cites.
//!
//! The analyzer keeps no packets, so this reads the inputs again:
//! 1. [`EvidenceCollector`] (a [`ReportSink`]) remembers, for every judged connection, its address
//!    pair and first frame (a frame belongs to the latest connection of its address pair that began
//!    at or before it, as in the analyzer's flow table), and for the selected ones what to comment.
//! 2. [`EvidenceCollector::plan`] reads the inputs a second time: it counts the selected packets
//!    and, when redacting, reassembles both directions of each selected connection and walks them
//!    ([`super::redact`]) to learn which stream offsets may be kept.
//! 3. [`EvidencePlan::write`] reads them a third time and writes the pcapng ([`super::pcapng`]),
//!    rewriting each packet ([`super::rewrite`]).
//!
//! Standard input cannot be read again: the caller refuses `-` with evidence.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::anonymize::Anonymizer;
use super::pcapng::PcapngWriter;
use super::redact::{KeptRanges, Shared, Side, StreamWalker};
use super::rewrite;
use super::{endpoint, ConnReport, ReportSink, Summary};
use crate::analyze::{flow_key, FlowKey};
use crate::capture::{read_merged, CaptureReader, Frame, FrameBlock, MergeEvent, MergeSink};
use crate::decode::{Decoded, Decoder};
use crate::tcp::{Assembler, Chunk, FrameRef};
use crate::verdict::OutcomeClass;

/// Out-of-order bytes buffered per direction while walking a selected connection.
const REASSEMBLY_CAP: usize = 4 << 20;

/// How evidence is made.
#[derive(Clone, Debug, Default)]
pub struct EvidenceOptions {
    /// Every connection, not only the failed ones.
    pub all: bool,
    /// Keep payload as captured (`--no-redact`).
    pub no_redact: bool,
    /// Map IP addresses.
    pub anonymizer: Option<Arc<Anonymizer>>,
}

/// A frame's place in the run ([`FrameRef::seq`]: 1-based over all inputs, in the order read),
/// which orders the frames of several inputs as the analysis saw them.
pub type Pos = u64;

/// A selected connection.
#[derive(Clone, Debug)]
pub struct Selected {
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first: Pos,
    pub last: Pos,
    pub outcome: &'static str,
    pub cause: &'static str,
    pub ended_by: &'static str,
    pub failed: bool,
    /// Comments by frame.
    comments: Vec<(Pos, String)>,
}

impl Selected {
    /// One line about it.
    pub fn line(&self) -> String {
        format!(
            "#{} {} -> {} {} (cause {}, ended by {})",
            self.id,
            endpoint(&self.client),
            endpoint(&self.server),
            self.outcome,
            self.cause,
            self.ended_by
        )
    }
}

/// Collects what the evidence writer needs while the analysis runs.
#[derive(Debug, Default)]
pub struct EvidenceCollector {
    opts: EvidenceOptions,
    /// Start of every connection of each address pair: (first frame, index in `selected`).
    starts: HashMap<FlowKey, Vec<(Pos, Option<usize>)>>,
    selected: Vec<Selected>,
    judged: u64,
}

impl EvidenceCollector {
    /// A collector.
    pub fn new(opts: EvidenceOptions) -> Self {
        EvidenceCollector {
            opts,
            ..Default::default()
        }
    }

    /// The selected connections, in the order they were judged.
    pub fn selected(&self) -> &[Selected] {
        &self.selected
    }

    /// Connections judged.
    pub fn judged(&self) -> u64 {
        self.judged
    }

    /// The options.
    pub fn options(&self) -> &EvidenceOptions {
        &self.opts
    }
}

impl ReportSink for EvidenceCollector {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        let t = &c.conn.tcp;
        self.add(c, t.first.seq(), t.last.seq(), &|r| Some(r.seq()));
        Ok(())
    }

    fn finish(&mut self, _s: &Summary) -> io::Result<()> {
        // Only address pairs with a selected connection matter from here on.
        self.starts.retain(|_, v| v.iter().any(|s| s.1.is_some()));
        for v in self.starts.values_mut() {
            v.sort_by_key(|s| s.0);
        }
        Ok(())
    }
}

impl EvidenceCollector {
    /// Select a connection judged elsewhere whose packets were copied into an evidence input
    /// (`tlsautopsy live` copies the packets of each failed connection into a temporary file, then
    /// runs [`Self::plan`] and [`EvidencePlan::write`] on it): `first` and `last` are the frame
    /// numbers of its first and last packet there (that file is the only input), `map` gives where
    /// a frame its verdict cites went (`None`: not copied, no comment). The comments name the
    /// frames as the verdict does.
    pub fn add_copied(
        &mut self,
        c: &ConnReport<'_>,
        first: Pos,
        last: Pos,
        map: &dyn Fn(FrameRef) -> Option<Pos>,
    ) {
        self.add(c, first, last, map);
    }

    fn add(
        &mut self,
        c: &ConnReport<'_>,
        first: Pos,
        last: Pos,
        map: &dyn Fn(FrameRef) -> Option<Pos>,
    ) {
        self.judged += 1;
        let t = &c.conn.tcp;
        let v = c.verdict;
        let key = flow_key(
            t.client.ip(),
            t.client.port(),
            t.server.ip(),
            t.server.port(),
        );
        let failed = v.outcome.class() == OutcomeClass::Failed;
        let idx = if v.needs_evidence() || self.opts.all {
            let mut comments = Vec::new();
            for e in &v.evidence {
                let decisive = Some(e.at) == v.decisive;
                let text = format!(
                    "tlsautopsy #{} {}{} ({}): {}{}; {}. [input {} frame {}]",
                    c.conn.id,
                    v.outcome.as_str(),
                    v.after_finding()
                        .map(|f| format!(", then {}", f.as_str()))
                        .unwrap_or_default(),
                    v.cause.as_str(),
                    if decisive { "DECISIVE packet: " } else { "" },
                    e.what,
                    e.why,
                    c.file_name(e.at.file()),
                    e.at.frame
                );
                if let Some(pos) = map(e.at) {
                    comments.push((pos, text));
                }
            }
            if let Some(d) = v.decisive {
                if let (false, Some(pos)) = (v.evidence.iter().any(|e| e.at == d), map(d)) {
                    comments.push((
                        pos,
                        format!(
                            "tlsautopsy #{} {} ({}): DECISIVE packet. [input {} frame {}]",
                            c.conn.id,
                            v.outcome.as_str(),
                            v.cause.as_str(),
                            c.file_name(d.file()),
                            d.frame
                        ),
                    ));
                }
            }
            self.selected.push(Selected {
                id: c.conn.id,
                client: t.client,
                server: t.server,
                first,
                last,
                outcome: v.outcome.as_str(),
                cause: v.cause.as_str(),
                ended_by: v.ended_by.as_str(),
                failed,
                comments,
            });
            Some(self.selected.len() - 1)
        } else {
            None
        };
        self.starts.entry(key).or_default().push((first, idx));
    }
}

/// A frame of a selected connection.
enum Member<'a> {
    Tcp(usize, crate::decode::TcpPacket<'a>),
    Icmp(usize),
}

impl EvidenceCollector {
    fn member<'a>(&self, pos: Pos, d: Decoded<'a>) -> Option<Member<'a>> {
        let (key, icmp) = match &d {
            Decoded::Tcp(p) => (flow_key(p.ip.src, p.src_port, p.ip.dst, p.dst_port), false),
            Decoded::IcmpError(e) => (
                flow_key(
                    e.quoted_src,
                    e.quoted_src_port,
                    e.quoted_dst,
                    e.quoted_dst_port,
                ),
                true,
            ),
            Decoded::Skipped(_) => return None,
        };
        let starts = self.starts.get(&key)?;
        let i = starts.partition_point(|s| s.0 <= pos);
        let idx = starts.get(i.checked_sub(1)?)?.1?;
        let sel = self.selected.get(idx)?;
        if icmp {
            // The analyzer ties an ICMP error to a connection only while it is tracked.
            return (pos <= sel.last).then_some(Member::Icmp(idx));
        }
        match d {
            Decoded::Tcp(p) => Some(Member::Tcp(idx, p)),
            _ => None,
        }
    }

    /// Read the inputs again, walking each selected connection. `paths` as given to the analysis
    /// (no `-`).
    pub fn plan(&self, paths: &[String]) -> io::Result<EvidencePlan> {
        let mut flows: Vec<Flow> = self.selected.iter().map(|_| Flow::new()).collect();
        let mut per_conn = vec![0u64; self.selected.len()];
        let mut frames = 0u64;
        let redact = !self.opts.no_redact;
        for_each_frame(paths, &mut |_, pos, frame| {
            frames += 1;
            match self.member(pos, frame.decoded.clone()) {
                Some(Member::Tcp(idx, p)) => {
                    per_conn[idx] += 1;
                    if redact {
                        let sel = &self.selected[idx];
                        let d = usize::from(
                            !(p.ip.src == sel.client.ip() && p.src_port == sel.client.port()),
                        );
                        flows[idx].packet(d, &p);
                    }
                }
                Some(Member::Icmp(idx)) => per_conn[idx] += 1,
                None => {}
            }
        })?;
        let kept = flows.into_iter().map(Flow::finish).collect();
        Ok(EvidencePlan {
            per_conn,
            frames_read: frames,
            kept,
        })
    }
}

/// A frame with its decoding.
pub(crate) struct DecodedFrame<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) decoded: Decoded<'a>,
}

/// Reads every input in the order the analysis did ([`read_merged`]), with one decoder for all as
/// the analyzer has: `f` gets each frame's file index and place in the run ([`Pos`]).
fn for_each_frame(
    paths: &[String],
    f: &mut dyn FnMut(u16, Pos, &DecodedFrame<'_>),
) -> io::Result<()> {
    if paths.iter().any(|p| p == "-") {
        return Err(io::Error::other(
            "evidence needs to read the inputs again, and standard input cannot be: save it to a file first",
        ));
    }
    walk_decoded(paths, &mut |file, pos, df| {
        f(file, pos, df);
        true
    });
    Ok(())
}

/// Reads the inputs again as the analysis did: every frame decoded by one decoder, in the order
/// of [`read_merged`], with its file index and place in the run ([`Pos`], the analysis's
/// [`FrameRef::seq`]), until `f` says stop. Inputs that cannot be read, and errors, are not said
/// again (the analysis did).
pub(crate) fn walk_decoded(
    paths: &[String],
    f: &mut dyn FnMut(u16, Pos, &DecodedFrame<'_>) -> bool,
) {
    struct Walk<'f> {
        decoder: Decoder,
        pos: Pos,
        f: &'f mut dyn FnMut(u16, Pos, &DecodedFrame<'_>) -> bool,
    }
    impl MergeSink for Walk<'_> {
        fn frame(&mut self, file: u16, frame: &Frame<'_>, _: FrameBlock<'_>) -> bool {
            self.pos += 1;
            let decoded = self.decoder.decode(frame);
            let frame = *frame;
            (self.f)(file, self.pos, &DecodedFrame { frame, decoded })
        }
        fn event(&mut self, _: MergeEvent<'_>, _: u64) -> bool {
            true
        }
    }
    let mut walk = Walk {
        decoder: Decoder::new(),
        pos: 0,
        f,
    };
    read_merged(
        paths,
        &mut |p, _| CaptureReader::open(Path::new(p)),
        &mut walk,
    );
}

/// Walk state of one selected connection.
struct Flow {
    base: [Option<u32>; 2],
    asm: [Assembler; 2],
    walk: [StreamWalker; 2],
    shared: Shared,
}

impl Flow {
    fn new() -> Self {
        Flow {
            base: [None, None],
            asm: [
                Assembler::new(REASSEMBLY_CAP),
                Assembler::new(REASSEMBLY_CAP),
            ],
            walk: [
                StreamWalker::new(Side::Client),
                StreamWalker::new(Side::Server),
            ],
            shared: Shared::default(),
        }
    }

    /// A packet in direction `d` (0: client to server).
    fn packet(&mut self, d: usize, p: &crate::decode::TcpPacket<'_>) {
        let Flow {
            base,
            asm,
            walk,
            shared,
        } = self;
        if p.flags.syn() && base[d].is_none() {
            base[d] = Some(p.seq.wrapping_add(1));
            asm[d].set_isn(p.seq);
        }
        if p.payload.is_empty() && p.payload_missing == 0 {
            return;
        }
        if base[d].is_none() {
            base[d] = Some(p.seq);
        }
        let w = &mut walk[d];
        asm[d].push(p.seq, &p.payload, p.payload_missing, &mut |ch| match ch {
            Chunk::Data(b) => w.data(b, shared),
            Chunk::Gap(n) => w.gap(n),
        });
    }

    fn finish(self) -> [DirKept; 2] {
        let Flow {
            base,
            asm,
            walk,
            mut shared,
        } = self;
        let [mut a0, mut a1] = asm;
        let [mut w0, mut w1] = walk;
        a0.flush(&mut |ch| match ch {
            Chunk::Data(b) => w0.data(b, &mut shared),
            Chunk::Gap(n) => w0.gap(n),
        });
        a1.flush(&mut |ch| match ch {
            Chunk::Data(b) => w1.data(b, &mut shared),
            Chunk::Gap(n) => w1.gap(n),
        });
        [
            DirKept {
                base: base[0],
                end: a0.next_offset(),
                kept: w0.finish(),
            },
            DirKept {
                base: base[1],
                end: a1.next_offset(),
                kept: w1.finish(),
            },
        ]
    }
}

/// What may be kept of one direction.
#[derive(Clone, Debug, Default)]
struct DirKept {
    base: Option<u32>,
    /// Stream length walked (to unwrap sequence numbers).
    end: u64,
    kept: KeptRanges,
}

impl DirKept {
    /// The stream offset of `seq`, unwrapped around the end of the stream; `None` before the start.
    fn offset(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let end_seq = base.wrapping_add(self.end as u32);
        let off = self.end as i64 + i64::from(seq.wrapping_sub(end_seq) as i32);
        u64::try_from(off).ok()
    }
}

/// The result of the second reading.
pub struct EvidencePlan {
    per_conn: Vec<u64>,
    /// Frames read.
    pub frames_read: u64,
    kept: Vec<[DirKept; 2]>,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceStats {
    pub packets: u64,
    pub commented: u64,
    pub connections: usize,
}

impl EvidencePlan {
    /// Packets of the selected connections.
    pub fn packets(&self) -> u64 {
        self.per_conn.iter().sum()
    }

    /// Packets of one selected connection (by index in [`EvidenceCollector::selected`]).
    pub fn packets_of(&self, idx: usize) -> u64 {
        self.per_conn.get(idx).copied().unwrap_or(0)
    }

    /// Read the inputs a third time and write the pcapng to `out`, with `section_comments`.
    pub fn write<W: Write>(
        &self,
        c: &EvidenceCollector,
        paths: &[String],
        section_comments: &[String],
        out: W,
    ) -> io::Result<EvidenceStats> {
        let anon = c.opts.anonymizer.as_deref();
        let comments: Vec<String> = section_comments
            .iter()
            .map(|s| anon.map_or_else(|| s.clone(), |a| a.text(s).into_owned()))
            .collect();
        let mut w = PcapngWriter::new(
            out,
            &comments,
            &format!("tlsautopsy {}", env!("CARGO_PKG_VERSION")),
        )?;
        let mut ifaces: HashMap<(u16, u32, u32), u32> = HashMap::new();
        let mut stats = EvidenceStats {
            connections: c.selected.len(),
            ..Default::default()
        };
        let mut by_frame: HashMap<Pos, Vec<String>> = HashMap::new();
        for s in &c.selected {
            for (pos, text) in &s.comments {
                let text = anon.map_or_else(|| text.clone(), |a| a.text(text).into_owned());
                by_frame.entry(*pos).or_default().push(text);
            }
        }
        let mut err: Option<io::Error> = None;
        for_each_frame(paths, &mut |file, pos, df| {
            if err.is_some() {
                return;
            }
            let Some(m) = c.member(pos, df.decoded.clone()) else {
                return;
            };
            let frame = &df.frame;
            // A frame that tunnels its packet is kept as the packet it carries (Ethernet or raw
            // IP): the rules for a plain frame (redaction, anonymization, checksums) then apply
            // as they are, and the underlay's headers and addresses are left out.
            let (link, off) =
                crate::decode::tunnel_payload(frame.link, frame.data).unwrap_or((frame.link, 0));
            let mut buf = frame.data.get(off..).unwrap_or_default().to_vec();
            let origlen = frame
                .origlen
                .saturating_sub(u32::try_from(off).unwrap_or(u32::MAX));
            let layout = rewrite::layout(link, &buf);
            if let Some(a) = anon {
                rewrite::anonymize_link(&mut buf, link, a);
                if let Some(l) = layout.as_ref() {
                    rewrite::anonymize(&mut buf, l, a);
                }
            }
            let caplen = if c.opts.no_redact {
                buf.len()
            } else {
                match (&m, layout.as_ref()) {
                    (Member::Tcp(idx, p), Some(l)) => {
                        let sel = &c.selected[*idx];
                        let d = usize::from(
                            !(p.ip.src == sel.client.ip() && p.src_port == sel.client.port()),
                        );
                        let dk = &self.kept[*idx][d];
                        let pay_len = p.payload.len();
                        let mask = match dk.offset(p.seq) {
                            Some(off) if pay_len > 0 => dk.kept.mask(off, pay_len),
                            _ => Vec::new(),
                        };
                        rewrite::redact_tcp(&mut buf, l, &|i| mask.get(i).copied().unwrap_or(false))
                    }
                    (Member::Icmp(_), Some(l)) => rewrite::redact_icmp(&buf, l),
                    (_, None) => 0,
                }
            };
            if let (Some(_), Some(l)) = (anon, layout.as_ref()) {
                rewrite::mask_payload_addresses(&mut buf, l, caplen);
            }
            buf.truncate(caplen);
            let key = (file, frame.interface, link.0);
            let id = match ifaces.get(&key) {
                Some(id) => *id,
                None => {
                    let desc = format!(
                        "input {} ({}) interface {}{}",
                        file + 1,
                        paths.get(usize::from(file)).map_or("?", String::as_str),
                        frame.interface,
                        if off > 0 {
                            ": the packets its tunnels carry (Geneve, VXLAN, GTP-U, GRE or IP in IP headers left out)"
                        } else {
                            ""
                        }
                    );
                    let desc = anon.map_or_else(|| desc.clone(), |a| a.text(&desc).into_owned());
                    // Snaplen 0: not limited (packets cut for redaction say so by their own lengths).
                    match w.interface(link.0, 0, "", &desc) {
                        Ok(id) => {
                            ifaces.insert(key, id);
                            id
                        }
                        Err(e) => {
                            err = Some(e);
                            return;
                        }
                    }
                }
            };
            let notes = by_frame.get(&pos).cloned().unwrap_or_default();
            if !notes.is_empty() {
                stats.commented += 1;
            }
            if let Err(e) = w.packet(id, frame.ts.0, &buf, origlen, &notes) {
                err = Some(e);
                return;
            }
            stats.packets += 1;
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        w.finish()?;
        Ok(stats)
    }
}
