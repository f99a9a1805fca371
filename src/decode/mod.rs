//! Frame decoding: link layer (Ethernet with VLAN/QinQ, PPPoE, Linux SLL/SLL2, raw IP, BSD NULL/LOOP),
//! IPv4 (with fragment reassembly) and IPv6 (with extension headers), TCP, and ICMP/ICMPv6 errors that quote TCP.
//!
//! Decoding never fails hard: what cannot be decoded is reported as [`Decoded::Skipped`] with a reason,
//! and packets cut by the capture's snaplen are decoded as far as they go, with the missing TCP payload
//! counted in [`TcpPacket::payload_missing`].

use std::borrow::Cow;
use std::net::IpAddr;

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

/// TCP header flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
}

/// The TCP options verdicts and ladders show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamp: Option<(u32, u32)>,
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
    pub options: TcpOptions,
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
            (4, 3, 9) | (4, 3, 10) => "destination unreachable: network/host administratively prohibited",
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
        format!("{proto} {what} (type {} code {})", self.icmp_type, self.code)
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
    /// An IP fragment waiting for the rest of its datagram.
    FragmentPending,
    /// Headers cut by the capture or malformed before the TCP header ended.
    Malformed,
}

/// The result of decoding one frame.
#[derive(Clone, Debug)]
pub enum Decoded<'a> {
    Tcp(TcpPacket<'a>),
    IcmpError(IcmpError),
    Skipped(SkipReason),
}

mod stub;
pub use stub::*;
