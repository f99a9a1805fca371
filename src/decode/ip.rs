//! IPv4 and IPv6 (with extension headers and fragments), TCP, and ICMP/ICMPv6 errors quoting TCP.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpNumber, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, LaxIpSlice, LaxIpv4Slice, LaxIpv6Slice,
};

use super::frag::{FragKey, FragResult, Reassembler};
use super::link::{be16, be32};
use super::tunnel;
use super::{Decoded, IcmpError, IpInfo, SkipReason, TcpFlags, TcpOptions, TcpPacket};
use crate::capture::LinkType;

const TCP: u8 = IpNumber::TCP.0;
const ICMP: u8 = IpNumber::ICMP.0;
const ICMPV6: u8 = IpNumber::IPV6_ICMP.0;
const IPV6_DEST_OPTIONS: u8 = 60;

fn skipped<'a>(reason: SkipReason) -> Decoded<'a> {
    Decoded::Skipped(reason)
}

/// The common packet, decoded without etherparse's general machinery: IPv4 without options that is
/// not a fragment, or IPv6 without extension headers, carrying TCP, whole in the capture. Anything
/// else is `None` and takes the general path ([`decode_ip`]). `fast_path_tests::plain_tcp_same_as_general` checks
/// that both paths decode every frame of the shipped and peer captures the same way.
#[inline(always)]
pub(crate) fn plain_tcp(packet: &[u8]) -> Option<Decoded<'_>> {
    let (ip, s) = plain_ip_tcp(packet)?;
    // What `tcp` does for a borrowed segment with nothing cut, reading the fixed header at once.
    let Some(h) = s.get(..20).and_then(|h| <&[u8; 20]>::try_from(h).ok()) else {
        return Some(skipped(SkipReason::Malformed));
    };
    let hlen = usize::from(h[12] >> 4) * 4;
    let (Some(options_raw), Some(payload)) = (s.get(20..hlen), s.get(hlen..)) else {
        return Some(skipped(SkipReason::Malformed));
    };
    Some(Decoded::Tcp(TcpPacket {
        ip,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags::from_bits(h[13]),
        window: u16::from_be_bytes([h[14], h[15]]),
        options_raw: Cow::Borrowed(options_raw),
        payload: Cow::Borrowed(payload),
        payload_missing: 0,
    }))
}

/// The IP facts and the TCP segment of a packet [`plain_tcp`] takes.
fn plain_ip_tcp(packet: &[u8]) -> Option<(IpInfo, &[u8])> {
    match packet {
        [0x45, _, l0, l1, i0, i1, f0, f1, ttl, TCP, _, _, s0, s1, s2, s3, d0, d1, d2, d3, ..] => {
            let total = usize::from(u16::from_be_bytes([*l0, *l1]));
            let frag = u16::from_be_bytes([*f0, *f1]);
            if frag & 0x3fff != 0 || total < 20 {
                return None;
            }
            let info = IpInfo {
                src: IpAddr::V4(Ipv4Addr::new(*s0, *s1, *s2, *s3)),
                dst: IpAddr::V4(Ipv4Addr::new(*d0, *d1, *d2, *d3)),
                ttl: *ttl,
                ip_id: Some(u16::from_be_bytes([*i0, *i1])),
                dont_fragment: frag & 0x4000 != 0,
            };
            Some((info, packet.get(20..total)?))
        }
        [v, _, _, _, p0, p1, TCP, hop, rest @ ..] if v >> 4 == 6 => {
            let len = usize::from(u16::from_be_bytes([*p0, *p1]));
            if len == 0 {
                return None;
            }
            let src: [u8; 16] = rest.get(..16)?.try_into().ok()?;
            let dst: [u8; 16] = rest.get(16..32)?.try_into().ok()?;
            let info = IpInfo {
                src: IpAddr::V6(Ipv6Addr::from(src)),
                dst: IpAddr::V6(Ipv6Addr::from(dst)),
                ttl: *hop,
                ip_id: None,
                dont_fragment: false,
            };
            Some((info, packet.get(40..40usize.saturating_add(len))?))
        }
        _ => None,
    }
}

