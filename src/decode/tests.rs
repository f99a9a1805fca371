//! Decoding tests: real captures cross-checked with tshark, and hand-built packets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;

use etherparse::{
    IpNumber, Ipv4Header, Ipv6FragmentHeader, Ipv6Header, PacketBuilder, TcpOptionElement,
};

use super::*;
use crate::capture::tests::{read_all, Owned, TSHARK_TRUTH};
use crate::capture::testutil::{corpus_dir, corpus_file, PcapWriter};
use crate::capture::{CaptureReader, LinkType, Timestamp};

/// (file, TCP frames, sum of tcp.len, order-independent hash of per-frame TCP fields), from tshark 4.0.17.
const TSHARK_TCP: &[(&str, u64, u64, u64)] = &[
    (
        "arkime/pcap/badcurveball.pcap",
        12,
        2320,
        0xd65ef31d207d6404,
    ),
    (
        "arkime/pcap/https-connect.pcap",
        18,
        4400,
        0xa82ff70ff89eaf9e,
    ),
    (
        "arkime/pcap/https3-301-get.pcap",
        23,
        4838,
        0xcf051a59c7de4467,
    ),
    ("arkime/pcap/mysql-tls.pcap", 10, 1143, 0x77702cffa7998ce0),
    (
        "arkime/pcap/openssl-ssl3.pcap",
        20,
        4650,
        0x50c8bac04cc333d4,
    ),
    (
        "arkime/pcap/openssl-tls1.pcap",
        20,
        4790,
        0x3bd28f7c6200541b,
    ),
    (
        "arkime/pcap/openssl-tls1_2-tls1.pcap",
        19,
        4601,
        0x0895a825fd1fc05d,
    ),
    (
        "arkime/pcap/openssl-tls1_2.pcap",
        20,
        4898,
        0x635a2140b5a5ecda,
    ),
    ("arkime/pcap/pppoe.pcap", 10, 3564, 0xff5beef54148627c),
    (
        "arkime/pcap/socks-https-example.pcap",
        93,
        26760,
        0xde24cf3439c247a0,
    ),
    (
        "arkime/pcap/socks4-https.pcap",
        16,
        6822,
        0x2068db1542be348a,
    ),
    (
        "arkime/pcap/ssl-selfsign.pcap",
        20,
        6715,
        0xbdcf28338366274a,
    ),
    ("arkime/pcap/tls-alpn-h2.pcap", 9, 3047, 0xf27d93e608a2a9d4),
    (
        "arkime/pcap/tls-client-sessionid.pcap",
        16,
        1077,
        0x9446f94ddd664339,
    ),
    (
        "arkime/pcap/tls-split-client-hello.pcap",
        35,
        12672,
        0x315d43427e97aa59,
    ),
    ("arkime/pcap/tls13.pcap", 6, 1737, 0x4650ffb495266460),
    ("ndpi/pcap/encrypted_sni.pcap", 3, 2148, 0x7c7a9cbdc840bb2a),
    ("ndpi/pcap/google_ssl.pcap", 28, 7568, 0x3ac728c8e642c9d0),
    ("ndpi/pcap/http_ipv6.pcap", 128, 38744, 0xbf0097e7bb094e91),
    ("ndpi/pcap/smtp-starttls.pcap", 69, 9842, 0x1e8b295f09cbb39b),
    ("ndpi/pcap/smtps.pcapng", 4, 696, 0x97970a2a3fb4e2bf),
    (
        "ndpi/pcap/tls-appdata.pcap",
        120,
        113381,
        0x32ae09b39e76339f,
    ),
    (
        "ndpi/pcap/tls_1.2_unidirectional_client.pcapng",
        17,
        1862,
        0xad9fbd24eced2a2c,
    ),
    (
        "ndpi/pcap/tls_1.3_unidirectional_server.pcapng",
        9,
        1073,
        0xc873b795d552d992,
    ),
    (
        "ndpi/pcap/tls_2_reasms.pcapng",
        14,
        5975,
        0x16a64ba95d33e026,
    ),
    ("ndpi/pcap/tls_alert.pcap", 18, 361, 0x93d9d5bea0df12e6),
    (
        "ndpi/pcap/tls_client_certificate_with_missing_server_one.pcapng",
        17,
        4380,
        0x5c6b206906a6c461,
    ),
    ("ndpi/pcap/tls_ech.pcapng", 10, 3350, 0x12c0539495d25751),
    (
        "ndpi/pcap/tls_false_positives.pcapng",
        30,
        35681,
        0xbf2ae869d594ffa2,
    ),
    (
        "ndpi/pcap/tls_heur__trojan-tcp-tls.pcapng",
        84,
        31757,
        0x32f9f3e557e0a1d1,
    ),
    (
        // Frames 10-12 are TCP inside GTP-U (tshark's last occurrence of each field).
        "ndpi/pcap/tls_invalid_reads.pcap",
        12,
        1624,
        0xddbe804d8733adcc,
    ),
    (
        "ndpi/pcap/tls_missing_ch_frag.pcap",
        14,
        9150,
        0x52d2fb66dde08ace,
    ),
    (
        "ndpi/pcap/tls_multiple_synack_different_seq.pcapng",
        10,
        5944,
        0xd866bb665531a2b4,
    ),
    ("ndpi/pcap/tls_port_80.pcapng", 13, 1605, 0x8ea47d5e05155dd0),
    (
        "ndpi/pcap/tls_unidirectional.pcap",
        8,
        2,
        0x000d4ee5a2a01369,
    ),
    (
        "ndpi/pcap/tls_with_huge_ch.pcapng",
        428,
        90672,
        0x5a601228efb5b02a,
    ),
    (
        "suricata-verify/tests/bug-5713-01/TLSv1-Extracted-MaliciousC2.pcap",
        9,
        104,
        0x80e6b9445e9fa0e8,
    ),
    (
        "suricata-verify/tests/bug-5758/input.pcap",
        41,
        12607,
        0xf0e1d23a8599e49a,
    ),
    (
        "suricata-verify/tests/bug-7264-tcp-3whs-ack-data-tls-01/input.pcap",
        28,
        5805,
        0xd0ce75423a8a3a7d,
    ),
    (
        "suricata-verify/tests/http-connect/http-connect-tls/input.pcap",
        14,
        113,
        0xea298b2cb378a30e,
    ),
    (
        "suricata-verify/tests/linktype-228/flow-test-01.pcap",
        7,
        164,
        0x6d012c539df8b54d,
    ),
    (
        "suricata-verify/tests/pgsql/pgsql-upgrade-tls/input.pcap",
        22,
        2634,
        0xb2a17cb1e5afc804,
    ),
    (
        "suricata-verify/tests/smtp-startssl/input.pcap",
        38,
        4542,
        0xd257a5bcbd8cecd7,
    ),
    (
        "suricata-verify/tests/smtp-tls-protodetect/input.pcap",
        7,
        206,
        0x961163ddb45f93a5,
    ),
    (
        "suricata-verify/tests/ssl_version_negated/input.pcap",
        114,
        32927,
        0x2f73fa573aa5ba03,
    ),
    (
        "suricata-verify/tests/sslv2-tls-upgrade-01/ssl-v2-s1.pcap",
        36,
        17835,
        0xdbdcf852f39ac6ba,
    ),
    (
        "suricata-verify/tests/tcp-fastopen-10-syn-data-ignore/input.pcap",
        52,
        8458,
        0xbcf02ea85c3f5d20,
    ),
    (
        "suricata-verify/tests/tcp-fastopen-11-reject-syn-data/tlpw-tcp-tfo-data-on-syn-nack.pcap",
        29,
        7428,
        0x74235e0afdd46de1,
    ),
    (
        "suricata-verify/tests/tls-duplicate-hello/input.pcap",
        15,
        1716,
        0x0cac6ee6c15061f1,
    ),
    (
        "suricata-verify/tests/tls-extra-alert/input.pcap",
        10,
        209,
        0xf3267809191cbec0,
    ),
    (
        "suricata-verify/tests/tls/tls-client-hello-frag-01/dump_mtu300.pcap",
        62,
        21421,
        0xf3b2977c9f144bcd,
    ),
    (
        "suricata-verify/tests/tls/tls-fin-close-data-01/debug-s13.pcap",
        24,
        9263,
        0xc6fcea6bc7ec3439,
    ),
    (
        "suricata-verify/tests/tls/tls-fingerprint-alert/input.pcap",
        28,
        6023,
        0xa9baa90f45f1a044,
    ),
    (
        "suricata-verify/tests/tls/tls-pre-1970/input.pcap",
        17,
        2196,
        0x8f8f9afdd39a7b0d,
    ),
    (
        "suricata-verify/tests/tls/tls-store-02/tls-client-auth.pcap",
        22,
        7800,
        0x705b0608f75f0efc,
    ),
    (
        "suricata-verify/tests/tls/tls-subjectaltname/input.pcap",
        2982,
        1369609,
        0xe2cb96263b797015,
    ),
    (
        "suricata-verify/tests/tls/tls13-draft22/tls13_draft22.pcap",
        19,
        1498,
        0xbbd116d3ffcfb45a,
    ),
    (
        "suricata-verify/tests/tls/tls13-draft28/tls13_draft28.pcap",
        30,
        5205,
        0x59360a145ccc65bd,
    ),
    ("tcpdump/tests/mptcp-tcprst.pcap", 2, 0, 0xf3bbeef2dd1bf0a5),
    (
        "tcpdump/tests/tcp-handshake-nano.pcap",
        3,
        0,
        0xacc165e55fd54cc0,
    ),
    (
        "tcpdump/tests/tcp_rst_diag_payload.pcap",
        1,
        8,
        0x348c5078d94e24ff,
    ),
    (
        "zeek/traces/certificate-request-failed.pcap",
        12,
        4091,
        0x947b959203786975,
    ),
    (
        "zeek/traces/chrome-1250-tls-x25519-kyber.pcap",
        15,
        10875,
        0x38fac6f375ea5736,
    ),
    (
        "zeek/traces/chrome-63.0.3211.0-canary-tls_experiment.pcap",
        13,
        4207,
        0x5b3a8ede88c45c0e,
    ),
    (
        "zeek/traces/client-certificate.pcap",
        31,
        13796,
        0x96297a7e975e2d50,
    ),
    ("zeek/traces/dhe.pcap", 24, 4953, 0x387232410690043f),
    (
        "zeek/traces/ftp-auth-tls.pcap",
        84,
        4447,
        0x6d210d1250a6fd70,
    ),
    ("zeek/traces/hrr.pcap", 19, 2618, 0xb71dc294999847cd),
    ("zeek/traces/https-to-http.pcap", 9, 985, 0x7e319c6a3ceed33f),
    (
        "zeek/traces/imap-starttls.pcap",
        32,
        6193,
        0xd28c0cd14a1ebbda,
    ),
    (
        "zeek/traces/irc-starttls.pcap",
        20,
        2816,
        0xb6464f3ce5b0cbb5,
    ),
    (
        "zeek/traces/ldap-starttls.pcap",
        28,
        3685,
        0xc5518382933a3a07,
    ),
    (
        "zeek/traces/missing-intermediate.pcap",
        50,
        9281,
        0x648774308948cf1d,
    ),
    (
        "zeek/traces/ml-dsa-44-cert.pcap",
        5,
        4175,
        0xc0b9354ad004cca8,
    ),
    (
        "zeek/traces/openjdk-25.0.2-zeek.org.pcap",
        6,
        3377,
        0xdea0808d705215e9,
    ),
    (
        "zeek/traces/pop3-starttls.pcap",
        33,
        3441,
        0xfede838f96936233,
    ),
    (
        "zeek/traces/pppoe-over-qinq.pcap",
        86,
        34520,
        0x8bac7f4c204fd5f8,
    ),
    (
        "zeek/traces/psql-aws-ssl-require.pcap",
        30,
        5328,
        0x626b08be533e19a4,
    ),
    (
        "zeek/traces/smtp-starttls.pcap",
        37,
        5627,
        0x027c28339eb26b55,
    ),
    (
        "zeek/traces/ssl-and-ssh-using-sslh.pcap",
        72,
        17425,
        0x8fb00e58b307d17b,
    ),
    (
        "zeek/traces/ssl-to-http-server.pcap",
        14,
        460,
        0x3c79cc2aa6534b91,
    ),
    ("zeek/traces/ssl-v2.pcap", 25, 1814, 0x9be2e8d9b20c7125),
    ("zeek/traces/ssl.v3.pcap", 252, 169870, 0xd36a899f6be3cd2f),
    (
        "zeek/traces/tls-1.2-handshake-failure.pcap",
        11,
        185,
        0xe23b6155c47a8113,
    ),
    (
        "zeek/traces/tls-1.2-protocol-error.pcap",
        11,
        185,
        0xe23b6155c47a8113,
    ),
    (
        "zeek/traces/tls-13draft19-early-data.pcap",
        50,
        11876,
        0x7c26cd38c17b11d1,
    ),
    (
        "zeek/traces/tls-conn-with-extensions.pcap",
        58,
        19311,
        0xacb0b70dbc9eccc6,
    ),
    (
        "zeek/traces/tls-early-alert.pcap",
        17,
        6771,
        0x97a346f881ec2546,
    ),
    (
        "zeek/traces/tls-fragmented-handshake.pcap",
        416,
        340365,
        0x8cd1a27c0ee83897,
    ),
    (
        "zeek/traces/tls1.2-late-protocol-error.pcap",
        22,
        6749,
        0x914dbb7ddec12145,
    ),
    (
        "zeek/traces/tls1.2-protocol-violation.pcap",
        22,
        6749,
        0x914dbb7ddec12145,
    ),
    ("zeek/traces/tls1.2.pcap", 22, 6749, 0x914dbb7ddec12145),
    ("zeek/traces/tls13-ech.pcap", 69, 10772, 0x8a9add8247271e2f),
    (
        "zeek/traces/tls13_psk_succesfull.pcap",
        20,
        1012,
        0xa2f848ba2f4b0f53,
    ),
    (
        "zeek/traces/tls13_wolfssl.pcap",
        21,
        1637,
        0x856378eb8d276908,
    ),
    (
        "zeek/traces/tls13draft16-chrome55.0.2879.0-canary-aborted.pcap",
        24,
        1048,
        0xb835721b28441e8d,
    ),
    (
        "zeek/traces/tls13draft16-ff52.a01-aborted.pcap",
        20,
        744,
        0x7e25ca8e873b9043,
    ),
    (
        "zeek/traces/tls13draft16-ff52.a01.pcap",
        39,
        3566,
        0x0e8d40a3339ea65f,
    ),
    (
        "zeek/traces/tls13draft23-chrome67.0.3368.0-canary.pcap",
        24,
        3820,
        0x44ae32b7b343d5db,
    ),
    ("zeek/traces/tls1_1.pcap", 23, 5268, 0x55e7a736111d3054),
    // Inside tunnels (the innermost TTL; tshark's last occurrence of each field).
    (
        "zeek/traces/geneve-47101.pcap",
        24,
        23892,
        0x431cef4efac50a6d,
    ),
    (
        "ndpi/pcap/tls_change_cipher.pcap",
        14,
        11929,
        0x477700ae3e666976,
    ),
];

