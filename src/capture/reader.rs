//! The capture reader: pcap and pcapng, streaming with bounded memory.
//!
//! Record and block framing is read here over a bounded buffer (so lengths are checked before anything
//! is allocated, and packets are handed out without copying); Section Header and Interface Description
//! Blocks, with their options, are parsed with `pcap-parser`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use pcap_parser::pcapng::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock,
};
use pcap_parser::PcapNGOption;

use super::error::CaptureError;
use super::input::{read_head, Input};
use super::sniff::{sniff, Detected, SNIFF_LEN};
use super::{Frame, LinkType, Timestamp};

/// Largest captured length we accept in a pcap record (libpcap's and Wireshark's usual maximum).
pub const MAX_PCAP_CAPLEN: u32 = 256 * 1024;
/// Largest pcapng block we accept.
pub const MAX_PCAPNG_BLOCK_LEN: u32 = 16 * 1024 * 1024;
/// Most interfaces we accept in one pcapng section.
pub const MAX_INTERFACES: usize = 65_536;
/// Most section comments we keep (further ones are dropped).
const MAX_COMMENTS: usize = 256;
/// Longest comment or interface name we keep, in bytes (longer ones are cut).
const MAX_TEXT_LEN: usize = 4096;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const PB_OBSOLETE: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const NRB: u32 = 0x0000_0004;
const ISB: u32 = 0x0000_0005;
const EPB: u32 = 0x0000_0006;
const SJE: u32 = 0x0000_0009;
const DSB: u32 = 0x0000_000A;
const CB_COPY: u32 = 0x0000_0BAD;
const CB_NOCOPY: u32 = 0x4000_0BAD;

/// Which container format the file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap {
        /// Nanosecond timestamps (magic 0xa1b23c4d) rather than microseconds.
        nanosecond: bool,
    },
    /// pcapng.
    PcapNg,
}

/// One capture interface: the pcap file header, or a pcapng Interface Description Block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Link type of every frame captured on this interface.
    pub link: LinkType,
    /// `if_name`, when the file gives one.
    pub name: Option<String>,
    /// `if_description`, when the file gives one.
    pub description: Option<String>,
    /// Snapshot length (0 means unlimited in pcapng).
    pub snaplen: u32,
    /// Timestamp units per second (1 000 000 for microsecond pcap, 10^n or 2^n from pcapng `if_tsresol`).
    pub ts_units_per_sec: u64,
    /// pcapng `if_tsoffset`: seconds added to every timestamp (0 for pcap).
    pub ts_offset_secs: i64,
}

/// Counts of what the reader saw besides the frames it returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// pcapng sections (Section Header Blocks); 0 for pcap.
    pub sections: u64,
    /// pcapng Interface Description Blocks.
    pub interface_blocks: u64,
    /// Frames returned by [`CaptureReader::next_frame`].
    pub frames: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// Blocks that were read and skipped, by pcapng block type: Name Resolution (4), Interface Statistics (5),
    /// systemd Journal Export (9), Decryption Secrets (0xA), Custom (0xBAD, 0x40000BAD) and unknown types.
    /// Journal Export and Custom blocks still take a frame number, as in Wireshark.
    pub skipped_blocks: BTreeMap<u32, u64>,
}

impl CaptureStats {
    /// Total of [`CaptureStats::skipped_blocks`].
    pub fn skipped_block_total(&self) -> u64 {
        self.skipped_blocks.values().sum()
    }
}

/// A human name for a pcapng block type, for summaries.
pub fn block_type_name(block_type: u32) -> &'static str {
    match block_type {
        SHB => "Section Header",
        IDB => "Interface Description",
        PB_OBSOLETE => "Packet (obsolete)",
        SPB => "Simple Packet",
        NRB => "Name Resolution",
        ISB => "Interface Statistics",
        EPB => "Enhanced Packet",
        SJE => "systemd Journal Export",
        DSB => "Decryption Secrets",
        CB_COPY | CB_NOCOPY => "Custom",
        _ => "unknown",
    }
}

/// Converts raw timestamp units to nanoseconds since the epoch.
#[derive(Clone, Copy, Debug)]
struct TsConv {
    units_per_sec: u64,
    offset_ns: i128,
}