/// For a packet [`plain_tcp`] decodes as a well-formed TCP segment: its source address and port and
/// destination address and port, read without building the packet. `None` for anything else.
pub(crate) fn peek_plain_tcp(packet: &[u8]) -> Option<(IpAddr, u16, IpAddr, u16)> {
    let (info, seg) = plain_ip_tcp(packet)?;
    // The checks `tcp` makes before it accepts a segment (nothing is cut here).
    let hlen = usize::from(seg.get(12)? >> 4) * 4;
    if seg.len() < 20 || hlen < 20 || seg.len() < hlen {
        return None;
    }
    Some((info.src, be16(seg, 0)?, info.dst, be16(seg, 2)?))
}

/// Decodes an IP packet (`strict`: the link layer said it is IP). `frame_cut`: bytes the capture says it
/// did not keep (original length minus captured length); the IP length fields are believed only that far.
/// [`Decoder::decode`](super::Decoder::decode) tries [`plain_tcp`] first and calls this for the
/// rest. Not inlined: it would make the common path pay for its stack frame.
#[inline(never)]
pub(crate) fn decode_ip<'a>(
    packet: &'a [u8],
    strict: bool,
    frame_cut: usize,
    frags: &mut Reassembler,
    now: u64,
) -> Decoded<'a> {
    decode_ip_in(packet, strict, frame_cut, frags, now, 0)
}

/// [`decode_ip`] for a packet inside `depth` tunnels.
fn decode_ip_in<'a>(
    packet: &'a [u8],
    strict: bool,
    frame_cut: usize,
    frags: &mut Reassembler,
    now: u64,
    depth: u8,
) -> Decoded<'a> {
    match packet.first().map(|b| b >> 4) {
        Some(4 | 6) => {}
        Some(_) if !strict => return skipped(SkipReason::NotIp),
        _ => return skipped(SkipReason::Malformed),
    }
    let Ok((ip, ext_err)) = LaxIpSlice::from_slice(packet) else {
        return skipped(SkipReason::Malformed);
    };
    if ext_err.is_some() {
        // An extension header (or IPv4 AH) cut or broken before the transport header.
        return skipped(SkipReason::Malformed);
    }
    match &ip {
        LaxIpSlice::Ipv4(v4) => ipv4(v4, packet, frame_cut, frags, now, depth),
        LaxIpSlice::Ipv6(v6) => ipv6(v6, packet, frame_cut, frags, now, depth),
    }
}

fn ipv4<'a>(
    v4: &LaxIpv4Slice<'a>,
    packet: &'a [u8],
    frame_cut: usize,
    frags: &mut Reassembler,
    now: u64,
    depth: u8,
) -> Decoded<'a> {
    let h = v4.header();
    let info = IpInfo {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        ttl: h.ttl(),
        ip_id: Some(h.identification()),
        dont_fragment: h.dont_fragment(),
    };
    let payload = v4.payload();
    if payload.fragmented {
        let proto = h.protocol().0;
        if !matches!(proto, TCP | ICMP) {
            return skipped(SkipReason::NotTcp);
        }
        let key = FragKey {
            src: info.src,
            dst: info.dst,
            id: u32::from(h.identification()),
            proto,
        };
        let offset = usize::from(h.fragments_offset().byte_offset());
        let cut = payload.incomplete && frame_cut > 0;
        return fragment(
            frags,
            key,
            info,
            offset,
            h.more_fragments(),
            payload.payload,
            cut,
            now,
        );
    }
    // An IP length beyond the captured bytes counts as missing data only as far as the capture says
    // it cut the frame (a crafted or wrong length is not a snaplen cut).
    let missing = if payload.incomplete {
        usize::from(h.total_len())
            .saturating_sub(packet.len())
            .min(frame_cut)
    } else {
        0
    };
    match payload.ip_number.0 {
        TCP => tcp(info, Cow::Borrowed(payload.payload), missing),
        ICMP => icmp4(info, payload.payload),
        other => tunneled(other, payload.payload, frame_cut, frags, now, depth),
    }
}