/// Files whose TCP runs inside tunnels (GTP-U, Geneve): what the decoder finds inside is what
/// tshark finds (the table above), and none of it is at the outer layer.
const TUNNELLED: &[&str] = &[
    "ndpi/pcap/tls_change_cipher.pcap",
    "zeek/traces/geneve-47101.pcap",
];

fn frame(o: &Owned) -> Frame<'_> {
    Frame {
        number: o.number,
        ts: Timestamp(o.ts),
        link: LinkType(o.link),
        interface: o.interface,
        origlen: o.origlen,
        data: &o.data,
    }
}

fn frame_of(link: u32, data: &[u8]) -> Frame<'_> {
    Frame {
        number: 1,
        ts: Timestamp(0),
        link: LinkType(link),
        interface: 0,
        origlen: data.len() as u32,
        data,
    }
}

fn decode_one(link: u32, data: &[u8]) -> Decoded<'_> {
    Decoder::new().decode(&frame_of(link, data))
}

fn tcp_of(d: Decoded<'_>) -> TcpPacket<'_> {
    match d {
        Decoded::Tcp(t) => t,
        other => panic!("not TCP: {other:?}"),
    }
}

fn flags_byte(f: TcpFlags) -> u8 {
    [
        f.fin(),
        f.syn(),
        f.rst(),
        f.psh(),
        f.ack(),
        f.urg(),
        f.ece(),
        f.cwr(),
    ]
    .iter()
    .enumerate()
    .fold(0, |a, (i, &b)| a | ((b as u8) << i))
}

/// The same per-frame hash the table was computed with (Python over tshark's fields).
fn frame_hash(number: u64, t: &TcpPacket<'_>) -> u64 {
    let o = t.options();
    let vals: [u64; 14] = [
        t.src_port.into(),
        t.dst_port.into(),
        t.seq.into(),
        t.ack.into(),
        flags_byte(t.flags).into(),
        t.window.into(),
        t.payload.len() as u64 + u64::from(t.payload_missing),
        o.mss.map_or(0, |m| u64::from(m) + 1),
        o.window_scale.map_or(0, |w| u64::from(w) + 1),
        o.sack_permitted.into(),
        o.timestamp.is_some().into(),
        o.timestamp.map_or(0, |t| t.0.into()),
        o.timestamp.map_or(0, |t| t.1.into()),
        t.ip.ttl.into(),
    ];
    vals.iter()
        .fold(number, |h, &x| h.wrapping_mul(1_000_003).wrapping_add(x))
}

#[test]
fn corpus_tcp_fields_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    for &(rel, ..) in TSHARK_TRUTH {
        let mut r = CaptureReader::open(&dir.join(rel)).unwrap();
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none());
        let mut d = Decoder::new();
        let (mut n, mut len, mut hash) = (0u64, 0u64, 0u64);
        for o in &frames {
            match d.decode(&frame(o)) {
                Decoded::Tcp(t) => {
                    assert!(
                        matches!(t.payload, Cow::Borrowed(_)),
                        "{rel}: payload copied"
                    );
                    n += 1;
                    len += t.payload.len() as u64 + u64::from(t.payload_missing);
                    hash = hash.wrapping_add(frame_hash(o.number, &t));
                }
                Decoded::IcmpError(e) => panic!("{rel}: unexpected {e:?}"),
                Decoded::Skipped(SkipReason::Malformed) => {
                    panic!("{rel} frame {}: malformed", o.number)
                }
                Decoded::Skipped(_) => {}
            }
        }
        let expected = TSHARK_TCP
            .iter()
            .find(|e| e.0 == rel)
            .map_or((0, 0, 0), |e| (e.1, e.2, e.3));
        assert_eq!(
            (n, len, hash),
            expected,
            "{rel}: TCP frames, payload bytes, field hash"
        );
        let s = d.stats();
        assert_eq!(s.frames, frames.len() as u64);
        assert_eq!(s.tcp + s.icmp_errors + s.skipped_total(), s.frames);
        if TUNNELLED.contains(&rel) {
            assert!(n > 0, "{rel}: the tunnel was not opened");
            for o in &frames {
                let f = frame(o);
                let net = super::link::to_network(f.link, f.data).unwrap();
                assert!(
                    super::ip::plain_tcp(net.packet).is_none(),
                    "{rel}: TCP at the outer layer"
                );
                assert!(super::tunnel_payload(f.link, f.data).is_some());
            }
        }
    }
}