impl TsConv {
    fn to_timestamp(self, units: u64) -> Timestamp {
        let ns: i128 = match self.units_per_sec {
            1_000_000_000 => i128::from(units),
            1_000_000 => i128::from(units).saturating_mul(1000),
            per_sec => {
                let wide = u128::from(units).saturating_mul(1_000_000_000);
                let ns = wide.checked_div(u128::from(per_sec)).unwrap_or(0);
                i128::try_from(ns).unwrap_or(i128::MAX)
            }
        };
        let total = ns.saturating_add(self.offset_ns);
        Timestamp(u64::try_from(total.max(0)).unwrap_or(u64::MAX))
    }
}

/// The read buffer a frame's bytes are in ([`CaptureReader::next_frame_in_block`]).
#[derive(Clone, Copy, Debug)]
pub struct FrameBlock<'a> {
    /// The buffer: a clone keeps its bytes as they are.
    pub block: &'a Arc<[u8]>,
    /// Where the frame's bytes start in it.
    pub pos: usize,
}

/// Where the packet bytes of a frame sit in the input buffer.
struct FrameMeta {
    ts: Timestamp,
    link: LinkType,
    interface: u32,
    origlen: u32,
    pos: usize,
    len: usize,
}

enum Kind {
    Pcap {
        big_endian: bool,
        modified: bool,
        nanosecond: bool,
    },
    PcapNg {
        big_endian: bool,
    },
}

/// Reads frames from a pcap or pcapng file, one at a time, with bounded memory.
pub struct CaptureReader {
    name: String,
    input: Input,
    kind: Kind,
    interfaces: Vec<InterfaceInfo>,
    ts_convs: Vec<TsConv>,
    comments: Vec<String>,
    /// Last frame number handed out (Wireshark numbering: counts every packet-like block).
    number: u64,
    stats: CaptureStats,
    done: bool,
    /// The next frame (or the end, or an error), read by [`CaptureReader::peek_ts`] and not given
    /// yet.
    peeked: Option<Result<Option<FrameMeta>, CaptureError>>,
    /// pcap: the file header's link type (every record has it).
    pcap_link: LinkType,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format())
            .field("interfaces", &self.interfaces)
            .field("bytes_read", &self.bytes_read())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn rd_u16(b: &[u8], off: usize, be: bool) -> Option<u16> {
    let a: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

fn rd_u32(b: &[u8], off: usize, be: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn rd_i64(b: &[u8], off: usize, be: bool) -> Option<i64> {
    let a: [u8; 8] = b.get(off..off.checked_add(8)?)?.try_into().ok()?;
    Some(if be {
        i64::from_be_bytes(a)
    } else {
        i64::from_le_bytes(a)
    })
}

fn text(bytes: &[u8]) -> String {
    let bytes = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.len() > MAX_TEXT_LEN {
        let mut cut = MAX_TEXT_LEN;
        while !s.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        s.truncate(cut);
    }
    s
}

/// Option values (without padding), up to opt_endofopt.
fn option_values<'a>(
    options: &'a [PcapNGOption<'a>],
    code: u16,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    options
        .iter()
        .take_while(|o| o.code.0 != 0)
        .filter(move |o| o.code.0 == code)
        .map(|o| o.as_bytes().unwrap_or(o.value()))
}

/// Units per second from pcapng `if_tsresol`, or `None` when it does not fit in 64 bits.
fn tsresol_units(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        1u64.checked_shl(exp).filter(|_| exp < 64)
    }
}

