//! Tests that read real files (the peers corpus) and files built here, and error cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::testutil::{
    corpus_dir, corpus_file, ethernet, ipv4_tcp_syn, PcapNgWriter, PcapWriter, TempFile,
};
use super::*;
use crate::fuzzing::ShortReads;
use std::io::Read;
use std::path::Path;

/// A frame copied out of the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub number: u64,
    pub ts: u64,
    pub link: u32,
    pub interface: u32,
    pub origlen: u32,
    pub data: Vec<u8>,
}

/// Reads every frame; returns them and the error that ended reading, if any.
pub(crate) fn read_all(r: &mut CaptureReader) -> (Vec<Owned>, Option<CaptureError>) {
    let mut out = Vec::new();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push(Owned {
                number: f.number,
                ts: f.ts.0,
                link: f.link.0,
                interface: f.interface,
                origlen: f.origlen,
                data: f.data.to_vec(),
            }),
            Ok(None) => return (out, None),
            Err(e) => {
                // After an error the reader only says "end".
                assert!(r.next_frame().unwrap().is_none());
                return (out, Some(e));
            }
        }
    }
}

fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
    CaptureReader::from_reader(name.to_string(), Box::new(std::io::Cursor::new(bytes)))
}

/// (path under the peers corpus, frames, first and last frame.time_epoch in ns, link type) from tshark 4.0.17.
pub(crate) const TSHARK_TRUTH: &[(&str, u64, u64, u64, u32)] = &[
    (
        "arkime/pcap/badcurveball.pcap",
        12,
        1579293816559976000,
        1579293816817749000,
        1,
    ),
    (
        "arkime/pcap/https-connect.pcap",
        18,
        1567450613383129000,
        1567450613614664000,
        1,
    ),
    (
        "arkime/pcap/https3-301-get.pcap",
        23,
        1385396821013239000,
        1385396821236922000,
        1,
    ),
    (
        "arkime/pcap/mysql-tls.pcap",
        10,
        1482552218498935000,
        1482552218503888000,
        1,
    ),
    (
        "arkime/pcap/openssl-ssl3.pcap",
        20,
        1413337769995637000,
        1413337770679992000,
        1,
    ),
    (
        "arkime/pcap/openssl-tls1.pcap",
        20,
        1413337821624858000,
        1413337822763625000,
        1,
    ),
    (
        "arkime/pcap/openssl-tls1_2-tls1.pcap",
        19,
        1413338074954626000,
        1413338075560410000,
        1,
    ),
    (
        "arkime/pcap/openssl-tls1_2.pcap",
        20,
        1413337896106156000,
        1413337896584019000,
        1,
    ),
    (
        "arkime/pcap/pppoe.pcap",
        10,
        1193676055856435000,
        1193676056235578000,
        1,
    ),
    (
        "arkime/pcap/socks-https-example.pcap",
        93,
        1386004472572394000,
        1386004480888510000,
        1,
    ),
    (
        "arkime/pcap/socks4-https.pcap",
        16,
        1415053640836046000,
        1415053642702855000,
        1,
    ),
    (
        "arkime/pcap/ssl-selfsign.pcap",
        20,
        1519400125658635000,
        1519400125663587000,
        0,
    ),
    (
        "arkime/pcap/tls-alpn-h2.pcap",
        9,
        1593980608621087000,
        1593980608696428000,
        0,
    ),
    (
        "arkime/pcap/tls-client-sessionid.pcap",
        16,
        1420490708340844000,
        1420490708431876000,
        1,
    ),
    (
        "arkime/pcap/tls-split-client-hello.pcap",
        35,
        1737577691633804000,
        1737577691880882000,
        1,
    ),
    (
        "arkime/pcap/tls13.pcap",
        6,
        1483560476240587000,
        1483560476263899000,
        1,
    ),
    ("ndpi/pcap/dlt_ppp.pcap", 1, 1031048000, 1031048000, 9),
    (
        "ndpi/pcap/dtls.pcap",
        24,
        1545143424891780000,
        1715267278694728712,
        1,
    ),
    (
        "ndpi/pcap/encrypted_sni.pcap",
        3,
        1590680386576239000,
        1590680391590254000,
        1,
    ),
    (
        "ndpi/pcap/google_ssl.pcap",
        28,
        1434443394683939000,
        1434443401353810000,
        1,
    ),
    (
        "ndpi/pcap/http_ipv6.pcap",
        193,
        1448269123954061000,
        1448269146970056000,
        1,
    ),
    (
        "ndpi/pcap/smtp-starttls.pcap",
        69,
        1388017124762850000,
        1524746968663137000,
        1,
    ),
    (
        "ndpi/pcap/smtps.pcapng",
        4,
        1614938504972279000,
        1614938505439757000,
        1,
    ),
    (
        "ndpi/pcap/tls-appdata.pcap",
        120,
        1642636825083000000,
        1643614758886000000,
        1,
    ),
    (
        "ndpi/pcap/tls_1.2_unidirectional_client.pcapng",
        17,
        1656949469263977107,
        1656949480565802878,
        1,
    ),
    (
        "ndpi/pcap/tls_1.3_unidirectional_server.pcapng",
        9,
        1656949481735174303,
        1656949481804763735,
        1,
    ),
    (
        "ndpi/pcap/tls_2_reasms.pcapng",
        14,
        1639052958270296000,
        1639052959221756000,
        1,
    ),
    (
        "ndpi/pcap/tls_alert.pcap",
        18,
        1628259176203392000,
        1642662407022000000,
        1,
    ),
    (
        "ndpi/pcap/tls_change_cipher.pcap",
        14,
        1705784524708924000,
        1705784529694103000,
        1,
    ),
    (
        "ndpi/pcap/tls_client_certificate_with_missing_server_one.pcapng",
        17,
        1663090549179486833,
        1663090549603905740,
        1,
    ),
    (
        "ndpi/pcap/tls_ech.pcapng",
        10,
        1688191412679858939,
        1688191412746874419,
        1,
    ),
    (
        "ndpi/pcap/tls_false_positives.pcapng",
        30,
        1641232761063506000,
        1641232767465459000,
        1,
    ),
    (
        "ndpi/pcap/tls_heur__trojan-tcp-tls.pcapng",
        100,
        1725367999181087334,
        1725367999398999597,
        113,
    ),
    (
        "ndpi/pcap/tls_invalid_reads.pcap",
        12,
        1252380859868541000,
        1544035479768404000,
        1,
    ),
    (
        "ndpi/pcap/tls_missing_ch_frag.pcap",
        14,
        1626252471399786000,
        1626252471774171000,
        1,
    ),
    (
        "ndpi/pcap/tls_multiple_synack_different_seq.pcapng",
        10,
        1639054241336766000,
        1639054270712778000,
        1,
    ),
    (
        "ndpi/pcap/tls_port_80.pcapng",
        13,
        1618744619257945000,
        1618744633908597000,
        1,
    ),
    (
        "ndpi/pcap/tls_unidirectional.pcap",
        8,
        1716391295141432000,
        1716391299826932000,
        1,
    ),
    (
        "ndpi/pcap/tls_with_huge_ch.pcapng",
        428,
        1722705809121409460,
        1722705840791503037,
        1,
    ),
    (
        "suricata-verify/tests/bug-5713-01/TLSv1-Extracted-MaliciousC2.pcap",
        9,
        1669284975849397000,
        1669284983277657000,
        1,
    ),
    (
        "suricata-verify/tests/bug-5758/input.pcap",
        41,
        1736599055884655000,
        1736599058221273000,
        101,
    ),
    (
        "suricata-verify/tests/bug-7264-tcp-3whs-ack-data-tls-01/input.pcap",
        28,
        1537728271142602000,
        1537728328717626000,
        1,
    ),
    (
        "suricata-verify/tests/http-connect/http-connect-tls/input.pcap",
        14,
        1599546348207060000,
        1599546348209775000,
        0,
    ),
    (
        "suricata-verify/tests/linktype-228/flow-test-01.pcap",
        7,
        1511507968858122000,
        1511507968906515000,
        228,
    ),
    (
        "suricata-verify/tests/pgsql/pgsql-upgrade-tls/input.pcap",
        22,
        1492684939424941000,
        1492684939438759000,
        1,
    ),
    (
        "suricata-verify/tests/smtp-startssl/input.pcap",
        38,
        1636654421702930000,
        1636654421805943000,
        1,
    ),
    (
        "suricata-verify/tests/smtp-tls-protodetect/input.pcap",
        7,
        1574370884020564000,
        1574370884488808000,
        1,
    ),
    (
        "suricata-verify/tests/ssl_version_negated/input.pcap",
        114,
        1092335602065749000,
        1092335649830708000,
        1,
    ),
    (
        "suricata-verify/tests/sslv2-tls-upgrade-01/ssl-v2-s1.pcap",
        36,
        1092335644435949000,
        1092335649492560000,
        1,
    ),
    (
        "suricata-verify/tests/tcp-fastopen-10-syn-data-ignore/input.pcap",
        52,
        1677307246663155000,
        1677307254384379000,
        101,
    ),
    (
        "suricata-verify/tests/tcp-fastopen-11-reject-syn-data/tlpw-tcp-tfo-data-on-syn-nack.pcap",
        29,
        1677512567594371000,
        1677512584261199000,
        101,
    ),
    (
        "suricata-verify/tests/tls-duplicate-hello/input.pcap",
        15,
        1725371887846720000,
        1725371897114782000,
        0,
    ),
    (
        "suricata-verify/tests/tls-extra-alert/input.pcap",
        14,
        1725905755863332000,
        1725906155824727000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls-client-hello-frag-01/dump_mtu300.pcap",
        62,
        1659620473160545000,
        1659620473217783000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls-fin-close-data-01/debug-s13.pcap",
        24,
        1739448948344822000,
        1739448948435955000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls-fingerprint-alert/input.pcap",
        28,
        1474298035437913000,
        1474298035785685000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls-pre-1970/input.pcap",
        17,
        1674679835848363000,
        1674679838206463000,
        101,
    ),
    (
        "suricata-verify/tests/tls/tls-store-02/tls-client-auth.pcap",
        22,
        1523912382151547000,
        1523912382275195000,
        0,
    ),
    (
        "suricata-verify/tests/tls/tls-subjectaltname/input.pcap",
        3138,
        1647506328746977000,
        1647506424310013000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls13-draft22/tls13_draft22.pcap",
        19,
        1511667159607330000,
        1511667159675085000,
        1,
    ),
    (
        "suricata-verify/tests/tls/tls13-draft28/tls13_draft28.pcap",
        30,
        1533213097452422000,
        1533213097550483000,
        1,
    ),
    (
        "tcpdump/tests/LINKTYPE_IPV6.pcap",
        1,
        1751997566204450000,
        1751997566204450000,
        229,
    ),
    (
        "tcpdump/tests/LINKTYPE_PKTAP.pcap",
        1,
        1392802874221562000,
        1392802874221562000,
        258,
    ),
    (
        "tcpdump/tests/LINKTYPE_RAW_ipv4.pcap",
        1,
        1751997551951226000,
        1751997551951226000,
        101,
    ),
    (
        "tcpdump/tests/LINKTYPE_RAW_ipv6.pcap",
        1,
        1751997557215270000,
        1751997557215270000,
        101,
    ),
    (
        "tcpdump/tests/mptcp-tcprst.pcap",
        2,
        1620829639175792000,
        1620829639175964000,
        101,
    ),
    (
        "tcpdump/tests/tcp-handshake-nano.pcap",
        3,
        1418145369924505488,
        1418145370052115157,
        113,
    ),
    (
        "tcpdump/tests/tcp_rst_diag_payload.pcap",
        1,
        1776617953939985000,
        1776617953939985000,
        0,
    ),
    (
        "zeek/traces/certificate-request-failed.pcap",
        12,
        1677605225547927000,
        1677605225569963000,
        1,
    ),
    (
        "zeek/traces/chrome-1250-tls-x25519-kyber.pcap",
        15,
        1716310155395250000,
        1716310155468286000,
        1,
    ),
    (
        "zeek/traces/chrome-63.0.3211.0-canary-tls_experiment.pcap",
        13,
        1505019125920256000,
        1505019126252217000,
        1,
    ),
    (
        "zeek/traces/client-certificate.pcap",
        31,
        1677601192606743000,
        1677601197749454000,
        1,
    ),
    (
        "zeek/traces/dhe.pcap",
        24,
        1398558136187348000,
        1398558140053999000,
        1,
    ),
    (
        "zeek/traces/ftp-auth-tls.pcap",
        84,
        1747315305938386000,
        1747315329819705000,
        1,
    ),
    (
        "zeek/traces/geneve-47101.pcap",
        24,
        1673516612582234000,
        1673516613607239000,
        1,
    ),
    (
        "zeek/traces/hrr.pcap",
        19,
        1556554522001362000,
        1556554523858884000,
        1,
    ),
    (
        "zeek/traces/https-to-http.pcap",
        9,
        1740649994391397000,
        1740649994419670000,
        1,
    ),
    (
        "zeek/traces/imap-starttls.pcap",
        32,
        1437584567812552000,
        1437584570828629000,
        1,
    ),
    (
        "zeek/traces/irc-starttls.pcap",
        20,
        1438145937325196000,
        1438145942248343000,
        113,
    ),
    (
        "zeek/traces/ldap-starttls.pcap",
        28,
        1721218680158242000,
        1721218680175164000,
        1,
    ),
    (
        "zeek/traces/missing-intermediate.pcap",
        50,
        1417039703220765000,
        1417039711386447000,
        1,
    ),
    (
        "zeek/traces/ml-dsa-44-cert.pcap",
        5,
        1700000000000000000,
        1700000000000000000,
        101,
    ),
    (
        "zeek/traces/openjdk-25.0.2-zeek.org.pcap",
        6,
        1776243128835142000,
        1776243128913922000,
        276,
    ),
    (
        "zeek/traces/pop3-starttls.pcap",
        33,
        1400173552423915000,
        1400173554912978000,
        0,
    ),
    (
        "zeek/traces/pppoe-over-qinq.pcap",
        86,
        1523351398449222000,
        1523351676615704000,
        1,
    ),
    (
        "zeek/traces/psql-aws-ssl-require.pcap",
        30,
        1670520174352851000,
        1670520175425512000,
        1,
    ),
    (
        "zeek/traces/smtp-starttls.pcap",
        37,
        1400168396806011000,
        1400168404468437000,
        1,
    ),
    (
        "zeek/traces/ssl-and-ssh-using-sslh.pcap",
        72,
        1455718916827039000,
        1455718922892733000,
        1,
    ),
    (
        "zeek/traces/ssl-to-http-server.pcap",
        14,
        1677078951895944000,
        1677078952114023000,
        1,
    ),
    (
        "zeek/traces/ssl-v2.pcap",
        25,
        1397165496274611000,
        1397165500008058000,
        1,
    ),
    (
        "zeek/traces/ssl.v3.pcap",
        252,
        1170717505366729000,
        1170717531882302000,
        1,
    ),
    (
        "zeek/traces/tls-1.2-handshake-failure.pcap",
        11,
        1393957586776878000,
        1393957586796777000,
        1,
    ),
    (
        "zeek/traces/tls-1.2-protocol-error.pcap",
        11,
        1393957586776878000,
        1393957586796777000,
        1,
    ),
    (
        "zeek/traces/tls-13draft19-early-data.pcap",
        50,
        1491407507911589000,
        1491407514153504000,
        1,
    ),
    (
        "zeek/traces/tls-conn-with-extensions.pcap",
        58,
        1335538392299605000,
        1335538396226060000,
        1,
    ),
    (
        "zeek/traces/tls-early-alert.pcap",
        17,
        1445545869533041000,
        1445545869764903000,
        1,
    ),
    (
        "zeek/traces/tls-fragmented-handshake.pcap",
        416,
        1426117218064063000,
        1426117218286833000,
        1,
    ),
    (
        "zeek/traces/tls1.2-late-protocol-error.pcap",
        22,
        1357328848512314000,
        1357328851807191000,
        1,
    ),
    (
        "zeek/traces/tls1.2-protocol-violation.pcap",
        22,
        1357328848512314000,
        1357328851807191000,
        1,
    ),
    (
        "zeek/traces/tls1.2.pcap",
        22,
        1357328848512314000,
        1357328851807191000,
        1,
    ),
    (
        "zeek/traces/tls13-ech.pcap",
        69,
        1697458696259279000,
        1697458703253039000,
        1,
    ),
    (
        "zeek/traces/tls13_psk_succesfull.pcap",
        20,
        1555610808349181000,
        1555610813026769000,
        1,
    ),
    (
        "zeek/traces/tls13_wolfssl.pcap",
        21,
        1607280745834631000,
        1607280755880780000,
        1,
    ),
    (
        "zeek/traces/tls13draft16-chrome55.0.2879.0-canary-aborted.pcap",
        24,
        1475791805439745000,
        1475791805580785000,
        1,
    ),
    (
        "zeek/traces/tls13draft16-ff52.a01-aborted.pcap",
        20,
        1475787575831855000,
        1475787575975393000,
        1,
    ),
    (
        "zeek/traces/tls13draft16-ff52.a01.pcap",
        39,
        1475795116892591000,
        1475795124678385000,
        1,
    ),
    (
        "zeek/traces/tls13draft23-chrome67.0.3368.0-canary.pcap",
        24,
        1520820013483265000,
        1520820015389722000,
        1,
    ),
    (
        "zeek/traces/tls1_1.pcap",
        23,
        1512072318401739000,
        1512072319419296000,
        1,
    ),
];