/// (src, sport, dst, dport, seq, ack, flags, window, mss, wscale, sack_perm, tsval/tsecr, tcp.len, ttl, ip id, DF)
type Expect = (
    &'static str,
    u16,
    &'static str,
    u16,
    u32,
    u32,
    u8,
    u16,
    Option<u16>,
    Option<u8>,
    bool,
    Option<(u32, u32)>,
    u32,
    u8,
    Option<u16>,
    bool,
);

fn check(rel: &str, number: u64, e: Expect) {
    let Some(p) = corpus_file(rel) else { return };
    let (frames, _) = read_all(&mut CaptureReader::open(&p).unwrap());
    let o = frames.iter().find(|f| f.number == number).unwrap();
    let t = tcp_of(Decoder::new().decode(&frame(o)));
    let got = (
        (
            t.src_port,
            t.dst_port,
            t.seq,
            t.ack,
            flags_byte(t.flags),
            t.window,
        ),
        (
            t.options().mss,
            t.options().window_scale,
            t.options().sack_permitted,
            t.options().timestamp,
        ),
        (
            t.payload.len() as u32 + t.payload_missing,
            t.ip.ttl,
            t.ip.ip_id,
            t.ip.dont_fragment,
        ),
    );
    let (_, sport, _, dport, seq, ack, flags, win, mss, ws, sack, ts, len, ttl, id, df) = e;
    let want = (
        (sport, dport, seq, ack, flags, win),
        (mss, ws, sack, ts),
        (len, ttl, id, df),
    );
    assert_eq!(got, want, "{rel} frame {number}");
    assert_eq!(
        t.ip.src,
        e.0.parse::<IpAddr>().unwrap(),
        "{rel} frame {number}"
    );
    assert_eq!(
        t.ip.dst,
        e.2.parse::<IpAddr>().unwrap(),
        "{rel} frame {number}"
    );
    assert_eq!(t.payload_missing, 0);
}

