//! Frame decoding: link layer (Ethernet with VLAN/QinQ, PPPoE, Linux SLL/SLL2, raw IP, BSD NULL/LOOP),
//! IPv4 (with fragment reassembly) and IPv6 (with extension headers), tunnels (Geneve, VXLAN, GTP-U,
//! GRE, IP in IP: [`tunnel`]), TCP, and ICMP/ICMPv6 errors that quote TCP.
//!
//! Decoding never fails hard: what cannot be decoded is reported as [`Decoded::Skipped`] with a reason,
//! and packets cut by the capture's snaplen are decoded as far as they go, with the missing TCP payload
//! counted in [`TcpPacket::payload_missing`].
//!
//! Wire data is untrusted: nothing here may panic or allocate without bound whatever the input. The common
//! path allocates nothing: the TCP payload borrows the frame's bytes.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::capture::Frame;

mod frag;
mod ip;
mod link;
#[cfg(test)]
mod tests;
pub mod tunnel;

pub use frag::FragmentLimits;

/// The outermost tunnel a packet came in ([`tunnel`]): which, its identifier (VNI, TEID, key), and
/// the addresses of the packet that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelInfo {
    pub kind: tunnel::Kind,
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

impl std::fmt::Display for TunnelInfo {
    /// "Geneve VNI 4242 from 10.0.0.1 to 10.0.0.2".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.label())?;
        if let Some(id) = self.id {
            write!(f, " {} {id}", self.kind.id_name())?;
        }
        write!(f, " from {} to {}", self.outer_src, self.outer_dst)
    }
}

/// IP-level facts of a packet that verdict rules use for provenance (TTL, IP ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; `None` for IPv6.
    pub ip_id: Option<u16>,
    /// IPv4 Don't Fragment flag (false for IPv6).
    pub dont_fragment: bool,
}

/// TCP header flags: the flags byte of the header (byte 13), read with [`TcpFlags::syn`] and friends.
/// One byte, so the per-packet facts that carry it stay small.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags(u8);

impl std::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpFlags")
            .field("syn", &self.syn())
            .field("ack", &self.ack())
            .field("fin", &self.fin())
            .field("rst", &self.rst())
            .field("psh", &self.psh())
            .field("urg", &self.urg())
            .field("ece", &self.ece())
            .field("cwr", &self.cwr())
            .finish()
    }
}

impl TcpFlags {
    /// The flags of a TCP header's flags byte (byte 13).
    pub fn from_bits(fl: u8) -> TcpFlags {
        TcpFlags(fl)
    }

    /// The flags byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn fin(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn syn(self) -> bool {
        self.0 & 0x02 != 0
    }
    pub fn rst(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub fn psh(self) -> bool {
        self.0 & 0x08 != 0
    }
    pub fn ack(self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn urg(self) -> bool {
        self.0 & 0x20 != 0
    }
    pub fn ece(self) -> bool {
        self.0 & 0x40 != 0
    }
    pub fn cwr(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The set flags by name (SYN, FIN, RST, PSH, ACK, URG, ECE, CWR), joined by `sep`.
    pub fn names(&self, sep: &str) -> String {
        let mut s = String::with_capacity(24);
        self.write_names(&mut s, sep);
        s
    }

    /// [`TcpFlags::names`], appended to `out` (no list, no allocation of its own).
    pub fn write_names(&self, out: &mut String, sep: &str) {
        let all = [
            (self.syn(), "SYN"),
            (self.fin(), "FIN"),
            (self.rst(), "RST"),
            (self.psh(), "PSH"),
            (self.ack(), "ACK"),
            (self.urg(), "URG"),
            (self.ece(), "ECE"),
            (self.cwr(), "CWR"),
        ];
        let mut first = true;
        for (_, name) in all.iter().filter(|(on, _)| *on) {
            if !first {
                out.push_str(sep);
            }
            out.push_str(name);
            first = false;
        }
        if first {
            out.push_str("no flags");
        }
    }
}

/// The TCP options verdicts and ladders show (those the capture kept, when the snaplen cut the header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamp: Option<(u32, u32)>,
}

impl TcpPacket<'_> {
    /// MSS, window scale, SACK-permitted and timestamps, from the options the capture kept.
    pub fn options(&self) -> TcpOptions {
        ip::tcp_options(&self.options_raw)
    }
}