impl CaptureReader {
    /// Opens a capture file; `-` means standard input.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        Self::open_ahead(path, false)
    }

    /// [`CaptureReader::open`], read ahead in another thread ([`CaptureReader::read_ahead`]) or
    /// in place.
    pub fn open_ahead(path: &Path, ahead: bool) -> Result<Self, CaptureError> {
        if path.as_os_str() == "-" {
            return Self::with_source("<stdin>".to_string(), Box::new(std::io::stdin()), ahead);
        }
        let shown = path.display().to_string();
        let io_err = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => CaptureError::NotFound {
                path: shown.clone(),
            },
            _ => CaptureError::Io {
                name: shown.clone(),
                source: e,
            },
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory { path: shown });
        }
        let file = std::fs::File::open(path).map_err(io_err)?;
        Self::with_source(shown, Box::new(file), ahead)
    }

    /// Bytes of the input consumed so far.
    pub fn position(&self) -> u64 {
        self.input.offset()
    }

    /// Reads a capture from any byte stream; `name` is used in messages (and its extension as a hint).
    pub fn from_reader(name: String, r: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        Self::with_source(name, r, false)
    }

    /// Like [`CaptureReader::from_reader`], but another thread reads the stream ahead, into
    /// buffers it hands over without copying (see [`crate::capture`]'s input module): the same
    /// frames, offsets and errors, with the kernel's copy of the file beside the analysis.
    pub fn read_ahead(name: String, r: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        Self::with_source(name, r, true)
    }

    fn with_source(
        name: String,
        mut r: Box<dyn Read + Send>,
        ahead: bool,
    ) -> Result<Self, CaptureError> {
        let mut head = [0u8; SNIFF_LEN];
        let got = read_head(&mut *r, &mut head).map_err(|source| CaptureError::Io {
            name: name.clone(),
            source,
        })?;
        let head = head.get(..got).unwrap_or(&[]);
        if head.is_empty() {
            return Err(CaptureError::Empty { name });
        }
        let kind = match sniff(head, &name) {
            Detected::Foreign(kind) => return Err(CaptureError::NotACapture { name, kind }),
            Detected::Pcap {
                big_endian,
                nanosecond,
                modified,
            } => Kind::Pcap {
                big_endian,
                modified,
                nanosecond,
            },
            Detected::PcapNg => Kind::PcapNg { big_endian: false },
        };
        // Room for the largest block plus the next block's header.
        let max_buf = usize::try_from(MAX_PCAPNG_BLOCK_LEN)
            .unwrap_or(usize::MAX)
            .saturating_add(64);
        let input = if ahead {
            Input::ahead(r, head, max_buf)
        } else {
            Input::new(r, head, max_buf)
        };
        let mut reader = CaptureReader {
            name,
            input,
            kind,
            interfaces: Vec::new(),
            ts_convs: Vec::new(),
            comments: Vec::new(),
            number: 0,
            stats: CaptureStats::default(),
            done: false,
            peeked: None,
            pcap_link: LinkType(u32::MAX),
        };
        reader.read_file_header()?;
        Ok(reader)
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        match self.kind {
            Kind::Pcap { nanosecond, .. } => CaptureFormat::Pcap { nanosecond },
            Kind::PcapNg { .. } => CaptureFormat::PcapNg,
        }
    }

    /// Interfaces: for pcap the one described by the file header; for pcapng those of the current
    /// section (the table is reset by each Section Header Block).
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        &self.interfaces
    }

    /// Bytes of the file processed so far (the offset of the next unread record), for progress.
    pub fn bytes_read(&self) -> u64 {
        self.input.offset()
    }

    /// The name given to [`CaptureReader::from_reader`], or the path given to [`CaptureReader::open`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `opt_comment` values of every pcapng Section Header Block seen so far, in file order.
    pub fn section_comments(&self) -> &[String] {
        &self.comments
    }

    /// What was seen besides the frames: sections, interfaces, skipped blocks.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Next frame, borrowed until the next call. `Ok(None)` at the end. A file truncated in the middle
    /// of a packet or block gives `Err(CaptureError::Truncated{..})` once, a damaged one
    /// `Err(CaptureError::Corrupt{..})` once; every call after an error returns `Ok(None)`.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        Ok(self.next_frame_in_block()?.map(|(f, _)| f))
    }

    /// [`CaptureReader::next_frame`], with the buffer its bytes are in: a clone of the block keeps
    /// them (`block[pos..pos + frame.data.len()]`) after the next call, as long as it is held,
    /// without copying them.
    pub fn next_frame_in_block(
        &mut self,
    ) -> Result<Option<(Frame<'_>, FrameBlock<'_>)>, CaptureError> {
        if self.peeked.is_some() {
            return self.unpeek();
        }
        if self.done {
            return Ok(None);
        }
        let result = match self.kind {
            Kind::Pcap {
                big_endian,
                modified,
                nanosecond,
            } => self.next_pcap(big_endian, modified, nanosecond),
            Kind::PcapNg { .. } => self.next_pcapng(),
        };
        match result {
            Ok(Some(meta)) => {
                self.stats.frames = self.stats.frames.saturating_add(1);
                self.stats.bytes = self.stats.bytes.saturating_add(meta.len as u64);
                Ok(Some(self.frame_at(&meta)))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    #[inline]
    fn frame_at(&self, meta: &FrameMeta) -> (Frame<'_>, FrameBlock<'_>) {
        let frame = Frame {
            number: self.number,
            ts: meta.ts,
            link: meta.link,
            interface: meta.interface,
            origlen: meta.origlen,
            data: self.input.slice(meta.pos, meta.len),
        };
        let block = FrameBlock {
            block: self.input.block(),
            pos: meta.pos,
        };
        (frame, block)
    }

    /// The timestamp of the frame the next [`CaptureReader::next_frame`] gives, without giving it
    /// (it is read now, and stays where it is in the buffer until then). `None` when the next call
    /// gives the end or an error instead.
    pub fn peek_ts(&mut self) -> Option<Timestamp> {
        if self.peeked.is_none() {
            let next = match self.next_frame_in_block() {
                Ok(Some((f, b))) => Ok(Some(FrameMeta {
                    ts: f.ts,
                    link: f.link,
                    interface: f.interface,
                    origlen: f.origlen,
                    pos: b.pos,
                    len: f.data.len(),
                })),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            self.peeked = Some(next);
        }
        match &self.peeked {
            Some(Ok(Some(meta))) => Some(meta.ts),
            _ => None,
        }
    }

    /// [`CaptureReader::next_frame_in_block`] after [`CaptureReader::peek_ts`]: what it read.
    #[cold]
    fn unpeek(&mut self) -> Result<Option<(Frame<'_>, FrameBlock<'_>)>, CaptureError> {
        match self.peeked.take() {
            Some(Ok(Some(meta))) => Ok(Some(self.frame_at(&meta))),
            Some(Err(e)) => Err(e),
            Some(Ok(None)) | None => Ok(None),
        }
    }

    fn io_error(&self, source: std::io::Error) -> CaptureError {
        CaptureError::Io {
            name: self.name.clone(),
            source,
        }
    }

    fn truncated(&self, offset: u64, what: &'static str) -> CaptureError {
        CaptureError::Truncated {
            name: self.name.clone(),
            frames: self.stats.frames,
            offset,
            what,
        }
    }

    fn corrupt(&self, offset: u64, detail: String) -> CaptureError {
        CaptureError::Corrupt {
            name: self.name.clone(),
            offset,
            frames: self.stats.frames,
            detail,
        }
    }

    fn fill(&mut self, n: usize) -> Result<bool, CaptureError> {
        self.input.fill(n).map_err(|e| self.io_error(e))
    }

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        match self.kind {
            Kind::Pcap {
                big_endian,
                nanosecond,
                ..
            } => {
                if !self.fill(24)? {
                    return Err(CaptureError::HeaderTruncated {
                        name: self.name.clone(),
                        format: "pcap",
                        len: self.input.available() as u64,
                    });
                }
                let h = self.input.data();
                let snaplen = rd_u32(h, 16, big_endian).unwrap_or(0);
                // Upper bits carry FCS information (LT_LINKTYPE in libpcap).
                let link = rd_u32(h, 20, big_endian).unwrap_or(0) & 0x03FF_FFFF;
                let units_per_sec = if nanosecond { 1_000_000_000 } else { 1_000_000 };
                self.pcap_link = LinkType(link);
                self.interfaces.push(InterfaceInfo {
                    link: LinkType(link),
                    name: None,
                    description: None,
                    snaplen,
                    ts_units_per_sec: units_per_sec,
                    ts_offset_secs: 0,
                });
                self.ts_convs.push(TsConv {
                    units_per_sec,
                    offset_ns: 0,
                });
                self.input.consume(24);
                Ok(())
            }
            Kind::PcapNg { .. } => {
                // The first block must be a complete Section Header Block.
                match self.next_block(true) {
                    Ok(_) => Ok(()),
                    Err(CaptureError::Truncated { .. }) => Err(CaptureError::HeaderTruncated {
                        name: self.name.clone(),
                        format: "pcapng",
                        len: self.input.available() as u64,
                    }),
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn next_pcap(
        &mut self,
        be: bool,
        modified: bool,
        nanosecond: bool,
    ) -> Result<Option<FrameMeta>, CaptureError> {
        let hdr_len: usize = if modified { 24 } else { 16 };
        if let Some(meta) = self.pcap_record_in_buffer(hdr_len, be, nanosecond) {
            return Ok(Some(meta));
        }
        let offset = self.input.offset();
        if !self.fill(hdr_len)? {
            if self.input.available() == 0 {
                return Ok(None);
            }
            return Err(self.truncated(offset, "packet record"));
        }
        let h = self.input.data();
        let (Some(ts_sec), Some(ts_frac), Some(caplen), Some(origlen)) = (
            rd_u32(h, 0, be),
            rd_u32(h, 4, be),
            rd_u32(h, 8, be),
            rd_u32(h, 12, be),
        ) else {
            return Err(self.truncated(offset, "packet record"));
        };
        if caplen > MAX_PCAP_CAPLEN {
            return Err(self.corrupt(
                offset,
                format!(
                    "a packet record claims {caplen} captured bytes, more than the {MAX_PCAP_CAPLEN} \
                     any real capture keeps per packet"
                ),
            ));
        }
        let caplen_usize = caplen as usize;
        let total = hdr_len.saturating_add(caplen_usize);
        if !self.fill(total)? {
            return Err(self.truncated(offset, "packet record"));
        }
        let frac_ns = if nanosecond {
            u64::from(ts_frac)
        } else {
            u64::from(ts_frac).saturating_mul(1000)
        };
        let ts = Timestamp(
            u64::from(ts_sec)
                .saturating_mul(1_000_000_000)
                .saturating_add(frac_ns),
        );
        let link = self
            .interfaces
            .first()
            .map_or(LinkType(u32::MAX), |i| i.link);
        let pos = self.input.position().saturating_add(hdr_len);
        self.input.consume(total);
        self.number = self.number.saturating_add(1);
        Ok(Some(FrameMeta {
            ts,
            link,
            interface: 0,
            origlen,
            pos,
            len: caplen_usize,
        }))
    }

    /// The common case of [`CaptureReader::next_pcap`], without a read: the next record, header and
    /// data, is already in the buffer and its length is plausible. `None`: take the general path
    /// (which reads, and reports truncation and absurd lengths).
    #[inline]
    fn pcap_record_in_buffer(
        &mut self,
        hdr_len: usize,
        be: bool,
        nanosecond: bool,
    ) -> Option<FrameMeta> {
        let h = self.input.data();
        let fixed: &[u8; 16] = h.get(..16)?.try_into().ok()?;
        let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3] = *fixed;
        let word = |a: [u8; 4]| {
            if be {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        let (ts_sec, ts_frac, caplen, origlen) = (
            word([a0, a1, a2, a3]),
            word([b0, b1, b2, b3]),
            word([c0, c1, c2, c3]),
            word([d0, d1, d2, d3]),
        );
        if caplen > MAX_PCAP_CAPLEN {
            return None;
        }
        let total = hdr_len + caplen as usize;
        if h.len() < total {
            return None;
        }
        let frac_ns = if nanosecond {
            u64::from(ts_frac)
        } else {
            u64::from(ts_frac) * 1000
        };
        let ts = Timestamp(u64::from(ts_sec) * 1_000_000_000 + frac_ns);
        let pos = self.input.position() + hdr_len;
        self.input.consume(total);
        self.number = self.number.saturating_add(1);
        Some(FrameMeta {
            ts,
            link: self.pcap_link,
            interface: 0,
            origlen,
            pos,
            len: caplen as usize,
        })
    }

    fn next_pcapng(&mut self) -> Result<Option<FrameMeta>, CaptureError> {
        loop {
            if let Some(result) = self.next_block(false)? {
                return Ok(Some(result));
            }
            if self.input.available() == 0 && !self.fill(1)? {
                return Ok(None);
            }
        }
    }

    /// Reads one pcapng block. Returns the frame for packet blocks, `None` for others (and at the end of
    /// the input, which the caller tells apart by [`Input::available`]). With `first`, the block must be
    /// a Section Header Block.
    fn next_block(&mut self, first: bool) -> Result<Option<FrameMeta>, CaptureError> {
        let offset = self.input.offset();
        if !self.fill(8)? {
            if self.input.available() == 0 && !first {
                return Ok(None);
            }
            return Err(self.truncated(offset, "pcapng block"));
        }
        let mut be = match self.kind {
            Kind::PcapNg { big_endian } => big_endian,
            Kind::Pcap { .. } => false,
        };
        let raw_type = rd_u32(self.input.data(), 0, false).unwrap_or(0);
        if raw_type == SHB {
            if !self.fill(12)? {
                return Err(self.truncated(offset, "pcapng block"));
            }
            be = match self.input.data().get(8..12) {
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
                _ => {
                    return Err(self.corrupt(
                        offset,
                        "a section header block has an unknown byte-order magic".to_string(),
                    ))
                }
            };
            self.kind = Kind::PcapNg { big_endian: be };
        } else if first {
            return Err(self.corrupt(
                offset,
                "the file does not start with a section header block".into(),
            ));
        }
        let d = self.input.data();
        let btype = rd_u32(d, 0, be).unwrap_or(0);
        let blen = rd_u32(d, 4, be).unwrap_or(0);
        if blen < 12 || blen % 4 != 0 {
            return Err(self.corrupt(
                offset,
                format!(
                    "a pcapng block (type 0x{btype:08x}) has an impossible length of {blen} bytes \
                     (a block is at least 12 bytes and a multiple of 4)"
                ),
            ));
        }
        if blen > MAX_PCAPNG_BLOCK_LEN {
            return Err(self.corrupt(
                offset,
                format!(
                    "a pcapng block (type 0x{btype:08x}) claims a length of {blen} bytes, more than the \
                     {} MiB limit for one block",
                    MAX_PCAPNG_BLOCK_LEN / (1024 * 1024)
                ),
            ));
        }
        let blen_usize = blen as usize;
        if !self.fill(blen_usize)? {
            return Err(self.truncated(offset, "pcapng block"));
        }
        let block_pos = self.input.position();
        let block = self.input.data().get(..blen_usize).unwrap_or(&[]);
        let trailer = rd_u32(block, blen_usize.saturating_sub(4), be).unwrap_or(0);
        if trailer != blen {
            return Err(self.corrupt(
                offset,
                format!(
                    "a pcapng block (type 0x{btype:08x}) has two different lengths ({blen} at its start, \
                     {trailer} at its end)"
                ),
            ));
        }
        let result = match btype {
            SHB => {
                let comments = match parse_sectionheaderblock(block) {
                    Ok((_, shb)) if shb.major_version == 1 => {
                        option_values(&shb.options, 1).map(text).collect::<Vec<_>>()
                    }
                    Ok((_, shb)) => {
                        let detail = format!(
                            "a section header block has pcapng version {}.{}, which this tool does not know",
                            shb.major_version, shb.minor_version
                        );
                        return Err(self.corrupt(offset, detail));
                    }
                    Err(_) => {
                        return Err(
                            self.corrupt(offset, "a section header block cannot be parsed".into())
                        )
                    }
                };
                let room = MAX_COMMENTS.saturating_sub(self.comments.len());
                self.comments.extend(comments.into_iter().take(room));
                self.interfaces.clear();
                self.ts_convs.clear();
                self.stats.sections = self.stats.sections.saturating_add(1);
                None
            }
            IDB => {
                let parsed = if be {
                    parse_interfacedescriptionblock_be(block)
                } else {
                    parse_interfacedescriptionblock_le(block)
                };
                let Ok((_, idb)) = parsed else {
                    return Err(self.corrupt(
                        offset,
                        "an interface description block cannot be parsed".into(),
                    ));
                };
                let tsresol = option_values(&idb.options, 9)
                    .next()
                    .and_then(|v| v.first().copied())
                    .unwrap_or(6);
                let Some(units_per_sec) = tsresol_units(tsresol) else {
                    let detail = format!("an interface has an impossible timestamp resolution (if_tsresol 0x{tsresol:02x})");
                    return Err(self.corrupt(offset, detail));
                };
                let ts_offset_secs = option_values(&idb.options, 14)
                    .next()
                    .and_then(|v| rd_i64(v, 0, be))
                    .unwrap_or(0);
                let info = InterfaceInfo {
                    // The link type is a 16-bit field in pcapng.
                    link: LinkType(u32::from(rd_u16(block, 8, be).unwrap_or(0))),
                    name: option_values(&idb.options, 2).next().map(text),
                    description: option_values(&idb.options, 3).next().map(text),
                    snaplen: idb.snaplen,
                    ts_units_per_sec: units_per_sec,
                    ts_offset_secs,
                };
                if self.interfaces.len() >= MAX_INTERFACES {
                    let detail =
                        format!("a section declares more than {MAX_INTERFACES} interfaces");
                    return Err(self.corrupt(offset, detail));
                }
                self.interfaces.push(info);
                self.ts_convs.push(TsConv {
                    units_per_sec,
                    offset_ns: i128::from(ts_offset_secs).saturating_mul(1_000_000_000),
                });
                self.stats.interface_blocks = self.stats.interface_blocks.saturating_add(1);
                None
            }
            EPB | PB_OBSOLETE => {
                // EPB: if_id(4) ts_high(4) ts_low(4) caplen(4) origlen(4) data
                // PB:  if_id(2) drops(2) ts_high(4) ts_low(4) caplen(4) origlen(4) data
                let if_id = if btype == EPB {
                    rd_u32(block, 8, be)
                } else {
                    rd_u16(block, 8, be).map(u32::from)
                };
                let fields = (
                    if_id,
                    rd_u32(block, 12, be),
                    rd_u32(block, 16, be),
                    rd_u32(block, 20, be),
                    rd_u32(block, 24, be),
                );
                let (Some(if_id), Some(ts_high), Some(ts_low), Some(caplen), Some(origlen)) =
                    fields
                else {
                    return Err(
                        self.corrupt(offset, "a packet block is too short for its header".into())
                    );
                };
                if u64::from(caplen).saturating_add(32) > u64::from(blen) {
                    let detail = format!(
                        "a packet block says it holds {caplen} packet bytes but the block is only {blen} bytes long"
                    );
                    return Err(self.corrupt(offset, detail));
                }
                let (link, conv) = self.interface(offset, if_id)?;
                let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
                Some(FrameMeta {
                    ts: conv.to_timestamp(units),
                    link,
                    interface: if_id,
                    origlen,
                    pos: block_pos.saturating_add(28),
                    len: caplen as usize,
                })
            }
            SPB => {
                // origlen(4) data: captured length is min(origlen, snaplen, room in the block)
                let origlen = rd_u32(block, 8, be).unwrap_or(0);
                let (link, _) = self.interface(offset, 0)?;
                let snaplen = self.interfaces.first().map_or(0, |i| i.snaplen);
                let mut caplen = origlen.min(blen.saturating_sub(16));
                if snaplen != 0 {
                    caplen = caplen.min(snaplen);
                }
                Some(FrameMeta {
                    ts: Timestamp(0),
                    link,
                    interface: 0,
                    origlen,
                    pos: block_pos.saturating_add(12),
                    len: caplen as usize,
                })
            }
            other => {
                if matches!(other, SJE | CB_COPY | CB_NOCOPY) {
                    // Wireshark shows these as frames: keep its numbering.
                    self.number = self.number.saturating_add(1);
                }
                let count = self.stats.skipped_blocks.entry(other).or_insert(0);
                *count = count.saturating_add(1);
                None
            }
        };
        self.input.consume(blen_usize);
        if result.is_some() {
            self.number = self.number.saturating_add(1);
        }
        Ok(result)
    }

    /// The link type and timestamp conversion of interface `if_id` in the current section.
    fn interface(&self, offset: u64, if_id: u32) -> Result<(LinkType, TsConv), CaptureError> {
        let idx = usize::try_from(if_id).unwrap_or(usize::MAX);
        match (self.interfaces.get(idx), self.ts_convs.get(idx)) {
            (Some(info), Some(conv)) => Ok((info.link, *conv)),
            _ => Err(self.corrupt(
                offset,
                format!(
                    "a packet refers to interface {if_id}, but its section declares {} interface(s)",
                    self.interfaces.len()
                ),
            )),
        }
    }
}