#[test]
fn known_frames_match_tshark() {
    // Ethernet.
    check(
        "zeek/traces/tls1.2.pcap",
        1,
        (
            "10.0.0.80",
            56637,
            "68.233.76.12",
            443,
            1458420305,
            0,
            0x02,
            65535,
            Some(1460),
            Some(4),
            true,
            Some((809002225, 0)),
            0,
            64,
            Some(0xf978),
            true,
        ),
    );
    check(
        "zeek/traces/tls1.2.pcap",
        4,
        (
            "10.0.0.80",
            56637,
            "68.233.76.12",
            443,
            1458420306,
            551189328,
            0x18,
            8256,
            None,
            None,
            false,
            Some((809002261, 119170680)),
            322,
            64,
            Some(0xe611),
            true,
        ),
    );
    // 802.1Q VLAN 50.
    check(
        "arkime/pcap/mysql-tls.pcap",
        1,
        (
            "10.10.10.10",
            41324,
            "10.10.10.11",
            3306,
            2871374687,
            0,
            0x02,
            29200,
            Some(1460),
            Some(7),
            true,
            Some((1978221688, 0)),
            0,
            61,
            Some(0xf727),
            true,
        ),
    );
    check(
        "arkime/pcap/mysql-tls.pcap",
        4,
        (
            "10.10.10.11",
            3306,
            "10.10.10.10",
            41324,
            2108254122,
            2871374688,
            0x18,
            29,
            None,
            None,
            false,
            Some((3072720599, 1978221688)),
            78,
            60,
            Some(0x997d),
            true,
        ),
    );
    // PPPoE inside 802.1ad QinQ.
    check(
        "zeek/traces/pppoe-over-qinq.pcap",
        4,
        (
            "1.1.1.1",
            20394,
            "2.2.2.2",
            443,
            3618128214,
            4237337343,
            0x18,
            4096,
            None,
            None,
            false,
            None,
            517,
            63,
            Some(0),
            true,
        ),
    );
    check(
        "zeek/traces/pppoe-over-qinq.pcap",
        6,
        (
            "2.2.2.2",
            443,
            "1.1.1.1",
            20394,
            4237338783,
            3618128731,
            0x18,
            2165,
            None,
            None,
            false,
            None,
            1440,
            239,
            Some(0x1c3a),
            true,
        ),
    );
    // PPPoE.
    check(
        "arkime/pcap/pppoe.pcap",
        1,
        (
            "172.202.246.57",
            1063,
            "64.12.189.217",
            443,
            3913451349,
            0,
            0x02,
            65535,
            Some(1410),
            None,
            true,
            None,
            0,
            128,
            Some(0x0137),
            true,
        ),
    );
    check(
        "arkime/pcap/pppoe.pcap",
        4,
        (
            "172.202.246.57",
            1063,
            "64.12.189.217",
            443,
            3913451350,
            115958999,
            0x18,
            65535,
            None,
            None,
            false,
            None,
            78,
            128,
            Some(0x013e),
            true,
        ),
    );
    // IPv6 over Ethernet.
    check(
        "arkime/pcap/tls13.pcap",
        1,
        (
            "2001:16d8:ffce:10:aca8:353c:291d:a9b3",
            62510,
            "2400:cb00:2048:1::6813:c266",
            443,
            721860136,
            0,
            0x02,
            8192,
            Some(1440),
            Some(8),
            true,
            None,
            0,
            64,
            None,
            false,
        ),
    );
    check(
        "arkime/pcap/tls13.pcap",
        4,
        (
            "2001:16d8:ffce:10:aca8:353c:291d:a9b3",
            62510,
            "2400:cb00:2048:1::6813:c266",
            443,
            721860137,
            1945299486,
            0x18,
            257,
            None,
            None,
            false,
            None,
            517,
            64,
            None,
            false,
        ),
    );
    // BSD NULL, IPv4 and IPv6.
    check(
        "arkime/pcap/ssl-selfsign.pcap",
        1,
        (
            "10.180.152.137",
            60101,
            "10.180.152.137",
            4443,
            3273821390,
            0,
            0x02,
            65535,
            Some(16344),
            Some(5),
            true,
            Some((2400458376, 0)),
            0,
            64,
            Some(0x2e72),
            true,
        ),
    );
    check(
        "arkime/pcap/ssl-selfsign.pcap",
        4,
        (
            "10.180.152.137",
            4443,
            "10.180.152.137",
            60101,
            4222898566,
            3273821391,
            0x10,
            12759,
            None,
            None,
            false,
            Some((2400458376, 2400458376)),
            0,
            64,
            Some(0x845c),
            true,
        ),
    );
    check(
        "arkime/pcap/tls-alpn-h2.pcap",
        1,
        (
            "2001:4998:ef83:14:8000::100d",
            64034,
            "2606:4700::6811:d209",
            443,
            857026346,
            0,
            0x02,
            65535,
            Some(1346),
            Some(6),
            true,
            Some((1852377212, 0)),
            0,
            64,
            None,
            false,
        ),
    );
    check(
        "arkime/pcap/tls-alpn-h2.pcap",
        4,
        (
            "2001:4998:ef83:14:8000::100d",
            64034,
            "2606:4700::6811:d209",
            443,
            857026347,
            1623734746,
            0x18,
            4096,
            None,
            None,
            false,
            None,
            237,
            64,
            None,
            false,
        ),
    );
    // Linux SLL2, SLL, raw IP (101), LINKTYPE_IPV4 (228).
    check(
        "zeek/traces/openjdk-25.0.2-zeek.org.pcap",
        4,
        (
            "192.168.64.6",
            55058,
            "192.0.78.150",
            443,
            974184495,
            1339772508,
            0x18,
            502,
            None,
            None,
            false,
            None,
            457,
            64,
            Some(0x7ba9),
            true,
        ),
    );
    check(
        "zeek/traces/irc-starttls.pcap",
        1,
        (
            "203.143.168.47",
            55123,
            "185.18.76.170",
            6667,
            1130049455,
            0,
            0x02,
            29200,
            Some(1460),
            Some(7),
            true,
            Some((3388267, 0)),
            0,
            64,
            Some(0x9cc4),
            true,
        ),
    );
    check(
        "zeek/traces/ml-dsa-44-cert.pcap",
        1,
        (
            "10.0.0.1",
            55001,
            "10.0.0.2",
            443,
            1000,
            0,
            0x02,
            65535,
            None,
            None,
            false,
            None,
            0,
            64,
            Some(0x10be),
            false,
        ),
    );
    check(
        "suricata-verify/tests/linktype-228/flow-test-01.pcap",
        4,
        (
            "192.168.0.2",
            15057,
            "192.168.0.1",
            443,
            11,
            101,
            0x18,
            8192,
            None,
            None,
            false,
            None,
            117,
            64,
            Some(1),
            false,
        ),
    );
}