fn ext_len(ext: &Ipv6ExtensionSlice<'_>) -> usize {
    match ext {
        Ipv6ExtensionSlice::HopByHop(s)
        | Ipv6ExtensionSlice::Routing(s)
        | Ipv6ExtensionSlice::DestinationOptions(s) => s.slice().len(),
        Ipv6ExtensionSlice::Fragment(s) => s.slice().len(),
        Ipv6ExtensionSlice::Authentication(s) => s.slice().len(),
    }
}

fn ipv6<'a>(
    v6: &LaxIpv6Slice<'a>,
    packet: &'a [u8],
    frame_cut: usize,
    frags: &mut Reassembler,
    now: u64,
    depth: u8,
) -> Decoded<'a> {
    let h = v6.header();
    let info = IpInfo {
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        ttl: h.hop_limit(),
        ip_id: None,
        dont_fragment: false,
    };
    let payload = v6.payload();
    // The bytes after the fixed header, as far as the payload length says (or the capture goes).
    let declared_end = match h.payload_length() {
        0 => packet.len(),
        n => usize::from(n).saturating_add(40).min(packet.len()),
    };
    if payload.fragmented {
        // The fragmentable part starts right after the Fragment header.
        let mut offset_in_payload = 0usize;
        let mut frag = None;
        for ext in v6.extensions().clone() {
            offset_in_payload = offset_in_payload.saturating_add(ext_len(&ext));
            if let Ipv6ExtensionSlice::Fragment(f) = ext {
                frag = Some(f);
                break;
            }
        }
        let Some(f) = frag else {
            return skipped(SkipReason::Malformed);
        };
        let proto = f.next_header().0;
        if !matches!(proto, TCP | ICMPV6 | IPV6_DEST_OPTIONS) {
            return skipped(SkipReason::NotTcp);
        }
        let data = packet
            .get(40usize.saturating_add(offset_in_payload)..declared_end)
            .unwrap_or(&[]);
        let key = FragKey {
            src: info.src,
            dst: info.dst,
            id: f.identification(),
            proto,
        };
        let offset = usize::from(f.fragment_offset().byte_offset());
        let cut = payload.incomplete && frame_cut > 0;
        return fragment(frags, key, info, offset, f.more_fragments(), data, cut, now);
    }
    let missing = if payload.incomplete {
        usize::from(h.payload_length())
            .saturating_add(40)
            .saturating_sub(packet.len())
            .min(frame_cut)
    } else {
        0
    };
    match payload.ip_number.0 {
        TCP => tcp(info, Cow::Borrowed(payload.payload), missing),
        ICMPV6 => icmp6(info, payload.payload),
        other => tunneled(other, payload.payload, frame_cut, frags, now, depth),
    }
}

/// A packet of protocol `proto` (UDP, GRE, IP in IP...) that may carry a tunnel: the packet inside,
/// decoded as any other ([`super::tunnel`]); not a tunnel we open: not TCP.
fn tunneled<'a>(
    proto: u8,
    payload: &'a [u8],
    frame_cut: usize,
    frags: &mut Reassembler,
    now: u64,
    depth: u8,
) -> Decoded<'a> {
    if depth >= tunnel::MAX_DEPTH {
        return skipped(SkipReason::NotTcp);
    }
    let Some(t) = tunnel::open(proto, payload) else {
        return skipped(SkipReason::NotTcp);
    };
    let packet = match t.inner {
        tunnel::Inner::Ip => t.bytes,
        tunnel::Inner::Ethernet => match super::link::to_network(LinkType::ETHERNET, t.bytes) {
            Ok(net) => net.packet,
            Err(reason) => return skipped(reason),
        },
    };
    if let Some(d) = plain_tcp(packet) {
        return d;
    }
    decode_ip_in(packet, true, frame_cut, frags, now, depth.saturating_add(1))
}