/// A decoded TCP segment.
#[derive(Clone, Debug)]
pub struct TcpPacket<'a> {
    pub ip: IpInfo,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The raw TCP options as captured; [`TcpPacket::options`] reads them. Kept raw because nothing
    /// on the per-packet path needs them, and parsing them for every packet cost more than copying.
    pub options_raw: Cow<'a, [u8]>,
    /// The captured payload (owned only when it came out of IP fragment reassembly).
    pub payload: Cow<'a, [u8]>,
    /// Payload bytes the IP length says exist but the capture did not keep (snaplen cut).
    pub payload_missing: u32,
}

/// An ICMP or ICMPv6 error that quotes the start of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the ICMP message (a router or firewall, or the destination host).
    pub ip: IpInfo,
    /// 4 for ICMP, 6 for ICMPv6.
    pub version: u8,
    pub icmp_type: u8,
    pub code: u8,
    /// Quoted segment: its source and destination as sent by the original sender.
    pub quoted_src: IpAddr,
    pub quoted_dst: IpAddr,
    pub quoted_src_port: u16,
    pub quoted_dst_port: u16,
    /// Quoted TCP sequence number, when the quote is long enough.
    pub quoted_seq: Option<u32>,
}

impl IcmpError {
    /// Human name, e.g. "destination unreachable: administratively prohibited (type 3 code 13)".
    pub fn describe(&self) -> String {
        let what = match (self.version, self.icmp_type, self.code) {
            (4, 3, 0) => "destination unreachable: net unreachable",
            (4, 3, 1) => "destination unreachable: host unreachable",
            (4, 3, 2) => "destination unreachable: protocol unreachable",
            (4, 3, 3) => "destination unreachable: port unreachable",
            (4, 3, 4) => "destination unreachable: fragmentation needed",
            (4, 3, 9) | (4, 3, 10) => {
                "destination unreachable: network/host administratively prohibited"
            }
            (4, 3, 13) => "destination unreachable: communication administratively prohibited",
            (4, 3, _) => "destination unreachable",
            (4, 11, _) => "time exceeded",
            (4, 12, _) => "parameter problem",
            (6, 1, 0) => "destination unreachable: no route to destination",
            (6, 1, 1) => "destination unreachable: communication administratively prohibited",
            (6, 1, 3) => "destination unreachable: address unreachable",
            (6, 1, 4) => "destination unreachable: port unreachable",
            (6, 1, 5) => "destination unreachable: source address failed ingress/egress policy",
            (6, 1, 6) => "destination unreachable: reject route to destination",
            (6, 1, _) => "destination unreachable",
            (6, 2, _) => "packet too big",
            (6, 3, _) => "time exceeded",
            (6, 4, _) => "parameter problem",
            _ => "ICMP error",
        };
        let proto = if self.version == 6 { "ICMPv6" } else { "ICMP" };
        format!(
            "{proto} {what} (type {} code {})",
            self.icmp_type, self.code
        )
    }
}

/// Why a frame was not decoded to TCP or an ICMP error. Counted per reason in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The link type is not one we decode.
    UnsupportedLinkType(u32),
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// IP but not TCP (UDP, ...), and not an ICMP error quoting TCP.
    NotTcp,
    /// An IP fragment waiting for the rest of its datagram (or one that was dropped: pool limits, cut by
    /// the snaplen, inconsistent; see [`DecodeStats::fragments_dropped`]). The frame that completes a
    /// datagram is decoded as the reassembled packet.
    FragmentPending,
    /// Headers cut by the capture or malformed before the fixed 20-byte TCP header ended. (A segment
    /// whose TCP options the snaplen cut is still decoded, with the options that were kept.)
    Malformed,
}

/// The result of decoding one frame.
#[derive(Clone, Debug)]
pub enum Decoded<'a> {
    Tcp(TcpPacket<'a>),
    IcmpError(IcmpError),
    Skipped(SkipReason),
}

/// Counts of what the decoder produced and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames given to [`Decoder::decode`].
    pub frames: u64,
    /// Frames decoded to a TCP segment (a reassembled datagram counts once, on its last fragment).
    pub tcp: u64,
    /// Frames decoded to an ICMP/ICMPv6 error quoting TCP.
    pub icmp_errors: u64,
    /// Skipped: not IP.
    pub not_ip: u64,
    /// Skipped: IP but not TCP nor an ICMP error quoting TCP.
    pub not_tcp: u64,
    /// Skipped: an IP fragment (waiting for the rest of its datagram, or dropped; see
    /// [`DecodeStats::fragments_dropped`]).
    pub fragment_pending: u64,
    /// Skipped: headers cut or malformed before the TCP header.
    pub malformed: u64,
    /// Skipped: link types not decoded, with the number of frames of each.
    pub unsupported_link_types: BTreeMap<u32, u64>,
    /// Frames whose TCP segment or ICMP error was found inside a tunnel ([`tunnel`]).
    pub tunneled: u64,
    /// IP datagrams completed from fragments.
    pub datagrams_reassembled: u64,
    /// Fragments that went into completed datagrams.
    pub fragments_reassembled: u64,
    /// Fragments thrown away: pool limits, timeouts, inconsistent lengths, cut by the snaplen, or still
    /// waiting when [`Decoder::finish`] was called.
    pub fragments_dropped: u64,
    /// Of [`DecodeStats::fragments_dropped`], those dropped because the reassembly pool was full
    /// ([`FragmentLimits`]).
    pub fragments_dropped_limit: u64,
}