#[test]
fn corpus_frame_counts_and_times_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    for &(rel, frames, first, last, link) in TSHARK_TRUTH {
        let path = dir.join(rel);
        let mut r = CaptureReader::open(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let (got, err) = read_all(&mut r);
        assert!(err.is_none(), "{rel}: {err:?}");
        assert_eq!(got.len() as u64, frames, "{rel}: frame count");
        assert_eq!(got.first().unwrap().ts, first, "{rel}: first timestamp");
        assert_eq!(got.last().unwrap().ts, last, "{rel}: last timestamp");
        assert_eq!(
            got.last().unwrap().number,
            frames,
            "{rel}: last frame number"
        );
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, f)| f.number == i as u64 + 1),
            "{rel}: numbering"
        );
        assert!(got.iter().all(|f| f.link == link), "{rel}: link type");
        assert_eq!(r.interfaces()[0].link, LinkType(link), "{rel}");
        assert_eq!(
            r.bytes_read(),
            std::fs::metadata(&path).unwrap().len(),
            "{rel}: bytes_read at end"
        );
    }
}

#[test]
fn every_corpus_capture_reads_to_the_end() {
    // Everything in the corpus that starts like pcap/pcapng, including files not in the table above.
    let Some(dir) = corpus_dir() else { return };
    let mut stack = vec![dir];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let mut head = [0u8; 4];
            let ok = std::fs::File::open(&p)
                .and_then(|mut f| f.read_exact(&mut head))
                .is_ok();
            let capture = ok
                && matches!(
                    head,
                    [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] | [0x0a, 0x0d, 0x0d, 0x0a]
                );
            if !capture {
                continue;
            }
            let mut r = CaptureReader::open(&p).unwrap();
            let (frames, err) = read_all(&mut r);
            assert!(err.is_none(), "{}: {err:?}", p.display());
            assert!(!frames.is_empty());
            n += 1;
        }
    }
    assert!(n >= TSHARK_TRUTH.len(), "found only {n} captures");
}

