//! Link layers: from a frame's bytes to the start of its IP header.

use super::SkipReason;
use crate::capture::LinkType;

/// Most stacked encapsulation headers (VLAN tags, MPLS labels, ...) we walk through before giving up.
const MAX_LAYERS: usize = 16;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD1: u16 = 0x9100;
const ETH_QINQ_OLD2: u16 = 0x9200;
const ETH_QINQ_OLD3: u16 = 0x9300;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_MPLS_UC: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;

const LINKTYPE_PPP: u32 = 9;
const LINKTYPE_PPP_HDLC: u32 = 50;
const LINKTYPE_PPP_ETHER: u32 = 51;
const LINKTYPE_C_HDLC: u32 = 104;
const LINKTYPE_PPP_WITH_DIR: u32 = 204;
const LINKTYPE_PKTAP: u32 = 258;

pub(crate) fn be16(b: &[u8], off: usize) -> Option<u16> {
    let a: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(a))
}

pub(crate) fn be32(b: &[u8], off: usize) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

/// Where the IP packet starts in a frame. `strict`: the link layer said it is IP, so a bad version
/// nibble makes the frame malformed rather than "not IP".
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Network<'a> {
    pub packet: &'a [u8],
    pub strict: bool,
}

fn ip(packet: &[u8]) -> Result<Network<'_>, SkipReason> {
    Ok(Network {
        packet,
        strict: true,
    })
}

fn skip(data: &[u8], n: usize) -> Result<&[u8], SkipReason> {
    data.get(n..).ok_or(SkipReason::Malformed)
}

/// Strips the link layer of `data`.
pub(crate) fn to_network(link: LinkType, data: &[u8]) -> Result<Network<'_>, SkipReason> {
    match link {
        LinkType::ETHERNET => {
            let ether_type = be16(data, 12).ok_or(SkipReason::Malformed)?;
            ether_payload(ether_type, skip(data, 14)?)
        }
        LinkType::LINUX_SLL => {
            // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
            let protocol = be16(data, 14).ok_or(SkipReason::Malformed)?;
            cooked_payload(protocol, skip(data, 16)?)
        }
        LinkType::LINUX_SLL2 => {
            // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
            let protocol = be16(data, 0).ok_or(SkipReason::Malformed)?;
            cooked_payload(protocol, skip(data, 20)?)
        }
        LinkType::RAW
        | LinkType::RAW_DLT12
        | LinkType::RAW_DLT14
        | LinkType::IPV4
        | LinkType::IPV6 => Ok(Network {
            packet: data,
            strict: false,
        }),
        LinkType::NULL | LinkType::LOOP => {
            // Address family, in host byte order for NULL and network order for LOOP; accept either.
            let le = data
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .ok_or(SkipReason::Malformed)?;
            let be = le.swap_bytes();
            let is_af = |af: u32| matches!(af, 2 | 10 | 24 | 28 | 30);
            if is_af(le) || is_af(be) {
                ip(skip(data, 4)?)
            } else {
                Err(SkipReason::NotIp)
            }
        }
        LinkType(LINKTYPE_PPP) | LinkType(LINKTYPE_PPP_HDLC) => ppp_payload(data),
        LinkType(LINKTYPE_PPP_WITH_DIR) => ppp_payload(skip(data, 1)?),
        LinkType(LINKTYPE_PPP_ETHER) => pppoe_payload(data),
        LinkType(LINKTYPE_C_HDLC) => {
            // address(1) control(1) protocol(2, an EtherType)
            let ether_type = be16(data, 2).ok_or(SkipReason::Malformed)?;
            ether_payload(ether_type, skip(data, 4)?)
        }
        LinkType(LINKTYPE_PKTAP) => pktap_payload(data),
        LinkType(other) => Err(SkipReason::UnsupportedLinkType(other)),
    }
}

/// Apple PKTAP (`tcpdump -i pktap` on macOS): a header in the capturing host's byte order (little-endian
/// on every Mac) giving its own length, the type of what follows (1: a packet) and the packet's DLT;
/// then the packet itself.
fn pktap_payload(data: &[u8]) -> Result<Network<'_>, SkipReason> {
    let le = |off: usize| {
        data.get(off..off.checked_add(4)?)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
    };
    let (Some(hlen), Some(next), Some(dlt)) = (le(0), le(4), le(8)) else {
        return Err(SkipReason::Malformed);
    };
    if next != 1 {
        return Err(SkipReason::NotIp);
    }
    let hlen = usize::try_from(hlen).map_err(|_| SkipReason::Malformed)?;
    if hlen < 12 || dlt == LINKTYPE_PKTAP {
        return Err(SkipReason::Malformed);
    }
    to_network(LinkType(dlt), skip(data, hlen)?)
}