impl DecodeStats {
    /// Frames skipped for `reason` (for `UnsupportedLinkType(n)`, those of link type `n`).
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        match reason {
            SkipReason::UnsupportedLinkType(n) => {
                self.unsupported_link_types.get(&n).copied().unwrap_or(0)
            }
            SkipReason::NotIp => self.not_ip,
            SkipReason::NotTcp => self.not_tcp,
            SkipReason::FragmentPending => self.fragment_pending,
            SkipReason::Malformed => self.malformed,
        }
    }

    /// Every skip reason with a non-zero count, in [`SkipReason`] order.
    pub fn skip_counts(&self) -> Vec<(SkipReason, u64)> {
        let mut v: Vec<(SkipReason, u64)> = self
            .unsupported_link_types
            .iter()
            .map(|(&n, &c)| (SkipReason::UnsupportedLinkType(n), c))
            .collect();
        for r in [
            SkipReason::NotIp,
            SkipReason::NotTcp,
            SkipReason::FragmentPending,
            SkipReason::Malformed,
        ] {
            v.push((r, self.skipped(r)));
        }
        v.retain(|&(_, c)| c > 0);
        v
    }

    /// All skipped frames.
    pub fn skipped_total(&self) -> u64 {
        self.unsupported_link_types
            .values()
            .fold(0u64, |a, &c| a.saturating_add(c))
            .saturating_add(self.not_ip)
            .saturating_add(self.not_tcp)
            .saturating_add(self.fragment_pending)
            .saturating_add(self.malformed)
    }
}