#[test]
fn pcapng_with_several_interfaces_and_an_isb() {
    // dtls.pcap: pcapng with two IDBs (one with if_tsresol 9) and a DSB between packets.
    let Some(p) = corpus_file("ndpi/pcap/dtls.pcap") else {
        return;
    };
    let mut r = CaptureReader::open(&p).unwrap();
    assert_eq!(r.format(), CaptureFormat::PcapNg);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames.len(), 24);
    assert_eq!(r.interfaces().len(), 2);
    assert_eq!(r.interfaces()[1].ts_units_per_sec, 1_000_000_000);
    assert_eq!(r.stats().sections, 1);
    assert_eq!(r.stats().skipped_blocks.get(&0xA), Some(&1));
}

#[test]
fn nanosecond_pcap() {
    let Some(p) = corpus_file("tcpdump/tests/tcp-handshake-nano.pcap") else {
        return;
    };
    let mut r = CaptureReader::open(&p).unwrap();
    assert_eq!(r.format(), CaptureFormat::Pcap { nanosecond: true });
    assert_eq!(r.interfaces()[0].link, LinkType::LINUX_SLL);
    let (frames, _) = read_all(&mut r);
    assert_eq!(frames.len(), 3);
}

/// The multi-section, multi-interface file checked against tshark 4.0.17:
/// ```text
/// 1  1700000000.123456789  if 0  Ethernet   (EPB, if_tsresol 9)
/// 2  1700000001.500000000  if 1  Raw IP     (EPB, if_tsresol 2^-20)
/// 3  (systemd journal export block)  4, 5  (custom blocks)  -- NRB, DSB, unknown: no number
/// 6  1700000002.000000000  if 0  Ethernet
/// 7  1700000003.000000000  if 1  Raw IP     (obsolete Packet Block)
/// 8  (no time)             if 0  Ethernet   (SPB)
/// 9  105.000000000         if 0  SLL2       (second section: if_tsoffset 100, µs)
/// ```
fn multi_section_file(big_endian: bool) -> Vec<u8> {
    let pkt = ipv4_tcp_syn();
    let eth = ethernet(0x0800, &pkt);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
    sll2.extend_from_slice(&[0; 8]);
    sll2.extend_from_slice(&pkt);
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut w = PcapNgWriter::new(big_endian);
    w.shb(&["hello comment", "second"])
        .idb(1, 65535, Some(9), None, Some("eth0"))
        .idb(101, 65535, Some(0x80 | 20), None, None)
        .epb(0, 1_700_000_000_123_456_789, &eth, eth.len() as u32)
        .epb(
            1,
            (1_700_000_001u64 << 20) + (1 << 19),
            &pkt,
            pkt.len() as u32,
        )
        .block(4, &[0, 0, 0, 0])
        .block(9, b"__REALTIME_TIMESTAMP=1700000000000000\nMESSAGE=hi\n")
        .block(0x0A, &[u32b(0x544c_534b), u32b(4), *b"abcd"].concat())
        .block(0xBAD, &[u32b(32473), *b"cust"].concat())
        .block(0x4000_0BAD, &[u32b(32473), *b"cust"].concat())
        .block(0x12345, b"unk")
        .epb(0, 1_700_000_002_000_000_000, &eth, eth.len() as u32);
    // Obsolete Packet Block: if_id(2) drops(2) ts_high ts_low caplen origlen data
    let ts = 1_700_000_003u64 << 20;
    let mut pb = Vec::new();
    pb.extend_from_slice(&u16b(1));
    pb.extend_from_slice(&u16b(0));
    pb.extend_from_slice(&u32b((ts >> 32) as u32));
    pb.extend_from_slice(&u32b(ts as u32));
    pb.extend_from_slice(&u32b(pkt.len() as u32));
    pb.extend_from_slice(&u32b(pkt.len() as u32));
    pb.extend_from_slice(&pkt);
    w.block(2, &pb)
        .spb(&eth, eth.len() as u32)
        .shb(&["section two"])
        .idb(276, 262_144, Some(6), Some(100), None)
        .epb(0, 5_000_000, &sll2, sll2.len() as u32);
    w.finish()
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_numbering_match_wireshark() {
    for be in [false, true] {
        let bytes = multi_section_file(be);
        let mut r = from_bytes("multi.pcapng", bytes.clone()).unwrap();
        assert_eq!(r.section_comments(), ["hello comment", "second"]);
        assert_eq!(r.interfaces().len(), 0, "IDBs not read yet");
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none(), "{err:?}");
        let got: Vec<(u64, u64, u32, u32)> = frames
            .iter()
            .map(|f| (f.number, f.ts, f.interface, f.link))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1_700_000_000_123_456_789, 0, 1),
                (2, 1_700_000_001_500_000_000, 1, 101),
                (6, 1_700_000_002_000_000_000, 0, 1),
                (7, 1_700_000_003_000_000_000, 1, 101),
                (8, 0, 0, 1),
                (9, 105_000_000_000, 0, 276),
            ],
            "big endian: {be}"
        );
        assert_eq!(frames[0].data, ethernet(0x0800, &ipv4_tcp_syn()));
        assert_eq!(frames[1].data, ipv4_tcp_syn());
        assert_eq!(frames[4].data.len(), 54, "SPB data without padding");
        assert_eq!(frames[4].origlen, 54);
        assert_eq!(
            r.section_comments(),
            ["hello comment", "second", "section two"]
        );
        // The interface table was reset by the second section.
        assert_eq!(r.interfaces().len(), 1);
        assert_eq!(r.interfaces()[0].link, LinkType::LINUX_SLL2);
        assert_eq!(r.interfaces()[0].ts_offset_secs, 100);
        let s = r.stats();
        assert_eq!(s.sections, 2);
        assert_eq!(s.interface_blocks, 3);
        assert_eq!(s.frames, 6);
        assert_eq!(s.skipped_block_total(), 6);
        assert_eq!(s.skipped_blocks.get(&9), Some(&1));
        assert_eq!(r.bytes_read(), bytes.len() as u64);
    }
}