/// The outermost tunnel a packet carries, if [`super::tunnel`] opens it.
pub(crate) fn outer_tunnel(packet: &[u8]) -> Option<super::TunnelInfo> {
    let (src, dst, proto, payload) = transport(packet)?;
    let t = tunnel::open(proto, payload)?;
    Some(super::TunnelInfo {
        kind: t.kind,
        id: t.id,
        outer_src: src,
        outer_dst: dst,
    })
}

/// The addresses, protocol number and payload of an IP packet that is not a fragment (for
/// following tunnels, where only the layout matters: [`super::tunnel_payload`]).
pub(crate) fn transport(packet: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    let (ip, _) = LaxIpSlice::from_slice(packet).ok()?;
    let (src, dst) = match &ip {
        LaxIpSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        LaxIpSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
    };
    let payload = ip.payload();
    (!payload.fragmented).then_some((src, dst, payload.ip_number.0, payload.payload))
}

#[allow(clippy::too_many_arguments)]
fn fragment<'a>(
    frags: &mut Reassembler,
    key: FragKey,
    info: IpInfo,
    offset: usize,
    more: bool,
    data: &[u8],
    cut: bool,
    now: u64,
) -> Decoded<'a> {
    if cut {
        // A fragment cut by the snaplen can never complete its datagram.
        frags.counts.fragments_dropped = frags.counts.fragments_dropped.saturating_add(1);
        return skipped(SkipReason::FragmentPending);
    }
    match frags.add(key, info, offset, more, data, now) {
        FragResult::Pending | FragResult::Dropped => skipped(SkipReason::FragmentPending),
        FragResult::Complete {
            info,
            proto,
            payload,
        } => reassembled(info, proto, payload),
    }
}

/// Decodes the transport layer of a reassembled datagram.
fn reassembled<'a>(info: IpInfo, proto: u8, mut payload: Vec<u8>) -> Decoded<'a> {
    let mut proto = proto;
    if proto == IPV6_DEST_OPTIONS {
        let (_, next, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(IpNumber(proto), &payload);
        if err.is_some() {
            return skipped(SkipReason::Malformed);
        }
        let skip = payload.len().saturating_sub(rest.len());
        proto = next.0;
        payload.drain(..skip);
    }
    match proto {
        TCP => tcp(info, Cow::Owned(payload), 0),
        ICMP if matches!(info.src, IpAddr::V4(_)) => icmp4(info, &payload),
        ICMPV6 if matches!(info.src, IpAddr::V6(_)) => icmp6(info, &payload),
        _ => skipped(SkipReason::NotTcp),
    }
}

/// Decodes a TCP segment. `missing`: bytes of the IP packet the capture did not keep. When some are
/// missing, a TCP header shorter than its data offset is tolerated (options are read as far as they go).
fn tcp<'a>(ip: IpInfo, seg: Cow<'a, [u8]>, missing: usize) -> Decoded<'a> {
    let cut = missing > 0;
    let s: &[u8] = &seg;
    let (Some(src_port), Some(dst_port), Some(seq), Some(ack), Some(&off), Some(&fl), Some(window)) = (
        be16(s, 0),
        be16(s, 2),
        be32(s, 4),
        be32(s, 8),
        s.get(12),
        s.get(13),
        be16(s, 14),
    ) else {
        return skipped(SkipReason::Malformed);
    };
    if s.len() < 20 {
        return skipped(SkipReason::Malformed);
    }
    let hlen = usize::from(off >> 4).saturating_mul(4);
    if hlen < 20 || (s.len() < hlen && !cut) {
        return skipped(SkipReason::Malformed);
    }
    let flags = TcpFlags::from_bits(fl);
    let captured = s.len();
    let payload_len = captured.saturating_sub(hlen);
    let payload_missing = captured
        .saturating_add(missing)
        .saturating_sub(hlen)
        .saturating_sub(payload_len);
    let options = 20..hlen.min(captured);
    let (options_raw, payload) = match seg {
        Cow::Borrowed(b) => (
            Cow::Borrowed(b.get(options).unwrap_or(&[])),
            Cow::Borrowed(b.get(hlen..).unwrap_or(&[])),
        ),
        Cow::Owned(mut v) => {
            let options = v.get(options).unwrap_or(&[]).to_vec();
            v.drain(..hlen.min(v.len()));
            (Cow::Owned(options), Cow::Owned(v))
        }
    };
    Decoded::Tcp(TcpPacket {
        ip,
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window,
        options_raw,
        payload,
        payload_missing: u32::try_from(payload_missing).unwrap_or(u32::MAX),
    })
}