fn skip_reasons(rel: &str) -> Vec<SkipReason> {
    let Some(p) = corpus_file(rel) else {
        return vec![];
    };
    let (frames, _) = read_all(&mut CaptureReader::open(&p).unwrap());
    let mut d = Decoder::new();
    frames
        .iter()
        .filter_map(|o| match d.decode(&frame(o)) {
            Decoded::Skipped(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn non_tcp_corpus_frames_are_skipped_with_the_right_reason() {
    let Some(_) = corpus_dir() else { return };
    // QUIC over PPP (LINKTYPE_PPP), DNS over raw IPv6 (229), Apple PKTAP (258), DTLS.
    assert_eq!(
        skip_reasons("ndpi/pcap/dlt_ppp.pcap"),
        vec![SkipReason::NotTcp]
    );
    assert_eq!(
        skip_reasons("tcpdump/tests/LINKTYPE_IPV6.pcap"),
        vec![SkipReason::NotTcp]
    );
    assert_eq!(
        skip_reasons("tcpdump/tests/LINKTYPE_RAW_ipv4.pcap"),
        vec![SkipReason::NotTcp]
    );
    assert_eq!(
        skip_reasons("tcpdump/tests/LINKTYPE_PKTAP.pcap"),
        vec![SkipReason::NotTcp]
    );
    assert!(skip_reasons("ndpi/pcap/dtls.pcap")
        .iter()
        .all(|r| *r == SkipReason::NotTcp));
    // ARP and friends in a big browsing capture.
    let r = skip_reasons("suricata-verify/tests/tls/tls-subjectaltname/input.pcap");
    assert!(r.contains(&SkipReason::NotIp) && r.contains(&SkipReason::NotTcp));
}

#[test]
fn stats_count_every_reason() {
    let mut d = Decoder::new();
    let tcp = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1, 2, 3, 4);
    let mut p = Vec::new();
    tcp.write(&mut p, b"hi").unwrap();
    let udp = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1, 2);
    let mut u = Vec::new();
    udp.write(&mut u, b"hi").unwrap();
    assert!(matches!(d.decode(&frame_of(101, &p)), Decoded::Tcp(_)));
    assert!(matches!(
        d.decode(&frame_of(101, &u)),
        Decoded::Skipped(SkipReason::NotTcp)
    ));
    assert!(matches!(
        d.decode(&frame_of(147, &u)),
        Decoded::Skipped(SkipReason::UnsupportedLinkType(147))
    ));
    assert!(matches!(
        d.decode(&frame_of(147, &u)),
        Decoded::Skipped(SkipReason::UnsupportedLinkType(147))
    ));
    assert!(matches!(
        d.decode(&frame_of(1, &[0; 20])),
        Decoded::Skipped(SkipReason::NotIp)
    ));
    assert!(matches!(
        d.decode(&frame_of(101, &p[..30])),
        Decoded::Skipped(SkipReason::Malformed)
    ));
    assert!(matches!(
        d.decode(&frame_of(101, &[0x10, 0, 0])),
        Decoded::Skipped(SkipReason::NotIp)
    ));
    let s = d.stats();
    assert_eq!(
        (s.frames, s.tcp, s.not_tcp, s.not_ip, s.malformed),
        (7, 1, 1, 2, 1)
    );
    assert_eq!(s.skipped(SkipReason::UnsupportedLinkType(147)), 2);
    assert_eq!(s.skipped_total(), 6);
    assert_eq!(
        s.skip_counts(),
        vec![
            (SkipReason::UnsupportedLinkType(147), 2),
            (SkipReason::NotIp, 2),
            (SkipReason::NotTcp, 1),
            (SkipReason::Malformed, 1)
        ]
    );
}

// ---- hand-built packets ----

fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 2], 50)
        .tcp(40000, 443, 1000, 64240)
        .ack(77)
        .psh()
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(5, 6),
        ])
        .unwrap();
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