#[test]
fn pcapng_interface_name_kept() {
    let mut r = from_bytes("m.pcapng", multi_section_file(false)).unwrap();
    r.next_frame().unwrap();
    assert_eq!(r.interfaces()[0].name.as_deref(), Some("eth0"));
    assert_eq!(r.interfaces()[1].ts_units_per_sec, 1 << 20);
}

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for (be, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
        let pkt = ipv4_tcp_syn();
        let mut w = PcapWriter::new(101, be, nanos);
        w.packet(1_600_000_000_123_456_789, &pkt, 40).packet(
            1_600_000_001_000_000_001,
            &pkt[..30],
            40,
        );
        let mut r = from_bytes("x.pcap", w.finish()).unwrap();
        assert_eq!(r.format(), CaptureFormat::Pcap { nanosecond: nanos });
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none());
        let (t0, t1) = if nanos {
            (1_600_000_000_123_456_789, 1_600_000_001_000_000_001)
        } else {
            (1_600_000_000_123_456_000, 1_600_000_001_000_000_000)
        };
        assert_eq!(frames[0].ts, t0);
        assert_eq!(frames[1].ts, t1);
        assert_eq!(frames[1].data.len(), 30);
        assert_eq!(frames[1].origlen, 40);
        assert_eq!(frames[0].link, 101);
        assert_eq!(r.interfaces()[0].snaplen, 262_144);
    }
}