/// Where the network-layer (IP) packet starts in a frame's bytes, for the link types [`Decoder`]
/// decodes (after Ethernet, VLAN tags, PPPoE, MPLS, cooked headers...). `None` when it is not IP.
pub fn network_offset(link: crate::capture::LinkType, data: &[u8]) -> Option<usize> {
    let net = link::to_network(link, data).ok()?;
    let off = (net.packet.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    (off <= data.len()).then_some(off)
}

/// For a frame that carries a tunnel the decoder opens ([`tunnel`]): the innermost packet as a
/// frame of its own, its link type (Ethernet, or raw IP) and where it starts in `data`. `None` when
/// the frame carries no such tunnel. The evidence file keeps these inner frames, so that the rules
/// for a plain frame (redaction, anonymization) apply to them as they are.
pub fn tunnel_payload(
    link: crate::capture::LinkType,
    data: &[u8],
) -> Option<(crate::capture::LinkType, usize)> {
    use crate::capture::LinkType;
    let mut packet = link::to_network(link, data).ok()?.packet;
    let mut found = None;
    for _ in 0..tunnel::MAX_DEPTH {
        let Some((_, _, proto, payload)) = ip::transport(packet) else {
            break;
        };
        let Some((kind, inner)) = tunnel::inner(proto, payload) else {
            break;
        };
        let off = (inner.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        match kind {
            tunnel::Inner::Ip => {
                found = Some((LinkType::RAW, off));
                packet = inner;
            }
            tunnel::Inner::Ethernet => {
                found = Some((LinkType::ETHERNET, off));
                match link::to_network(LinkType::ETHERNET, inner) {
                    Ok(net) => packet = net.packet,
                    Err(_) => break,
                }
            }
        }
    }
    found.filter(|(_, off)| *off <= data.len())
}

/// Whether frames of this link type are decoded (frames of other link types are skipped as
/// [`SkipReason::UnsupportedLinkType`]).
pub fn link_type_supported(link: crate::capture::LinkType) -> bool {
    !matches!(
        link::to_network(link, &[]),
        Err(SkipReason::UnsupportedLinkType(_))
    )
}

/// Decodes frames to TCP segments and ICMP errors. Holds the (bounded) IP fragment reassembly state, so
/// use one decoder per capture file, fed in file order.
#[derive(Debug)]
pub struct Decoder {
    frags: frag::Reassembler,
    stats: DecodeStats,
    last_tunnel: Option<TunnelInfo>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default fragment limits.
    pub fn new() -> Self {
        Self::with_fragment_limits(FragmentLimits::default())
    }

    /// A decoder with the given fragment reassembly limits.
    pub fn with_fragment_limits(limits: FragmentLimits) -> Self {
        Decoder {
            frags: frag::Reassembler::new(limits),
            stats: DecodeStats::default(),
            last_tunnel: None,
        }
    }

    /// Decodes one frame. Never fails: what cannot be decoded comes back as [`Decoded::Skipped`].
    #[inline]
    pub fn decode<'a>(&mut self, frame: &Frame<'a>) -> Decoded<'a> {
        self.last_tunnel = None;
        let data: &'a [u8] = frame.data;
        let decoded = match link::to_network(frame.link, data) {
            Err(reason) => Decoded::Skipped(reason),
            Ok(link::Network { packet, strict }) => {
                // The common packet: no fragment state involved, only two counters to move.
                if let Some(d) = ip::plain_tcp(packet) {
                    let s = &mut self.stats;
                    s.frames = s.frames.saturating_add(1);
                    match d {
                        Decoded::Tcp(_) => s.tcp = s.tcp.saturating_add(1),
                        _ => s.malformed = s.malformed.saturating_add(1),
                    }
                    return d;
                }
                let frame_cut = usize::try_from(frame.origlen)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(data.len());
                let d = ip::decode_ip(packet, strict, frame_cut, &mut self.frags, frame.ts.0);
                if !matches!(d, Decoded::Skipped(_)) {
                    self.last_tunnel = ip::outer_tunnel(packet);
                    if self.last_tunnel.is_some() {
                        self.stats.tunneled = self.stats.tunneled.saturating_add(1);
                    }
                }
                d
            }
        };
        self.count(&decoded);
        decoded
    }

    /// The addresses and ports (source first) of a frame that [`Decoder::decode`] would decode as
    /// a TCP segment by its common path (plain IPv4 or IPv6, not a fragment, whole in the capture),
    /// read without decoding it. `None`: decode it. A frame peeked and not decoded is counted with
    /// [`Decoder::count_peeked_tcp`].
    pub fn peek_tcp(&self, frame: &Frame<'_>) -> Option<(IpAddr, u16, IpAddr, u16)> {
        let net = link::to_network(frame.link, frame.data).ok()?;
        ip::peek_plain_tcp(net.packet)
    }

    /// Counts `n` frames [`Decoder::peek_tcp`] recognised, as decoding them would have.
    pub fn count_peeked_tcp(&mut self, n: u64) {
        self.stats.frames = self.stats.frames.saturating_add(n);
        self.stats.tcp = self.stats.tcp.saturating_add(n);
    }

    fn count(&mut self, d: &Decoded<'_>) {
        let s = &mut self.stats;
        s.frames = s.frames.saturating_add(1);
        let c = match d {
            Decoded::Tcp(_) => &mut s.tcp,
            Decoded::IcmpError(_) => &mut s.icmp_errors,
            Decoded::Skipped(SkipReason::UnsupportedLinkType(n)) => {
                s.unsupported_link_types.entry(*n).or_insert(0)
            }
            Decoded::Skipped(SkipReason::NotIp) => &mut s.not_ip,
            Decoded::Skipped(SkipReason::NotTcp) => &mut s.not_tcp,
            Decoded::Skipped(SkipReason::FragmentPending) => &mut s.fragment_pending,
            Decoded::Skipped(SkipReason::Malformed) => &mut s.malformed,
        };
        *c = c.saturating_add(1);
        self.sync_fragment_counts();
    }

    fn sync_fragment_counts(&mut self) {
        let f = &self.frags.counts;
        self.stats.datagrams_reassembled = f.datagrams_reassembled;
        self.stats.fragments_reassembled = f.fragments_reassembled;
        self.stats.fragments_dropped = f.fragments_dropped;
        self.stats.fragments_dropped_limit = f.fragments_dropped_limit;
    }

    /// The outermost tunnel of the frame [`Decoder::decode`] decoded last, if it came in one.
    pub fn last_tunnel(&self) -> Option<TunnelInfo> {
        self.last_tunnel
    }

    /// What has been decoded and skipped so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// IP datagrams waiting for more fragments.
    pub fn pending_datagrams(&self) -> usize {
        self.frags.pending()
    }

    /// Call at the end of the input: drops the datagrams still waiting for fragments and counts their
    /// fragments in [`DecodeStats::fragments_dropped`].
    pub fn finish(&mut self) {
        self.frags.clear();
        self.sync_fragment_counts();
    }
}