/// Reads MSS, window scale, SACK-permitted and timestamps; skips anything else by its length.
pub(crate) fn tcp_options(mut opts: &[u8]) -> TcpOptions {
    let mut out = TcpOptions::default();
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => {
                opts = opts.get(1..).unwrap_or(&[]);
                continue;
            }
            _ => {}
        }
        let Some(len) = opts.get(1).map(|&l| usize::from(l)) else {
            break;
        };
        if len < 2 {
            break;
        }
        let Some(body) = opts.get(2..len) else { break };
        match (kind, body) {
            (2, [a, b]) => out.mss = Some(u16::from_be_bytes([*a, *b])),
            (3, [s]) => out.window_scale = Some(*s),
            (4, []) => out.sack_permitted = true,
            (8, [a, b, c, d, e, f, g, h]) => {
                out.timestamp = Some((
                    u32::from_be_bytes([*a, *b, *c, *d]),
                    u32::from_be_bytes([*e, *f, *g, *h]),
                ))
            }
            _ => {}
        }
        opts = opts.get(len..).unwrap_or(&[]);
    }
    out
}

/// Ports and (when quoted) sequence number of a quoted TCP header.
fn quoted_tcp(t: &[u8]) -> Option<(u16, u16, Option<u32>)> {
    Some((be16(t, 0)?, be16(t, 2)?, be32(t, 4)))
}

fn icmp4<'a>(ip: IpInfo, p: &[u8]) -> Decoded<'a> {
    let (Some(&icmp_type), Some(&code)) = (p.first(), p.get(1)) else {
        return skipped(SkipReason::Malformed);
    };
    if !matches!(icmp_type, 3 | 11 | 12) {
        return skipped(SkipReason::NotTcp);
    }
    let Some(Ok((q, _))) = p.get(8..).map(LaxIpv4Slice::from_slice) else {
        return skipped(SkipReason::Malformed);
    };
    let qh = q.header();
    if qh.protocol().0 != TCP || qh.fragments_offset().value() != 0 {
        return skipped(SkipReason::NotTcp);
    }
    // The quoted header is the one the original sender wrote: take the TCP bytes right after it,
    // whatever the quoted AH says.
    let tcp_bytes = p
        .get(8usize.saturating_add(qh.slice().len())..)
        .unwrap_or(&[]);
    let Some((sport, dport, seq)) = quoted_tcp(tcp_bytes) else {
        return skipped(SkipReason::Malformed);
    };
    Decoded::IcmpError(IcmpError {
        ip,
        version: 4,
        icmp_type,
        code,
        quoted_src: IpAddr::V4(qh.source_addr()),
        quoted_dst: IpAddr::V4(qh.destination_addr()),
        quoted_src_port: sport,
        quoted_dst_port: dport,
        quoted_seq: seq,
    })
}