/// Linux cooked capture: the protocol is an EtherType, or a small ARPHRD-specific value (< 0x0600)
/// such as 802.2 LLC or CAN, none of which carry IP here.
fn cooked_payload(protocol: u16, payload: &[u8]) -> Result<Network<'_>, SkipReason> {
    if protocol < 0x0600 {
        return Err(SkipReason::NotIp);
    }
    ether_payload(protocol, payload)
}

/// Follows an EtherType through VLAN tags, PPPoE, MPLS and 802.2 SNAP to IP.
fn ether_payload(mut ether_type: u16, mut p: &[u8]) -> Result<Network<'_>, SkipReason> {
    for _ in 0..MAX_LAYERS {
        match ether_type {
            ETH_IPV4 | ETH_IPV6 => return ip(p),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD1 | ETH_QINQ_OLD2 | ETH_QINQ_OLD3 => {
                // TCI(2) EtherType(2)
                ether_type = be16(p, 2).ok_or(SkipReason::Malformed)?;
                p = skip(p, 4)?;
            }
            ETH_PPPOE_SESSION => return pppoe_payload(p),
            ETH_MPLS_UC | ETH_MPLS_MC => return mpls_payload(p),
            len if len <= 1500 => {
                // IEEE 802.3 length: IP only behind LLC/SNAP (AA AA 03, OUI, EtherType).
                match p.get(..3) {
                    Some([0xaa, 0xaa, 0x03]) => {
                        ether_type = be16(p, 6).ok_or(SkipReason::Malformed)?;
                        p = skip(p, 8)?;
                    }
                    Some(_) => return Err(SkipReason::NotIp),
                    None => return Err(SkipReason::Malformed),
                }
            }
            _ => return Err(SkipReason::NotIp),
        }
    }
    Err(SkipReason::Malformed)
}

/// PPPoE session header: ver/type(1) code(1) session(2) length(2), then a PPP protocol field. The
/// length bounds the PPP frame (what follows is Ethernet padding), as Wireshark reads it.
fn pppoe_payload(p: &[u8]) -> Result<Network<'_>, SkipReason> {
    let (Some(code), Some(len)) = (p.get(1).copied(), be16(p, 4)) else {
        return Err(SkipReason::Malformed);
    };
    if code != 0 {
        // Discovery packets carried on a session EtherType are not data.
        return Err(SkipReason::NotIp);
    }
    let ppp = skip(p, 6)?;
    ppp_protocol(ppp.get(..usize::from(len)).unwrap_or(ppp))
}

/// PPP in HDLC-like framing: optional address/control (FF 03), then the protocol field.
fn ppp_payload(p: &[u8]) -> Result<Network<'_>, SkipReason> {
    let p = match p.get(..2) {
        Some([0xff, 0x03]) => skip(p, 2)?,
        _ => p,
    };
    ppp_protocol(p)
}

/// A PPP protocol field (1 byte when compressed: odd first byte), then IPv4 (0x0021) or IPv6 (0x0057).
fn ppp_protocol(p: &[u8]) -> Result<Network<'_>, SkipReason> {
    let first = p.first().copied().ok_or(SkipReason::Malformed)?;
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        (be16(p, 0).ok_or(SkipReason::Malformed)?, 2)
    };
    match proto {
        0x0021 | 0x0057 => ip(skip(p, len)?),
        _ => Err(SkipReason::NotIp),
    }
}

