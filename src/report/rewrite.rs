//! Rewriting one captured frame for the evidence file: IP addresses mapped (outer header and the
//! header an ICMP error quotes), payload bytes cut.
//!
//! Checksums stay consistent with what is written: every change is applied to the IPv4 header,
//! TCP, ICMP and ICMPv6 checksums incrementally (RFC 1624), so a checksum that was right stays
//! right and one that was wrong (offloading) stays wrong by the same amount. Bytes cut at the end
//! of a packet are dropped from the captured length (the original length is kept, so Wireshark shows
//! the packet as cut by the capture and does not verify what it cannot see); bytes cut before kept
//! ones are overwritten with zeros.

use super::anonymize::Anonymizer;
use crate::capture::LinkType;
use crate::decode::network_offset;

/// Where the layers of a frame are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub ip_off: usize,
    pub version: u8,
    /// Transport header offset (after IPv6 extension headers).
    pub t_off: usize,
    /// Transport protocol (6 TCP, 1 ICMP, 58 ICMPv6, ...).
    pub proto: u8,
    /// End of the IP datagram in the frame (clamped to the captured bytes).
    pub ip_end: usize,
    /// A fragment: `first` when it is the first one (it holds the transport header).
    pub fragment: Option<bool>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parse an IP header at `off` (no link layer).
pub fn ip_layout(b: &[u8], off: usize) -> Option<Layout> {
    let v = b.get(off)? >> 4;
    match v {
        4 => {
            let ihl = usize::from(b.get(off)? & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let total = usize::from(be16(b, off + 2)?);
            let frag = be16(b, off + 6)?;
            let more = frag & 0x2000 != 0;
            let offset = frag & 0x1fff;
            let ip_end = if total >= ihl {
                (off + total).min(b.len())
            } else {
                b.len()
            };
            Some(Layout {
                ip_off: off,
                version: 4,
                t_off: off + ihl,
                proto: *b.get(off + 9)?,
                ip_end,
                fragment: (more || offset != 0).then_some(offset == 0),
            })
        }
        6 => {
            let plen = usize::from(be16(b, off + 4)?);
            let ip_end = if plen == 0 {
                b.len()
            } else {
                (off + 40 + plen).min(b.len())
            };
            let mut next = *b.get(off + 6)?;
            let mut at = off + 40;
            let mut fragment = None;
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let len = (usize::from(*b.get(at + 1)?) + 1) * 8;
                        next = *b.get(at)?;
                        at += len;
                    }
                    44 => {
                        let fo = be16(b, at + 2)?;
                        let offset = fo >> 3;
                        let more = fo & 1 != 0;
                        if more || offset != 0 {
                            fragment = Some(offset == 0);
                        }
                        next = *b.get(at)?;
                        at += 8;
                    }
                    51 => {
                        let len = (usize::from(*b.get(at + 1)?) + 2) * 4;
                        next = *b.get(at)?;
                        at += len;
                    }
                    _ => break,
                }
            }
            Some(Layout {
                ip_off: off,
                version: 6,
                t_off: at,
                proto: next,
                ip_end,
                fragment,
            })
        }
        _ => None,
    }
}

/// The layout of a frame of link type `link`.
pub fn layout(link: LinkType, data: &[u8]) -> Option<Layout> {
    ip_layout(data, network_offset(link, data)?)
}

fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Ones'-complement sum of `b`; `odd`: its first byte is the low byte of a 16-bit word.
fn sum16(b: &[u8], odd: bool) -> u32 {
    let mut s = 0u32;
    let mut rest = b;
    if odd {
        if let Some((&first, tail)) = rest.split_first() {
            s += u32::from(first);
            rest = tail;
        }
    }
    for ch in rest.chunks(2) {
        let hi = u32::from(ch[0]) << 8;
        let lo = ch.get(1).copied().map_or(0, u32::from);
        s += hi | lo;
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

/// Update the checksum at `at` for `old` bytes becoming `new` (same length) somewhere in what it covers.
fn adjust(buf: &mut [u8], at: usize, old: &[u8], new: &[u8], odd: bool) {
    let Some(hc) = be16(buf, at) else {
        return;
    };
    let m = fold(sum16(old, odd));
    let m2 = fold(sum16(new, odd));
    let s = u32::from(!hc) + u32::from(!m) + u32::from(m2);
    let out = !fold(s);
    buf[at..at + 2].copy_from_slice(&out.to_be_bytes());
}

/// Replace the bytes at `at` by `new`, updating the checksums at `sums` (each with the parity of
/// `at` relative to the start of what it covers). Out-of-range writes are skipped.
fn patch(buf: &mut [u8], at: usize, new: &[u8], sums: &[(usize, bool)]) {
    if at + new.len() > buf.len() {
        return;
    }
    let old = buf[at..at + new.len()].to_vec();
    if old == new {
        return;
    }
    buf[at..at + new.len()].copy_from_slice(new);
    for &(c, odd) in sums {
        if c + 2 <= buf.len() && !(c >= at && c < at + new.len()) {
            adjust(buf, c, &old, new, odd);
        }
    }
}

fn addr_len(version: u8) -> usize {
    if version == 4 {
        4
    } else {
        16
    }
}

fn src_dst_offsets(l: &Layout) -> (usize, usize) {
    if l.version == 4 {
        (l.ip_off + 12, l.ip_off + 16)
    } else {
        (l.ip_off + 8, l.ip_off + 24)
    }
}

/// The mapped bytes of the address at `at`.
fn mapped(buf: &[u8], at: usize, n: usize, anon: &Anonymizer) -> Option<Vec<u8>> {
    let mut a = buf.get(at..at + n)?.to_vec();
    anon.map_in_place(&mut a);
    Some(a)
}

/// Map the IP addresses of a frame whose IP header is described by `l`: the outer header, and, for an
/// ICMP/ICMPv6 error, the quoted header. Checksums are updated.
pub fn anonymize(buf: &mut [u8], l: &Layout, anon: &Anonymizer) {
    let n = addr_len(l.version);
    let (s, d) = src_dst_offsets(l);
    let transport_whole = l.fragment.is_none_or(|first| first);
    let mut sums: Vec<(usize, bool)> = Vec::new();
    if l.version == 4 {
        sums.push((l.ip_off + 10, false));
    }
    if transport_whole {
        match l.proto {
            6 => sums.push((l.t_off + 16, false)),
            17 => sums.push((l.t_off + 6, false)),
            58 => sums.push((l.t_off + 2, false)),
            _ => {}
        }
    }
    for at in [s, d] {
        if let Some(m) = mapped(buf, at, n, anon) {
            patch(buf, at, &m, &sums);
        }
    }
    if transport_whole && matches!((l.version, l.proto), (4, 1) | (6, 58)) {
        anonymize_quote(buf, l, anon);
    }
}

/// Replace the MAC addresses of the link header (Ethernet, Linux cooked SLL/SLL2) by keyed
/// pseudo-random ones. No checksum covers them in a capture.
pub fn anonymize_link(buf: &mut [u8], link: LinkType, anon: &Anonymizer) {
    let spans: Vec<(usize, usize)> = match link {
        LinkType::ETHERNET => vec![(0, 6), (6, 12)],
        // pkttype(2) hatype(2) halen(2) addr(8)
        LinkType::LINUX_SLL if be16(buf, 4) == Some(6) => vec![(6, 12)],
        // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
        LinkType::LINUX_SLL2 if buf.get(11) == Some(&6) => vec![(12, 18)],
        _ => Vec::new(),
    };
    for (a, b) in spans {
        if let Some(m) = buf.get_mut(a..b) {
            anon.map_mac(m);
        }
    }
}

/// Is this ICMP message an error that quotes a datagram?
fn is_icmp_error(buf: &[u8], l: &Layout) -> bool {
    let Some(&ty) = buf.get(l.t_off) else {
        return false;
    };
    match l.version {
        4 => matches!(ty, 3 | 4 | 5 | 11 | 12),
        _ => (1..=4).contains(&ty),
    }
}

fn anonymize_quote(buf: &mut [u8], l: &Layout, anon: &Anonymizer) {
    if !is_icmp_error(buf, l) {
        return;
    }
    let icmp_sum = l.t_off + 2;
    let inner_at = l.t_off + 8;
    let Some(inner) = ip_layout(buf, inner_at) else {
        return;
    };
    let parity = |at: usize| (at - l.t_off) % 2 == 1;
    let n = addr_len(inner.version);
    let (s, d) = src_dst_offsets(&inner);
    let inner_tcp_sum = (inner.proto == 6).then_some(inner.t_off + 16);
    for at in [s, d] {
        let Some(m) = mapped(buf, at, n, anon) else {
            continue;
        };
        // The quoted IPv4 header checksum and the quoted TCP checksum (if quoted) cover the
        // address; the ICMP checksum covers all of it.
        let mut sums = vec![(icmp_sum, parity(at))];
        let mut inner_sums = Vec::new();
        if inner.version == 4 {
            inner_sums.push(inner.ip_off + 10);
        }
        if let Some(c) = inner_tcp_sum {
            if c + 2 <= buf.len() {
                inner_sums.push(c);
            }
        }
        let before: Vec<(usize, Vec<u8>)> = inner_sums
            .iter()
            .filter_map(|&c| Some((c, buf.get(c..c + 2)?.to_vec())))
            .collect();
        for &c in &inner_sums {
            sums.push((c, false));
        }
        patch(buf, at, &m, &sums);
        for (c, old) in before {
            if let Some(new) = buf.get(c..c + 2).map(<[u8]>::to_vec) {
                adjust(buf, icmp_sum, &old, &new, parity(c));
            }
        }
    }
}

/// Cut a TCP segment's payload: `keep` says, for each captured payload byte, whether it stays.
/// Returns the new captured length of the frame. Cut bytes after the last kept one are dropped;
/// cut bytes before it are zeroed (and the TCP checksum updated).
pub fn redact_tcp(buf: &mut [u8], l: &Layout, keep: &dyn Fn(usize) -> bool) -> usize {
    if l.fragment.is_some_and(|first| !first) {
        // A later fragment: its bytes are payload we cannot place; keep the IP header only.
        return l.t_off.min(buf.len());
    }
    let Some(&doff) = buf.get(l.t_off + 12) else {
        return buf.len();
    };
    let pay = (l.t_off + usize::from(doff >> 4) * 4).min(buf.len());
    if l.fragment.is_some() {
        // First fragment of a segment that needed reassembly: keep up to the TCP header.
        return pay;
    }
    let end = l.ip_end.max(pay);
    let last_kept = (pay..end).rev().find(|&i| keep(i - pay));
    let Some(last) = last_kept else {
        return pay;
    };
    let mut i = pay;
    while i <= last {
        if keep(i - pay) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j <= last && !keep(j - pay) {
            j += 1;
        }
        let zeros = vec![0u8; j - i];
        patch(buf, i, &zeros, &[(l.t_off + 16, (i - l.t_off) % 2 == 1)]);
        i = j;
    }
    last + 1
}

/// Mask IP address literals written as text in a TCP segment's captured payload (an HTTP `Host`
/// or `X-Forwarded-For` header kept by redaction): their digits become `x`, so lengths stay and
/// the TCP checksum is updated. Only the first `caplen` bytes of the frame are looked at.
pub fn mask_payload_addresses(buf: &mut [u8], l: &Layout, caplen: usize) {
    if l.proto != 6 || l.fragment.is_some() {
        return;
    }
    let Some(&doff) = buf.get(l.t_off + 12) else {
        return;
    };
    let pay = l.t_off + usize::from(doff >> 4) * 4;
    let end = caplen.min(l.ip_end).min(buf.len());
    if pay >= end {
        return;
    }
    // One char per byte, so offsets stay: bytes that are not ASCII become NUL (never part of an address).
    let text: String = buf[pay..end]
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { '\0' })
        .collect();
    for (a, b, _) in super::anonymize::find_addresses(&text) {
        let masked: Vec<u8> = buf[pay + a..pay + b]
            .iter()
            .map(|&c| if c == b'.' || c == b':' { c } else { b'x' })
            .collect();
        patch(
            buf,
            pay + a,
            &masked,
            &[(l.t_off + 16, (pay + a - l.t_off) % 2 == 1)],
        );
    }
}

/// Cut an ICMP error after the quoted transport header. Returns the new captured length.
pub fn redact_icmp(buf: &[u8], l: &Layout) -> usize {
    if !is_icmp_error(buf, l) {
        return l.t_off.min(buf.len());
    }
    let Some(inner) = ip_layout(buf, l.t_off + 8) else {
        return (l.t_off + 8).min(buf.len());
    };
    let tcp_len = buf
        .get(inner.t_off + 12)
        .map_or(20, |d| usize::from(d >> 4) * 4)
        .max(8);
    (inner.t_off + tcp_len).min(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full checksum of a TCP/IPv4 packet (as a receiver verifies it): 0 when right.
    fn verify_tcp4(p: &[u8]) -> u16 {
        let ihl = usize::from(p[0] & 15) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let seg = &p[ihl..total];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        let s = sum16(&pseudo, false) + sum16(seg, false);
        !fold(s)
    }

    fn verify_ip4(p: &[u8]) -> u16 {
        let ihl = usize::from(p[0] & 15) * 4;
        !fold(sum16(&p[..ihl], false))
    }

    fn packet(payload: &[u8]) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4([192, 0, 2, 10], [198, 51, 100, 20], 64)
            .tcp(41000, 443, 1000, 64000)
            .ack(5);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    #[test]
    fn anonymize_and_redact_keep_checksums_right() {
        let payload: Vec<u8> = (0..101u8).collect();
        let mut p = packet(&payload);
        assert_eq!((verify_tcp4(&p), verify_ip4(&p)), (0, 0));
        let l = ip_layout(&p, 0).unwrap();
        assert_eq!((l.t_off, l.proto, l.ip_end), (20, 6, p.len()));
        let a = Anonymizer::new(Some(b"key"));
        anonymize(&mut p, &l, &a);
        assert_ne!(&p[12..16], &[192, 0, 2, 10]);
        assert_eq!((verify_tcp4(&p), verify_ip4(&p)), (0, 0));
        // Keep bytes 0..5 and 50..53 (odd and even boundaries): zeros between, cut after 53.
        let cap = redact_tcp(&mut p, &l, &|i| i < 5 || (50..53).contains(&i));
        assert_eq!(cap, 40 + 53);
        assert!(p[45..90].iter().all(|&b| b == 0));
        assert_eq!(&p[90..93], &[50, 51, 52]);
        // Not truncating (keep the last byte too): the checksum must still verify.
        let mut q = packet(&payload);
        let cap = redact_tcp(&mut q, &l, &|i| i == 0 || i == 100 || i == 7);
        assert_eq!(cap, q.len());
        assert_eq!(verify_tcp4(&q), 0);
        assert_eq!(q[47], 7);
    }

    #[test]
    fn addresses_written_in_payload_are_masked() {
        let mut p = packet(
            b"GET / HTTP/1.1\r\nHost: 192.0.2.10:8080\r\nX-Forwarded-For: 2001:db8::7\r\n\r\n",
        );
        let l = ip_layout(&p, 0).unwrap();
        let len = p.len();
        mask_payload_addresses(&mut p, &l, len);
        let text = String::from_utf8_lossy(&p[40..]).to_string();
        assert!(text.contains("Host: xxx.x.x.xx:8080\r\n"), "{text}");
        assert!(text.contains("X-Forwarded-For: xxxx:xxx::x\r\n"), "{text}");
        assert_eq!(verify_tcp4(&p), 0);
    }

    #[test]
    fn icmp_quote_is_anonymized_and_cut() {
        // ICMP 3/13 from 192.0.2.1 quoting a SYN 192.0.2.10 -> 198.51.100.20.
        let syn = packet(&[]);
        let mut icmp = vec![3u8, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&syn);
        let c = !fold(sum16(&icmp, false));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let b = etherparse::PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 10], 64);
        let mut p = Vec::new();
        b.write(&mut p, etherparse::IpNumber::ICMP, &icmp).unwrap();
        let l = ip_layout(&p, 0).unwrap();
        assert_eq!(l.proto, 1);
        let a = Anonymizer::new(Some(b"key"));
        anonymize(&mut p, &l, &a);
        assert_eq!(verify_ip4(&p), 0);
        assert_eq!(!fold(sum16(&p[20..], false)), 0, "ICMP checksum");
        let inner = &p[28..];
        assert_eq!(verify_ip4(inner), 0, "quoted IP checksum");
        assert_eq!(verify_tcp4(inner), 0, "quoted TCP checksum");
        assert_eq!(
            &inner[12..16],
            &p[16..20],
            "quoted source = outer destination"
        );
        assert_eq!(redact_icmp(&p, &l), 28 + 20 + 20);
    }

    #[test]
    fn macs_are_mapped_keeping_broadcast_and_multicast() {
        let a = Anonymizer::new(Some(b"key"));
        let mut eth = vec![0xff; 6];
        eth.extend_from_slice(&[0x00, 0x16, 0x3e, 0x11, 0x22, 0x33, 0x08, 0x00]);
        let orig = eth.clone();
        anonymize_link(&mut eth, LinkType::ETHERNET, &a);
        assert_eq!(&eth[..6], &[0xff; 6]);
        assert_ne!(&eth[6..12], &orig[6..12]);
        assert_eq!(eth[6] & 3, 2, "locally administered unicast");
        assert_eq!(&eth[12..], &orig[12..]);
        let mut again = orig.clone();
        anonymize_link(&mut again, LinkType::ETHERNET, &a);
        assert_eq!(again, eth);
        let mut m = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
        a.map_mac(&mut m);
        assert_eq!(m[0] & 3, 3, "multicast stays multicast");
    }
}