#[test]
fn sll2_and_null_by_hand() {
    let ip = ipv4_tcp(b"hello");
    // SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    let t = tcp_of(decode_one(276, &sll2));
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.ack),
        (40000, 443, 1000, 77)
    );
    assert_eq!(&*t.payload, b"hello");
    assert_eq!(t.options().timestamp, Some((5, 6)));
    assert!(t.flags.psh() && t.flags.ack() && !t.flags.syn());
    assert_eq!(t.ip.ttl, 50);
    // NULL with AF_INET in little-endian (host order on x86) and big-endian (as written on SPARC).
    for hdr in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let mut null = hdr.to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(&*tcp_of(decode_one(0, &null)).payload, b"hello");
    }
    // NULL with AF_INET6 = 30 (Darwin) over IPv6.
    let b = PacketBuilder::ipv6([1; 16], [2; 16], 9)
        .tcp(5, 6, 7, 8)
        .syn();
    let mut ip6 = Vec::new();
    b.write(&mut ip6, &[]).unwrap();
    let mut null = 30u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip6);
    let t = tcp_of(decode_one(0, &null));
    assert!(t.flags.syn());
    assert_eq!(t.ip.src, IpAddr::from([1u8; 16]));
    assert_eq!(t.ip.ttl, 9);
    assert_eq!(t.ip.ip_id, None);
}

#[test]
fn ipv6_extension_headers_are_walked() {
    // IPv6 / Hop-by-Hop / Destination Options / TCP.
    let tcp = {
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1111, 443, 9, 10);
        let mut v = Vec::new();
        b.write(&mut v, b"xyz").unwrap();
        v[40..].to_vec()
    };
    let exts = [
        60u8, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop, next = dest opts, PadN
        6, 0, 1, 4, 0, 0, 0, 0, // dest opts, next = TCP
    ];
    let mut h = Ipv6Header {
        next_header: IpNumber(0),
        hop_limit: 3,
        source: [1; 16],
        destination: [2; 16],
        ..Default::default()
    };
    h.payload_length = (exts.len() + tcp.len()) as u16;
    let mut p = Vec::new();
    h.write(&mut p).unwrap();
    p.extend_from_slice(&exts);
    p.extend_from_slice(&tcp);
    let t = tcp_of(decode_one(229, &p));
    assert_eq!((t.src_port, t.dst_port), (1111, 443));
    assert_eq!(&*t.payload, b"xyz");
    // Cut inside the extension headers: malformed.
    assert!(matches!(
        decode_one(229, &p[..44]),
        Decoded::Skipped(SkipReason::Malformed)
    ));
}

/// A pcap with one frame cut to `snap` bytes, read back and decoded.
fn cut_and_decode(link: u32, full: &[u8], snap: usize, check: impl Fn(&TcpPacket<'_>)) {
    let mut w = PcapWriter::new(link, false, false);
    w.packet(1_000_000_000, &full[..snap], full.len() as u32);
    let mut r = CaptureReader::from_reader(
        "cut.pcap".into(),
        Box::new(std::io::Cursor::new(w.finish())),
    )
    .unwrap();
    let f = r.next_frame().unwrap().unwrap();
    assert_eq!(f.data.len(), snap);
    check(&tcp_of(Decoder::new().decode(&f)));
}

#[test]
fn snaplen_cut_packets_count_the_missing_payload() {
    // A real ClientHello (tls1.2.pcap frame 4: 322 bytes of TCP payload, 32-byte TCP header) cut at 100 bytes.
    if let Some(p) = corpus_file("zeek/traces/tls1.2.pcap") {
        let (frames, _) = read_all(&mut CaptureReader::open(&p).unwrap());
        let full = &frames[3].data;
        assert_eq!(full.len(), 14 + 20 + 32 + 322);
        cut_and_decode(1, full, 100, |t| {
            assert_eq!(t.payload.len(), 100 - 66);
            assert_eq!(t.payload_missing, 322 - 34);
            assert_eq!(&t.payload[..], &full[66..100]);
            assert_eq!(t.options().timestamp, Some((809002261, 119170680)));
        });
        // Cut inside the TCP options of the SYN (frame 1: 44-byte TCP header): decoded, options as far as kept.
        let syn = &frames[0].data;
        cut_and_decode(1, syn, 14 + 20 + 24, |t| {
            assert!(t.flags.syn());
            assert_eq!(t.options().mss, Some(1460));
            assert_eq!(t.options().timestamp, None);
            assert_eq!(t.payload.len(), 0);
            assert_eq!(t.payload_missing, 0);
        });
    }
    // Hand-built IPv6: 1000 bytes of payload cut to 10.
    let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4);
    let mut p = Vec::new();
    b.write(&mut p, &[0xab; 1000]).unwrap();
    cut_and_decode(229, &p, 40 + 20 + 10, |t| {
        assert_eq!(t.payload.len(), 10);
        assert_eq!(t.payload_missing, 990);
    });
    // A lying IP length on a frame the capture did not cut is not "missing" payload.
    let mut p = ipv4_tcp(b"abcd");
    p[2..4].copy_from_slice(&4000u16.to_be_bytes());
    let t = tcp_of(decode_one(101, &p));
    assert_eq!(&*t.payload, b"abcd");
    assert_eq!(t.payload_missing, 0);
    // ... and then a TCP header shorter than its data offset is malformed, not cut.
    let mut p = ipv4_tcp(b"");
    p[2..4].copy_from_slice(&4000u16.to_be_bytes());
    let n = p.len();
    assert!(matches!(
        decode_one(101, &p[..n - 4]),
        Decoded::Skipped(SkipReason::Malformed)
    ));
}