/// MPLS label stack: 4-byte entries until the bottom-of-stack bit; then IP if the version nibble says so.
fn mpls_payload(mut p: &[u8]) -> Result<Network<'_>, SkipReason> {
    for _ in 0..MAX_LAYERS {
        let entry = be32(p, 0).ok_or(SkipReason::Malformed)?;
        p = skip(p, 4)?;
        if entry & 0x100 != 0 {
            return match p.first().map(|b| b >> 4) {
                Some(4 | 6) => ip(p),
                Some(_) => Err(SkipReason::NotIp),
                None => Err(SkipReason::Malformed),
            };
        }
    }
    Err(SkipReason::Malformed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    fn ip_of(link: u32, data: &[u8]) -> Result<&[u8], SkipReason> {
        to_network(LinkType(link), data).map(|n| n.packet)
    }

    #[test]
    fn pktap_wraps_another_link_type() {
        let mut f = vec![0u8; 108];
        f[0] = 108;
        f[4] = 1;
        f[8] = 1; // Ethernet inside
        f.extend_from_slice(&[0u8; 12]);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(IP);
        assert_eq!(ip_of(258, &f).unwrap(), IP);
        // Nested PKTAP, a short header and a non-packet record are refused.
        f[8] = 2;
        f[9] = 1;
        assert_eq!(ip_of(258, &f), Err(SkipReason::Malformed));
        f[0] = 4;
        assert_eq!(ip_of(258, &f), Err(SkipReason::Malformed));
        f[4] = 2;
        assert_eq!(ip_of(258, &f), Err(SkipReason::NotIp));
        assert_eq!(ip_of(258, &f[..6]), Err(SkipReason::Malformed));
    }

    #[test]
    fn ethernet_vlan_qinq_pppoe_mpls_snap() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x88, 0x64]);
        f.extend_from_slice(&[0x11, 0x00, 0x12, 0x34, 0x00, 0x06, 0x00, 0x21]);
        f.extend_from_slice(IP);
        assert_eq!(ip_of(1, &f).unwrap(), IP);
        // PPPoE with an IPv6 PPP protocol, and with LCP (not IP).
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0, 0, 1, 0, 3, 0x00, 0x57, 0x60, 0xee]);
        assert_eq!(ip_of(1, &f).unwrap(), &[0x60]);
        let n = f.len();
        f[n - 4] = 0xc0;
        f[n - 3] = 0x21;
        assert_eq!(ip_of(1, &f), Err(SkipReason::NotIp));
        // MPLS, two labels.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x47, 0, 0, 0x10, 0x40, 0, 0, 0x21, 0x40]);
        f.extend_from_slice(IP);
        assert_eq!(ip_of(1, &f).unwrap(), IP);
        // 802.3 + SNAP.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x00, 0x30, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(IP);
        assert_eq!(ip_of(1, &f).unwrap(), IP);
        // ARP, too short, and an endless VLAN stack.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(ip_of(1, &f), Err(SkipReason::NotIp));
        assert_eq!(ip_of(1, &[0; 13]), Err(SkipReason::Malformed));
        let mut f = vec![0u8; 12];
        for _ in 0..40 {
            f.extend_from_slice(&[0x81, 0x00, 0, 1]);
        }
        assert_eq!(ip_of(1, &f), Err(SkipReason::Malformed));
    }

    #[test]
    fn null_and_loop_accept_both_byte_orders() {
        for af in [2u32, 24, 28, 30] {
            for hdr in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut f = hdr.to_vec();
                f.extend_from_slice(IP);
                assert_eq!(ip_of(0, &f).unwrap(), IP);
                assert_eq!(ip_of(108, &f).unwrap(), IP);
            }
        }
        assert_eq!(ip_of(0, &[7, 0, 0, 0, 0x45]), Err(SkipReason::NotIp));
        assert_eq!(ip_of(0, &[2, 0]), Err(SkipReason::Malformed));
    }

    #[test]
    fn cooked_ppp_raw_and_unknown() {
        let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6];
        sll2.extend_from_slice(&[0; 8]);
        sll2.push(0x60);
        assert_eq!(ip_of(276, &sll2).unwrap(), &[0x60]);
        sll2[0] = 0x00;
        sll2[1] = 0x04;
        assert_eq!(ip_of(276, &sll2), Err(SkipReason::NotIp));
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00, 0x45]);
        assert_eq!(ip_of(113, &sll).unwrap(), &[0x45]);
        assert_eq!(ip_of(9, &[0xff, 0x03, 0x00, 0x21, 0x45]).unwrap(), &[0x45]);
        assert_eq!(ip_of(9, &[0x21, 0x45]).unwrap(), &[0x45]);
        assert_eq!(ip_of(9, &[0xc0, 0x21, 0x01]), Err(SkipReason::NotIp));
        assert_eq!(
            ip_of(204, &[0x00, 0xff, 0x03, 0x00, 0x57, 0x60]).unwrap(),
            &[0x60]
        );
        assert_eq!(
            ip_of(104, &[0x0f, 0x00, 0x08, 0x00, 0x45]).unwrap(),
            &[0x45]
        );
        for raw in [12, 14, 101, 228, 229] {
            assert_eq!(ip_of(raw, IP).unwrap(), IP);
        }
        assert_eq!(ip_of(147, IP), Err(SkipReason::UnsupportedLinkType(147)));
    }
}