#[test]
fn modified_pcap() {
    // Kuznetzov's modified pcap: magic 0xa1b2cd34, 24-byte record headers.
    let pkt = ipv4_tcp_syn();
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]);
    for i in 0..2u32 {
        b.extend_from_slice(&(1000 + i).to_le_bytes());
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&ethernet(0x0800, &pkt)[..40]);
    }
    let mut r = from_bytes("m.pcap", b).unwrap();
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].ts, 1_001_000_005_000);
    assert_eq!(frames[0].data[12..14], [0x08, 0x00]);
}

#[test]
fn header_only_files_have_no_frames() {
    let mut r = from_bytes("e.pcap", PcapWriter::new(1, false, false).finish()).unwrap();
    assert!(r.next_frame().unwrap().is_none());
    let mut w = PcapNgWriter::new(false);
    w.shb(&[]).idb(1, 0, None, None, None);
    let mut r = from_bytes("e.pcapng", w.finish()).unwrap();
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.interfaces().len(), 1);
}

#[test]
fn large_packets_grow_the_buffer_within_limits() {
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut w = PcapNgWriter::new(false);
    w.shb(&[])
        .idb(1, 0, None, None, None)
        .epb(0, 1, &big, 200_000)
        .epb(0, 2, &big[..10], 10);
    let mut r = from_bytes("big.pcapng", w.finish()).unwrap();
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames[0].data, big);
    assert_eq!(frames[1].data, &big[..10]);

    // Exactly the largest pcap record accepted.
    let max = vec![7u8; MAX_PCAP_CAPLEN as usize];
    let mut w = PcapWriter::new(1, false, false);
    w.packet(0, &max, 1).packet(0, &max[..3], 3);
    let mut r = from_bytes("big.pcap", w.finish()).unwrap();
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames[0].data, max);
    assert_eq!(frames[1].data.len(), 3);
}