/// Splits an IPv4 TCP packet into fragments of at most `size` payload bytes (a multiple of 8).
fn ipv4_fragments(packet: &[u8], id: u16, size: usize) -> Vec<Vec<u8>> {
    let (h, payload) = Ipv4Header::from_slice(packet).unwrap();
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let mut fh = h.clone();
        fh.identification = id;
        fh.dont_fragment = false;
        fh.more_fragments = (i + 1) * size < payload.len();
        fh.fragment_offset = etherparse::IpFragOffset::try_new((i * size / 8) as u16).unwrap();
        fh.set_payload_len(chunk.len()).unwrap();
        fh.header_checksum = fh.calc_header_checksum();
        let mut v = Vec::new();
        fh.write(&mut v).unwrap();
        v.extend_from_slice(chunk);
        out.push(v);
    }
    out
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let packet = ipv4_tcp(&body);
    let frags = ipv4_fragments(&packet, 0x4242, 1480);
    assert_eq!(frags.len(), 3);
    let mut d = Decoder::new();
    // Out of order: last, first, middle.
    for (k, i) in [2usize, 0, 1].iter().enumerate() {
        let eth = crate::capture::testutil::ethernet(0x0800, &frags[*i]);
        match d.decode(&frame_of(1, &eth)) {
            Decoded::Skipped(SkipReason::FragmentPending) => assert!(k < 2),
            Decoded::Tcp(t) => {
                assert_eq!(k, 2);
                assert!(matches!(t.payload, Cow::Owned(_)));
                assert_eq!(&*t.payload, &body[..]);
                assert_eq!((t.src_port, t.dst_port, t.seq), (40000, 443, 1000));
                assert_eq!(t.ip.ip_id, Some(0x4242));
                assert_eq!(t.payload_missing, 0);
            }
            other => panic!("{other:?}"),
        }
    }
    let s = d.stats();
    assert_eq!(
        (
            s.datagrams_reassembled,
            s.fragments_reassembled,
            s.fragment_pending,
            s.tcp
        ),
        (1, 3, 2, 1)
    );
    assert_eq!(d.pending_datagrams(), 0);
    // An incomplete datagram is dropped and counted by finish().
    d.decode(&frame_of(101, &frags[0]));
    assert_eq!(d.pending_datagrams(), 1);
    d.finish();
    assert_eq!(d.stats().fragments_dropped, 1);
    // UDP fragments are not collected.
    let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 5).udp(1, 2);
    let mut u = Vec::new();
    b.write(&mut u, &body).unwrap();
    let mut d = Decoder::new();
    for f in ipv4_fragments(&u, 9, 1480) {
        assert!(matches!(
            d.decode(&frame_of(101, &f)),
            Decoded::Skipped(SkipReason::NotTcp)
        ));
    }
    assert_eq!(d.pending_datagrams(), 0);
}

#[test]
fn ipv6_fragments_are_reassembled() {
    let body: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    let b = PacketBuilder::ipv6([3; 16], [4; 16], 60).tcp(5555, 443, 42, 100);
    let mut whole = Vec::new();
    b.write(&mut whole, &body).unwrap();
    let transport = &whole[40..];
    let mut d = Decoder::new();
    let chunks: Vec<&[u8]> = transport.chunks(1232).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let fh = Ipv6FragmentHeader::new(
            IpNumber::TCP,
            etherparse::IpFragOffset::try_new((i * 1232 / 8) as u16).unwrap(),
            i + 1 < chunks.len(),
            0xdead_beef,
        );
        let h = Ipv6Header {
            payload_length: (8 + chunk.len()) as u16,
            next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
            hop_limit: 60,
            source: [3; 16],
            destination: [4; 16],
            ..Default::default()
        };
        let mut p = Vec::new();
        h.write(&mut p).unwrap();
        fh.write(&mut p).unwrap();
        p.extend_from_slice(chunk);
        let out = d.decode(&frame_of(229, &p));
        if i + 1 < chunks.len() {
            assert!(
                matches!(out, Decoded::Skipped(SkipReason::FragmentPending)),
                "{out:?}"
            );
        } else {
            let t = tcp_of(out);
            assert_eq!(&*t.payload, &body[..]);
            assert_eq!(t.seq, 42);
        }
    }
}

/// An ICMP error built by hand: outer IP from the router, quoting `quoted` (IP header + TCP start).
fn icmpv4_error(icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([203, 0, 113, 9], [192, 0, 2, 1], 250)
        .icmpv4_raw(icmp_type, code, [0; 4]);
    let mut v = Vec::new();
    b.write(&mut v, quoted).unwrap();
    v
}

