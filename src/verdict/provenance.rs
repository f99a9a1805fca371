//! Did a packet that carries the server's address really come from the host that answered the SYN?
//!
//! Signals, after Weaver, Sommer & Paxson, "Detecting Forged TCP Reset Packets" (NDSS 2009), preferring
//! false negatives: the TTL / hop limit differs from the SYN-ACK's (another hop distance); the server
//! kept sending after its "own" reset; resets with different sequence numbers; the packet came back
//! faster than a round trip to the server could take.

use super::text::cat;
use crate::tcp::{PacketFacts, TcpConn};

/// The provenance judgement of one packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// At least one signal says a device in the path forged it.
    pub forged: bool,
    /// The signals, as sentences (both for and against).
    pub signals: Vec<String>,
    /// The TTL the server's packets had (SYN-ACK, else its first packet other than this one).
    pub reference_ttl: Option<u8>,
}

/// Judge `p`, a packet sent in the server-to-client direction.
pub fn check(conn: &TcpConn, p: &PacketFacts) -> Provenance {
    let mut out = Provenance::default();
    let server = &conn.side[1];
    let reference = conn.syn_ack.filter(|s| s.at != p.at).or_else(|| {
        server
            .first_packet
            .filter(|f| f.at != p.at && !f.flags.rst())
    });
    if let Some(r) = reference {
        out.reference_ttl = Some(r.ttl);
        let what = if r.flags.syn() {
            "SYN-ACK"
        } else {
            "server's first packet"
        };
        if r.ttl != p.ttl {
            out.forged = true;
            out.signals.push(cat!(
                "its TTL is ",
                p.ttl,
                " while the ",
                what,
                " (",
                r.at,
                ") had ",
                r.ttl,
                ": it travelled a different number of hops, so another device sent it"
            ));
        } else {
            out.signals.push(cat!(
                "its TTL ",
                p.ttl,
                " matches the ",
                what,
                " (",
                r.at,
                "): it came from the same host that answered the SYN"
            ));
        }
    }
    if p.flags.rst() {
        if server.after_rst > 0 {
            if let Some(after) = server.first_after_rst {
                if !after.flags.rst() {
                    out.forged = true;
                    out.signals.push(cat!(
                        "the server address kept sending after the reset (",
                        after.at,
                        "): the real server never reset"
                    ));
                }
            }
        }
        if server.rst_seq_varies {
            out.signals.push(
                "several resets with different sequence numbers arrived (typical of injection)"
                    .to_string(),
            );
        }
    }
    // Faster than a round trip: only meaningful when the round trip is long enough to measure.
    if let (Some(syn), Some(sa)) = (conn.syn, conn.syn_ack) {
        let rtt = sa.at.ts.since(syn.at.ts);
        if let Some(trigger) = conn.side[0].last_data.filter(|d| d.at.ts <= p.at.ts) {
            let delay = p.at.ts.since(trigger.at.ts);
            if rtt >= 5_000_000 && delay < rtt / 2 {
                out.forged = true;
                out.signals.push(format!(
                    "it arrived {:.1} ms after the client's data, faster than the {:.1} ms round trip to the server",
                    delay as f64 / 1e6,
                    rtt as f64 / 1e6
                ));
            }
        }
    }
    out
}