#[test]
fn streaming_reader_with_short_reads() {
    let Some(p) = corpus_file("zeek/traces/tls1.2.pcap") else {
        return;
    };
    let bytes = std::fs::read(&p).unwrap();
    let mut a = CaptureReader::open(&p).unwrap();
    let mut b =
        CaptureReader::from_reader("<stdin>".into(), Box::new(ShortReads::new(bytes, 13))).unwrap();
    assert_eq!(b.name(), "<stdin>");
    assert_eq!(read_all(&mut a).0, read_all(&mut b).0);
    let bytes = multi_section_file(true);
    let mut a = from_bytes("a", bytes.clone()).unwrap();
    let mut b =
        CaptureReader::from_reader("b".into(), Box::new(ShortReads::new(bytes, 13))).unwrap();
    assert_eq!(read_all(&mut a).0, read_all(&mut b).0);
}

// ---- errors ----

#[test]
fn missing_file_is_named() {
    let e = CaptureReader::open(Path::new("/nonexistent/dir/capture.pcap")).unwrap_err();
    assert!(matches!(e, CaptureError::NotFound { .. }));
    assert_eq!(
        e.to_string(),
        "cannot open /nonexistent/dir/capture.pcap: no such file"
    );
}

#[test]
fn directory_is_refused() {
    let dir = std::env::temp_dir();
    let e = CaptureReader::open(&dir).unwrap_err();
    assert!(matches!(e, CaptureError::IsDirectory { .. }), "{e:?}");
    assert!(e.to_string().contains("is a directory"));
}

#[test]
fn empty_file() {
    let t = TempFile::new(".pcap", b"");
    let e = CaptureReader::open(t.path()).unwrap_err();
    assert!(matches!(e, CaptureError::Empty { .. }));
    assert!(e.to_string().contains("is empty (0 bytes)"), "{e}");
}