#[test]
fn icmp_errors_quoting_tcp() {
    let original = ipv4_tcp(b"ClientHello...");
    // The usual quote: IP header + 8 bytes of TCP.
    let p = icmpv4_error(3, 13, &original[..28]);
    let Decoded::IcmpError(e) = decode_one(101, &p) else {
        panic!()
    };
    assert_eq!((e.version, e.icmp_type, e.code), (4, 3, 13));
    assert_eq!(e.ip.src, "203.0.113.9".parse::<IpAddr>().unwrap());
    assert_eq!(e.ip.ttl, 250);
    assert_eq!(e.quoted_src, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(e.quoted_dst, "198.51.100.2".parse::<IpAddr>().unwrap());
    assert_eq!(
        (e.quoted_src_port, e.quoted_dst_port, e.quoted_seq),
        (40000, 443, Some(1000))
    );
    assert!(e
        .describe()
        .contains("communication administratively prohibited"));
    // Time exceeded quoting the whole segment; a quote with only the ports.
    let Decoded::IcmpError(e) = decode_one(101, &icmpv4_error(11, 0, &original)) else {
        panic!()
    };
    assert_eq!(e.icmp_type, 11);
    let Decoded::IcmpError(e) = decode_one(101, &icmpv4_error(3, 3, &original[..24])) else {
        panic!()
    };
    assert_eq!(e.quoted_seq, None);
    // Too short to name the connection; echo reply; quoting UDP.
    assert!(matches!(
        decode_one(101, &icmpv4_error(3, 3, &original[..22])),
        Decoded::Skipped(SkipReason::Malformed)
    ));
    assert!(matches!(
        decode_one(101, &icmpv4_error(0, 0, &original[..28])),
        Decoded::Skipped(SkipReason::NotTcp)
    ));
    let mut udp = original[..28].to_vec();
    udp[9] = 17;
    assert!(matches!(
        decode_one(101, &icmpv4_error(3, 3, &udp)),
        Decoded::Skipped(SkipReason::NotTcp)
    ));

    // ICMPv6 destination unreachable (port unreachable) quoting an IPv6 TCP segment.
    let b6 = PacketBuilder::ipv6([7; 16], [8; 16], 64).tcp(50000, 443, 0xfeed_f00d, 100);
    let mut q6 = Vec::new();
    b6.write(&mut q6, b"data").unwrap();
    let b = PacketBuilder::ipv6([9; 16], [7; 16], 255).icmpv6_raw(1, 4, [0; 4]);
    let mut p6 = Vec::new();
    b.write(&mut p6, &q6[..48]).unwrap();
    let Decoded::IcmpError(e) = decode_one(229, &p6) else {
        panic!()
    };
    assert_eq!((e.version, e.icmp_type, e.code), (6, 1, 4));
    assert_eq!(e.quoted_src, IpAddr::from([7u8; 16]));
    assert_eq!(
        (e.quoted_src_port, e.quoted_dst_port, e.quoted_seq),
        (50000, 443, Some(0xfeed_f00d))
    );
    assert_eq!(e.ip.src, IpAddr::from([9u8; 16]));
    // Packet too big (2) also counts; echo request (128) does not.
    let b = PacketBuilder::ipv6([9; 16], [7; 16], 255).icmpv6_raw(2, 0, [0, 0, 5, 0]);
    let mut p6 = Vec::new();
    b.write(&mut p6, &q6).unwrap();
    assert!(matches!(
        decode_one(229, &p6),
        Decoded::IcmpError(IcmpError { icmp_type: 2, .. })
    ));
    let b = PacketBuilder::ipv6([9; 16], [7; 16], 255).icmpv6_raw(128, 0, [0; 4]);
    let mut p6 = Vec::new();
    b.write(&mut p6, &q6).unwrap();
    assert!(matches!(
        decode_one(229, &p6),
        Decoded::Skipped(SkipReason::NotTcp)
    ));
    let mut d = Decoder::new();
    d.decode(&frame_of(101, &icmpv4_error(3, 1, &original[..28])));
    assert_eq!(d.stats().icmp_errors, 1);
}

#[test]
fn vlan_tagged_pppoe_and_qinq_by_hand() {
    let ip = ipv4_tcp(b"q");
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x88, 0x64]);
    f.extend_from_slice(&[0x11, 0x00, 0x00, 0x01]);
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0; 6]); // Ethernet padding
    assert_eq!(&*tcp_of(decode_one(1, &f)).payload, b"q");
}

// ---- never panic ----

const LINKS: [u32; 16] = [
    0, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 204, 228, 229, 276, 258,
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, .. Default::default() })]

    #[test]
    fn random_frames_never_panic(
        link in 0usize..LINKS.len(),
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        origlen in proptest::prelude::any::<u32>(),
    ) {
        let mut d = Decoder::with_fragment_limits(FragmentLimits { max_datagrams: 4, max_bytes: 4096, timeout_ns: 1 });
        let f = Frame { number: 1, ts: Timestamp(0), link: LinkType(LINKS[link]), interface: 0, origlen, data: &data };
        let _ = d.decode(&f);
    }

    #[test]
    fn mutated_packets_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        cut in proptest::prelude::any::<usize>(),
    ) {
        let mut d = Decoder::with_fragment_limits(FragmentLimits { max_datagrams: 4, max_bytes: 4096, timeout_ns: 1 });
        let base = match which {
            0 => crate::capture::testutil::ethernet(0x0800, &ipv4_tcp(b"payload")),
            1 => icmpv4_error(3, 3, &ipv4_tcp(b"x")[..28]),
            2 => ipv4_fragments(&ipv4_tcp(&[1; 40]), 1, 16)[1].clone(),
            _ => {
                let b = PacketBuilder::ipv6([1; 16], [2; 16], 1).tcp(1, 2, 3, 4);
                let mut v = Vec::new();
                b.write(&mut v, b"abc").unwrap();
                v
            }
        };
        let link = if which == 0 { 1 } else { 101 };
        let mut b = base;
        for (at, v) in edits {
            let i = at % b.len();
            b[i] = v;
        }
        b.truncate(cut % (b.len() + 1));
        for _ in 0..3 {
            let _ = d.decode(&frame_of(link, &b));
        }
    }
}

/// Flag names: in the order SYN, FIN, RST, PSH, ACK, URG, ECE, CWR, joined by the separator, one
/// per set bit, "no flags" for none.
#[test]
fn flag_names() {
    for (bits, want) in [
        (0x00, "no flags"),
        (0x02, "SYN"),
        (0x12, "SYN+ACK"),
        (0x11, "FIN+ACK"),
        (0x14, "RST+ACK"),
        (0x18, "PSH+ACK"),
        (0xc2, "SYN+ECE+CWR"),
        (0xff, "SYN+FIN+RST+PSH+ACK+URG+ECE+CWR"),
    ] {
        assert_eq!(TcpFlags::from_bits(bits).names("+"), want, "{bits:#04x}");
    }
    for b in 1..=u8::MAX {
        let names = TcpFlags::from_bits(b).names(",");
        assert_eq!(
            names.split(',').count(),
            b.count_ones() as usize,
            "{b:#04x}: {names}"
        );
    }
}