fn icmp6<'a>(ip: IpInfo, p: &[u8]) -> Decoded<'a> {
    let (Some(&icmp_type), Some(&code)) = (p.first(), p.get(1)) else {
        return skipped(SkipReason::Malformed);
    };
    if !matches!(icmp_type, 1..=4) {
        return skipped(SkipReason::NotTcp);
    }
    let Some(Ok((q, ext_err))) = p.get(8..).map(LaxIpv6Slice::from_slice) else {
        return skipped(SkipReason::Malformed);
    };
    if ext_err.is_some() {
        return skipped(SkipReason::Malformed);
    }
    let qp = q.payload();
    let first_fragment = q.extensions().clone().into_iter().all(|e| match e {
        Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
        _ => true,
    });
    if qp.ip_number.0 != TCP || !first_fragment {
        return skipped(SkipReason::NotTcp);
    }
    let Some((sport, dport, seq)) = quoted_tcp(qp.payload) else {
        return skipped(SkipReason::Malformed);
    };
    let qh = q.header();
    Decoded::IcmpError(IcmpError {
        ip,
        version: 6,
        icmp_type,
        code,
        quoted_src: IpAddr::V6(qh.source_addr()),
        quoted_dst: IpAddr::V6(qh.destination_addr()),
        quoted_src_port: sport,
        quoted_dst_port: dport,
        quoted_seq: seq,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn options_known_unknown_and_cut() {
        // MSS, NOP, WS, SACK-perm, unknown kind 30 (MPTCP, 6 bytes), TS, EOL.
        let o = [
            2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 30, 6, 1, 2, 3, 4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0,
        ];
        let t = tcp_options(&o);
        assert_eq!(t.mss, Some(1460));
        assert_eq!(t.window_scale, Some(7));
        assert!(t.sack_permitted);
        assert_eq!(t.timestamp, Some((1, 2)));
        // Cut in the middle of the timestamp: what came before is kept.
        let t = tcp_options(&o[..20]);
        assert_eq!(t.mss, Some(1460));
        assert_eq!(t.timestamp, None);
        // Zero length stops parsing; a wrong length for a known kind is skipped.
        let t = tcp_options(&[2, 0, 5, 0xb4]);
        assert_eq!(t.mss, None);
        let t = tcp_options(&[2, 3, 5, 3, 3, 2]);
        assert_eq!(t.mss, None);
        assert_eq!(t.window_scale, Some(2));
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod fast_path_tests {
    use super::*;
    use crate::capture::CaptureReader;

    /// The fast path decodes exactly as the general one, on every frame it takes.
    #[test]
    fn plain_tcp_same_as_general() {
        let (mut taken, mut frames) = (0u64, 0u64);
        for f in crate::capture::testutil::all_capture_files() {
            let Ok(mut r) = CaptureReader::open(&f) else {
                continue;
            };
            let mut frags = Reassembler::new(super::super::FragmentLimits::default());
            while let Ok(Some(frame)) = r.next_frame() {
                frames += 1;
                let Ok(net) = super::super::link::to_network(frame.link, frame.data) else {
                    continue;
                };
                if let Some((src, sport, dst, dport)) = peek_plain_tcp(net.packet) {
                    let Some(Decoded::Tcp(t)) = plain_tcp(net.packet) else {
                        panic!(
                            "{} frame {}: peeked but not decoded",
                            f.display(),
                            frame.number
                        );
                    };
                    assert_eq!(
                        (src, sport, dst, dport),
                        (t.ip.src, t.src_port, t.ip.dst, t.dst_port)
                    );
                } else if let Some(Decoded::Tcp(_)) = plain_tcp(net.packet) {
                    panic!(
                        "{} frame {}: decoded but not peeked",
                        f.display(),
                        frame.number
                    );
                }
                if let Some(fast) = plain_tcp(net.packet) {
                    taken += 1;
                    let general = decode_ip(net.packet, net.strict, 0, &mut frags, 0);
                    assert_eq!(
                        format!("{fast:?}"),
                        format!("{general:?}"),
                        "{} frame {}",
                        f.display(),
                        frame.number
                    );
                }
            }
        }
        assert!(taken > 1000 && taken * 2 > frames, "{taken} of {frames}");
    }
}
