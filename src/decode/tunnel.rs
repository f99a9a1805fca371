//! Tunnels: the packet an IP packet carries inside Geneve (UDP 6081), VXLAN (UDP 4789, and 8472,
//! Linux's default), GTP-U (UDP 2152), GRE (IPv4, IPv6, transparent Ethernet bridging, ERSPAN types
//! I-III) or IP in IP (IPv4 and IPv6 in either). Overlay networks (Kubernetes, cloud gateways,
//! mobile cores) carry TLS this way, and a capture on the underlay shows only the tunnel: the
//! decoder opens it, and the connection is the inner one.
//!
//! Only what the headers say is believed: a tunnel header that does not parse (a wrong version, an
//! unknown inner protocol, lengths past the end) leaves the packet as it was (not TCP). The decoder
//! opens at most [`MAX_DEPTH`] tunnels inside one another.

use super::link::{be16, be32};

/// Tunnels opened inside one another at most (hostile input could nest them without end).
pub const MAX_DEPTH: u8 = 4;

const UDP: u8 = 17;
const GRE: u8 = 47;
const IPV4_IN_IP: u8 = 4;
const IPV6_IN_IP: u8 = 41;

/// Which tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Geneve,
    Vxlan,
    GtpU,
    Gre,
    Erspan,
    IpInIp,
}

impl Kind {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Geneve => "geneve",
            Kind::Vxlan => "vxlan",
            Kind::GtpU => "gtp-u",
            Kind::Gre => "gre",
            Kind::Erspan => "erspan",
            Kind::IpInIp => "ip-in-ip",
        }
    }

    /// As people write it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Geneve => "Geneve",
            Kind::Vxlan => "VXLAN",
            Kind::GtpU => "GTP-U",
            Kind::Gre => "GRE",
            Kind::Erspan => "ERSPAN",
            Kind::IpInIp => "IP-in-IP",
        }
    }

    /// What its identifier is called (VNI, TEID, key), if it has one.
    pub fn id_name(self) -> &'static str {
        match self {
            Kind::Geneve | Kind::Vxlan => "VNI",
            Kind::GtpU => "TEID",
            Kind::Gre => "key",
            Kind::Erspan => "session",
            Kind::IpInIp => "",
        }
    }
}

/// A tunnel opened: which, its identifier, and what it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    pub kind: Kind,
    /// VNI (Geneve, VXLAN), TEID (GTP-U), key (GRE), session (ERSPAN II/III).
    pub id: Option<u32>,
    pub inner: Inner,
    pub bytes: &'a [u8],
}

/// What a tunnel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    /// An Ethernet frame (VXLAN, Geneve and GRE bridging, ERSPAN).
    Ethernet,
    /// An IPv4 or IPv6 packet.
    Ip,
}