#[test]
fn etl_file_gets_conversion_advice() {
    // By extension, whatever the content.
    let t = TempFile::new(".etl", &[0u8; 200]);
    let e = CaptureReader::open(t.path()).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::NotACapture {
                kind: ForeignFormat::Etl,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("ETL trace from pktmon or netsh"), "{msg}");
    assert!(
        msg.contains("pktmon etl2pcap FILE.etl --out FILE.pcapng"),
        "{msg}"
    );
    // By header, whatever the name.
    let mut h = vec![0u8; 0x1000];
    h[..4].copy_from_slice(&0x1_0000u32.to_le_bytes());
    h[0x48..0x4c].copy_from_slice(&[2, 0, 2, 0xc0]);
    let t = TempFile::new(".bin", &h);
    let e = CaptureReader::open(t.path()).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::NotACapture {
                kind: ForeignFormat::Etl,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn text_gzip_zip_snoop_netmon_are_recognised() {
    let cases: &[(&[u8], ForeignFormat, &str)] = &[
        (
            b"10:00:00.000000 IP 10.0.0.1.443 > 10.0.0.2.51000: Flags [S.]\n",
            ForeignFormat::Text,
            "text file",
        ),
        (
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0],
            ForeignFormat::Gzip,
            "gzip -d",
        ),
        (b"PK\x03\x04\x14\x00", ForeignFormat::Zip, "zip archive"),
        (
            b"snoop\0\0\0\0\0\0\x02\0\0\0\x04",
            ForeignFormat::Snoop,
            "snoop",
        ),
        (
            b"GMBU\x00\x02\x01\x00",
            ForeignFormat::NetMon,
            "Network Monitor",
        ),
        (
            &[0xde, 0xad, 0xbe, 0xef, 0, 0],
            ForeignFormat::Unknown([0xde, 0xad, 0xbe, 0xef]),
            "de ad be ef",
        ),
    ];
    for (bytes, kind, words) in cases {
        let t = TempFile::new(".cap", bytes);
        let e = CaptureReader::open(t.path()).unwrap_err();
        match &e {
            CaptureError::NotACapture { kind: k, name } => {
                assert_eq!(k, kind);
                assert_eq!(name, &t.path().display().to_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains(words), "{e}");
        assert!(
            e.to_string().contains("is not a pcap or pcapng capture"),
            "{e}"
        );
    }
}

#[test]
fn header_cut_short() {
    let full = PcapWriter::new(1, false, false).finish();
    let e = from_bytes("h.pcap", full[..10].to_vec()).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::HeaderTruncated {
                format: "pcap",
                len: 10,
                ..
            }
        ),
        "{e:?}"
    );
    let mut w = PcapNgWriter::new(false);
    w.shb(&[]);
    let ng = w.finish();
    let e = from_bytes("h.pcapng", ng[..20].to_vec()).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::HeaderTruncated {
                format: "pcapng",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn truncated_pcap_returns_frames_before_the_cut() {
    let Some(p) = corpus_file("zeek/traces/tls1.2.pcap") else {
        return;
    };
    let bytes = std::fs::read(&p).unwrap();
    let (all, _) = read_all(&mut CaptureReader::open(&p).unwrap());
    // Cut in the middle of the 6th packet's data: 24-byte file header, then records.
    let mut off = 24usize;
    for f in &all[..5] {
        off += 16 + f.data.len();
    }
    let cut = off + 16 + all[5].data.len() / 2;
    let t = TempFile::new(".pcap", &bytes[..cut]);
    let mut r = CaptureReader::open(t.path()).unwrap();
    let (frames, err) = read_all(&mut r);
    assert_eq!(frames, all[..5].to_vec());
    let e = err.expect("truncation reported");
    match &e {
        CaptureError::Truncated { frames, offset, .. } => {
            assert_eq!(*frames, 5);
            assert_eq!(*offset, off as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("is truncated"), "{e}");
    assert!(e.to_string().contains(&format!("at byte {off}")), "{e}");
    // Cut inside a record header.
    let t = TempFile::new(".pcap", &bytes[..off + 7]);
    let (frames, err) = read_all(&mut CaptureReader::open(t.path()).unwrap());
    assert_eq!(frames.len(), 5);
    assert!(matches!(err, Some(CaptureError::Truncated { .. })));
}

#[test]
fn truncated_pcapng_returns_frames_before_the_cut() {
    let bytes = multi_section_file(false);
    let (all, _) = read_all(&mut from_bytes("a", bytes.clone()).unwrap());
    for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() - 80] {
        let (frames, err) = read_all(&mut from_bytes("a", bytes[..cut].to_vec()).unwrap());
        assert!(
            matches!(err, Some(CaptureError::Truncated { .. })),
            "cut {cut}: {err:?}"
        );
        assert_eq!(frames, all[..frames.len()].to_vec());
    }
}

#[test]
fn pcap_with_absurd_caplen() {
    let mut w = PcapWriter::new(1, false, false);
    w.packet(0, &ipv4_tcp_syn(), 40);
    let mut b = w.finish();
    // A second record claiming 3 GB.
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    b.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    b.extend_from_slice(&[0; 100]);
    let (frames, err) = read_all(&mut from_bytes("absurd.pcap", b).unwrap());
    assert_eq!(frames.len(), 1);
    let e = err.unwrap();
    assert!(
        matches!(
            e,
            CaptureError::Corrupt {
                offset: 80,
                frames: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("3000000000 captured bytes"), "{e}");
    assert!(e.to_string().contains("damaged at byte 80"), "{e}");
}

#[test]
fn pcapng_with_bad_block_lengths() {
    let pkt = ethernet(0x0800, &ipv4_tcp_syn());
    let mut w = PcapNgWriter::new(false);
    w.shb(&[]).idb(1, 0, None, None, None).epb(0, 1, &pkt, 54);
    let good = w.finish();
    let block_at = good.len() as u64;
    for (len, words) in [
        (0xFFFF_FFF0u32, "more than the 16 MiB limit"),
        (20_000_000, "more than the 16 MiB limit"),
        (8, "impossible length of 8"),
        (62, "impossible length of 62"),
    ] {
        let mut b = good.clone();
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&[0; 64]);
        let (frames, err) = read_all(&mut from_bytes("bad.pcapng", b).unwrap());
        assert_eq!(frames.len(), 1);
        let e = err.unwrap();
        assert!(
            matches!(e, CaptureError::Corrupt { offset, .. } if offset == block_at),
            "{e:?}"
        );
        assert!(e.to_string().contains(words), "{e}");
    }
    // Trailing length that disagrees.
    let mut b = good.clone();
    let n = b.len();
    b[n - 4] ^= 0x10;
    let (frames, err) = read_all(&mut from_bytes("bad.pcapng", b).unwrap());
    assert!(frames.is_empty());
    assert!(err.unwrap().to_string().contains("two different lengths"));
    // Packet on an interface that was never declared (Wireshark stops there too).
    let mut w = PcapNgWriter::new(false);
    w.shb(&[]).idb(1, 0, None, None, None).epb(3, 1, &pkt, 54);
    let (_, err) = read_all(&mut from_bytes("bad.pcapng", w.finish()).unwrap());
    assert!(err.unwrap().to_string().contains("refers to interface 3"));
    // EPB whose caplen overruns the block.
    let mut w = PcapNgWriter::new(false);
    w.shb(&[]).idb(1, 0, None, None, None).epb(0, 1, &pkt, 54);
    let mut b = w.finish();
    let n = b.len();
    let caplen_at = n - (12 + 20 + 56) + 8 + 12;
    b[caplen_at..caplen_at + 4].copy_from_slice(&1000u32.to_le_bytes());
    let (_, err) = read_all(&mut from_bytes("bad.pcapng", b).unwrap());
    assert!(err.unwrap().to_string().contains("holds 1000 packet bytes"));
}

// ---- never panic ----

fn drain(bytes: Vec<u8>) {
    if let Ok(mut r) = from_bytes("fuzz", bytes) {
        let mut n = 0;
        while let Ok(Some(f)) = r.next_frame() {
            assert!(f.data.len() <= MAX_PCAPNG_BLOCK_LEN as usize);
            n += 1;
            assert!(n < 100_000);
        }
    }
}

fn seed_files() -> Vec<Vec<u8>> {
    let mut seeds = vec![multi_section_file(false), multi_section_file(true)];
    let mut w = PcapWriter::new(1, false, false);
    w.packet(5, &ethernet(0x0800, &ipv4_tcp_syn()), 54)
        .packet(6, &ipv4_tcp_syn(), 40);
    seeds.push(w.finish());
    if let Some(p) = corpus_file("zeek/traces/tls1.2.pcap") {
        seeds.push(std::fs::read(p).unwrap()[..1200].to_vec());
    }
    seeds
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, .. Default::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        drain(bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_magic_never_panic(
        magic in 0usize..4,
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
    ) {
        let mut b = [
            vec![0xd4, 0xc3, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0x3c, 0x4d],
            vec![0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a],
            vec![0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d],
        ][magic].clone();
        b.extend(bytes);
        drain(b);
    }

    #[test]
    fn mutated_captures_never_panic(
        seed in 0usize..4,
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..12),
        cut in proptest::prelude::any::<usize>(),
    ) {
        let seeds = seed_files();
        let mut b = seeds[seed % seeds.len()].clone();
        for (at, v) in edits {
            let i = at % b.len();
            b[i] = v;
        }
        if cut % 3 == 0 {
            b.truncate(cut % (b.len() + 1));
        }
        drain(b);
    }
}

/// Reading ahead in another thread gives what reading in place does, for every shipped and peer
/// capture: the same frames, the same end (or error), the same bytes read and stats; from a file,
/// and from a stream that gives short pieces (a pipe).
#[test]
fn reading_ahead_reads_every_capture_as_reading_in_place_does() {
    let files = crate::capture::testutil::all_capture_files();
    assert!(files.len() > 20, "{} captures", files.len());
    for (i, p) in files.iter().enumerate() {
        let bytes = std::fs::read(p).unwrap();
        let name = p.display().to_string();
        let read = |r: Result<CaptureReader, CaptureError>| {
            let mut r = r.map_err(|e| e.to_string())?;
            let (frames, err) = read_all(&mut r);
            Ok::<_, String>((
                frames,
                err.map(|e| e.to_string()),
                r.bytes_read(),
                format!("{:?}", r.stats()),
            ))
        };
        let here = read(CaptureReader::open_ahead(p, false));
        let file = read(CaptureReader::open_ahead(p, true));
        assert_eq!(file, here, "{name}, from the file");
        let step = [13, 1000, 70_000][i % 3];
        let piped = read(CaptureReader::read_ahead(
            name.clone(),
            Box::new(ShortReads::new(bytes, step)),
        ));
        assert_eq!(piped, here, "{name}, in pieces of {step}");
    }
}