/// The packet inside the payload of an IP packet of protocol `proto` (not a fragment), if it is a
/// tunnel this module opens.
pub fn open(proto: u8, payload: &[u8]) -> Option<Opened<'_>> {
    match proto {
        IPV4_IN_IP if payload.first()? >> 4 == 4 => {
            Some(opened(Kind::IpInIp, None, (Inner::Ip, payload)))
        }
        IPV6_IN_IP if payload.first()? >> 4 == 6 => {
            Some(opened(Kind::IpInIp, None, (Inner::Ip, payload)))
        }
        GRE => gre(payload),
        UDP => {
            let dst = be16(payload, 2)?;
            let len = usize::from(be16(payload, 4)?);
            // The UDP length bounds the body (the capture may hold less, or padding more).
            let end = if len >= 8 {
                len.min(payload.len())
            } else {
                payload.len()
            };
            let body = payload.get(8..end)?;
            // Geneve's and VXLAN's VNI: the 24 bits after the first 4 bytes; GTP-U's TEID: 32.
            let vni = be32(body, 4).map(|v| v >> 8);
            match dst {
                6081 => Some(opened(Kind::Geneve, vni, geneve(body)?)),
                4789 | 8472 => Some(opened(Kind::Vxlan, vni, vxlan(body)?)),
                2152 => Some(opened(Kind::GtpU, be32(body, 4), gtpu(body)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn opened(kind: Kind, id: Option<u32>, (inner, bytes): (Inner, &[u8])) -> Opened<'_> {
    Opened {
        kind,
        id,
        inner,
        bytes,
    }
}

/// [`open`]'s inner packet alone.
pub fn inner(proto: u8, payload: &[u8]) -> Option<(Inner, &[u8])> {
    open(proto, payload).map(|o| (o.inner, o.bytes))
}

fn ethertype_inner(ethertype: u16, body: &[u8]) -> Option<(Inner, &[u8])> {
    match ethertype {
        0x6558 => Some((Inner::Ethernet, body)),
        0x0800 if body.first()? >> 4 == 4 => Some((Inner::Ip, body)),
        0x86dd if body.first()? >> 4 == 6 => Some((Inner::Ip, body)),
        _ => None,
    }
}

/// GRE (RFC 2784/2890): version 0 only (version 1 is PPTP's), no source routing. Its key (or the
/// ERSPAN session) is the identifier.
fn gre(p: &[u8]) -> Option<Opened<'_>> {
    let flags = be16(p, 0)?;
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        return None;
    }
    let proto = be16(p, 2)?;
    let mut at = 4usize;
    let mut key = None;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        // Checksum (with its reserved half), key, sequence number: 4 bytes each when present.
        if flags & bit != 0 {
            if bit == 0x2000 {
                key = be32(p, at);
            }
            at += 4;
        }
    }
    let body = p.get(at..)?;
    let session = || be16(body, 2).map(|s| u32::from(s & 0x03ff));
    match proto {
        // ERSPAN type I has no header of its own; type II (with a sequence number) has 8 bytes.
        0x88be if flags & 0x1000 == 0 => Some(opened(Kind::Erspan, None, (Inner::Ethernet, body))),
        0x88be => Some(opened(
            Kind::Erspan,
            session(),
            (Inner::Ethernet, body.get(8..)?),
        )),
        // ERSPAN type III: 12 bytes, and 8 more of platform-specific subheader when O is set.
        0x22eb => {
            let o = body.get(11)? & 0x01 != 0;
            let inner = body.get(if o { 20 } else { 12 }..)?;
            Some(opened(Kind::Erspan, session(), (Inner::Ethernet, inner)))
        }
        other => Some(opened(Kind::Gre, key, ethertype_inner(other, body)?)),
    }
}

/// Geneve (RFC 8926): version 0, options skipped.
fn geneve(b: &[u8]) -> Option<(Inner, &[u8])> {
    let first = *b.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let header = 8 + usize::from(first & 0x3f) * 4;
    ethertype_inner(be16(b, 2)?, b.get(header..)?)
}

/// VXLAN (RFC 7348): the I flag set, an Ethernet frame after 8 bytes.
fn vxlan(b: &[u8]) -> Option<(Inner, &[u8])> {
    if b.first()? & 0x08 == 0 {
        return None;
    }
    Some((Inner::Ethernet, b.get(8..)?))
}

/// GTP-U (3GPP TS 29.281): version 1, a G-PDU (type 255), its optional fields and extension
/// headers skipped; the user's IP packet after them.
fn gtpu(b: &[u8]) -> Option<(Inner, &[u8])> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None;
    }
    let mut at = 8usize;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let mut next = *b.get(at + 3)?;
        at += 4;
        while next != 0 {
            // Length in 4-byte units, content, next type in the last byte.
            let units = usize::from(*b.get(at)?);
            if units == 0 {
                return None;
            }
            at += units * 4;
            next = *b.get(at - 1)?;
        }
    }
    let body = b.get(at..)?;
    match body.first()? >> 4 {
        4 | 6 => Some((Inner::Ip, body)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const IP4: [u8; 2] = [0x45, 0x00];

    #[test]
    fn each_tunnel_gives_its_inner_packet() {
        // VXLAN: UDP to 4789, I flag, 8 bytes.
        let mut udp = vec![0x12, 0x34, 0x12, 0xb5, 0, 0, 0, 0];
        udp.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0x2a, 0]);
        udp.extend_from_slice(b"ethernet frame");
        let len = udp.len() as u16;
        udp[4..6].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            inner(17, &udp),
            Some((Inner::Ethernet, &b"ethernet frame"[..]))
        );
        // Without the I flag, not VXLAN.
        udp[8] = 0;
        assert_eq!(inner(17, &udp), None);
        // GRE with key and sequence number, IPv4 inside.
        let mut gre = vec![0x30, 0x00, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8];
        gre.extend_from_slice(&IP4);
        assert_eq!(inner(47, &gre), Some((Inner::Ip, &IP4[..])));
        // GRE version 1 (PPTP) is not opened.
        gre[1] = 0x01;
        assert_eq!(inner(47, &gre), None);
        // IPv6 in IPv4 needs an IPv6 packet.
        assert_eq!(inner(41, &IP4), None);
        assert_eq!(inner(4, &IP4), Some((Inner::Ip, &IP4[..])));
        // GTP-U with a sequence number and one extension header (PDU session container).
        let mut g = vec![
            0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x05, 0,
        ];
        g.extend_from_slice(&IP4);
        assert_eq!(gtpu(&g), Some((Inner::Ip, &IP4[..])));
        // An extension header whose length runs past the end.
        g[12] = 9;
        assert_eq!(gtpu(&g), None);
        // Which, and its identifier.
        let mut vx = vec![
            0x12, 0x34, 0x12, 0xb5, 0, 30, 0, 0, 0x08, 0, 0, 0, 0, 0x01, 0x2c, 0,
        ];
        vx.extend_from_slice(&[0u8; 14]);
        let o = open(17, &vx).unwrap();
        assert_eq!((o.kind, o.id), (Kind::Vxlan, Some(300)));
        let mut keyed = vec![0x20, 0x00, 0x86, 0xdd, 0, 0, 0, 7, 0x60];
        keyed.extend_from_slice(&[0u8; 39]);
        let o = open(47, &keyed).unwrap();
        assert_eq!((o.kind, o.id, o.inner), (Kind::Gre, Some(7), Inner::Ip));
        // Geneve with 4 bytes of options, Ethernet inside.
        let mut gn = vec![0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 9, 9, 9, 9];
        gn.extend_from_slice(b"eth");
        assert_eq!(geneve(&gn), Some((Inner::Ethernet, &b"eth"[..])));
    }

    #[test]
    fn short_or_garbage_headers_are_not_tunnels() {
        for proto in [4u8, 17, 41, 47] {
            for len in 0..40 {
                let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                // Whatever comes back lies within the input.
                if let Some((_, b)) = inner(proto, &junk) {
                    assert!(b.len() <= junk.len());
                }
            }
        }
    }
}
