//! Names for TLS code points, and the cipher-suite properties the verdict engine asks about.
//!
//! Lookup functions return `Option<&'static str>` (`None` for a code point we have no name for);
//! the `*_label` helpers return an owned `String` that falls back to a readable form
//! (`unknown_<n>` for alerts, `0x<hex>` for 16-bit code points).
//!
//! Cipher-suite names and properties come from tls-parser's copy of the IANA registry (every
//! registered suite, SCSVs included), plus the pre-standard ChaCha20 suites old Chrome offered.

use std::borrow::Cow;

use tls_parser::{TlsCipherEnc, TlsCipherKx, TlsCipherMac, TlsCipherSuite};

/// Alert description name (RFC 8446, 5246, 6066, 7507, 8446 and later registrations).
pub fn alert_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        52 => "too_many_cids_requested",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        117 => "general_error",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return None,
    })
}

/// Alert description name, or `unknown_<n>`.
pub fn alert_label(code: u8) -> String {
    alert_name(code).map_or_else(|| format!("unknown_{code}"), str::to_owned)
}

/// Alert level name: "warning" (1) or "fatal" (2).
pub fn alert_level_name(level: u8) -> Option<&'static str> {
    match level {
        1 => Some("warning"),
        2 => Some("fatal"),
        _ => None,
    }
}

/// Protocol version name: "TLS 1.3", "TLS 1.2", ..., "SSL 2.0", "TLS 1.3 draft N" (0x7fNN),
/// "TLS 1.3 experiment N" (0x7e0N), "DTLS 1.2", else the hex value (e.g. "0x1234").
pub fn version_name(version: u16) -> String {
    version_str(version).into_owned()
}

/// [`version_name`] without allocating for the known versions (this runs for every connection's
/// JSON line and verdict).
pub fn version_str(version: u16) -> Cow<'static, str> {
    Cow::Borrowed(match version {
        0x0002 => "SSL 2.0",
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0xfeff => "DTLS 1.0",
        0xfefd => "DTLS 1.2",
        0xfefc => "DTLS 1.3",
        v if v >> 8 == 0x7f => return Cow::Owned(format!("TLS 1.3 draft {}", v & 0xff)),
        v @ 0x7e01..=0x7e03 => return Cow::Owned(format!("TLS 1.3 experiment {}", v & 0xff)),
        v if is_grease(v) => return Cow::Owned(format!("GREASE 0x{v:04x}")),
        v => return Cow::Owned(format!("0x{v:04x}")),
    })
}

/// True for a TLS 1.3 version code: 0x0304, a draft (0x7fNN), or one of Google's 2017 TLS 1.3
/// "experiment" variants (0x7e01..=0x7e03, sent by Chrome 62-64 canaries: TLS 1.3 with
/// ChangeCipherSpec compatibility records, negotiated through supported_versions).
pub fn is_tls13_version(version: u16) -> bool {
    version == 0x0304 || version >> 8 == 0x7f || (0x7e01..=0x7e03).contains(&version)
}

/// GREASE value (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa.
pub fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// tls-parser's suites, sorted by id ([`suite`] finds them through a table of positions: its `phf` map
/// costs a SipHash per lookup, and every offered suite is looked up when a connection is judged and
/// printed).
fn suites() -> &'static [(u16, &'static TlsCipherSuite)] {
    static SUITES: std::sync::OnceLock<Vec<(u16, &'static TlsCipherSuite)>> =
        std::sync::OnceLock::new();
    SUITES.get_or_init(|| {
        let mut v: Vec<(u16, &'static TlsCipherSuite)> = tls_parser::CIPHERS
            .entries()
            .map(|(k, s)| (*k, s))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    })
}

/// A suite of tls-parser's registry by id, through a table of positions in [`suites`] (128 KB, built
/// once): every offered suite is named in each connection's verdict and JSON line.
fn suite(id: u16) -> Option<&'static TlsCipherSuite> {
    static POSITION: std::sync::OnceLock<Box<[u16]>> = std::sync::OnceLock::new();
    let all = suites();
    let table = POSITION.get_or_init(|| {
        // Position + 1; 0: not in the registry.
        let mut t = vec![0u16; 1 << 16].into_boxed_slice();
        for (i, &(id, _)) in all.iter().enumerate() {
            if let (Some(slot), Ok(pos)) = (
                t.get_mut(usize::from(id)),
                u16::try_from(i.saturating_add(1)),
            ) {
                *slot = pos;
            }
        }
        t
    });
    let pos = usize::from(table.get(usize::from(id)).copied().unwrap_or(0));
    all.get(pos.checked_sub(1)?).map(|e| e.1)
}

/// IANA cipher-suite name (e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), including the SCSVs
/// "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" and "TLS_FALLBACK_SCSV", and "GREASE" for GREASE values.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    if suite_flags(id) & KNOWN != 0 {
        if let Some(s) = suite(id) {
            return Some(s.name);
        }
    }
    Some(match id {
        0xcc13 => "OLD_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcc14 => "OLD_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcc15 => "OLD_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0x0060 => "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5",
        0x0061 => "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5",
        0x0062 => "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA",
        0x0063 => "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA",
        0x0064 => "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA",
        0x0065 => "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA",
        0x0066 => "TLS_DHE_DSS_WITH_RC4_128_SHA",
        v if is_grease(v) => "GREASE",
        _ => return None,
    })
}

/// Cipher-suite name, or `0x<hex>`.
pub fn cipher_label(id: u16) -> String {
    cipher_name(id).map_or_else(|| format!("0x{id:04x}"), str::to_owned)
}

const KNOWN: u8 = 1;
const AEAD: u8 = 2;
const TLS13: u8 = 4;
const FORWARD_SECRET: u8 = 8;

/// Properties of every suite id, looked up once: the verdict and the reports ask them for every
/// offered suite of every connection.
fn suite_flags(id: u16) -> u8 {
    static FLAGS: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();
    let table = FLAGS.get_or_init(|| {
        let mut t = vec![0u8; 1 << 16].into_boxed_slice();
        for &(id, s) in suites() {
            let mut f = KNOWN;
            if s.mac == TlsCipherMac::Aead || s.enc == TlsCipherEnc::Aegis {
                f |= AEAD;
            }
            if s.kx == TlsCipherKx::Tls13 {
                f |= TLS13;
            }
            if matches!(
                s.kx,
                TlsCipherKx::Ecdhe | TlsCipherKx::Dhe | TlsCipherKx::Tls13
            ) {
                f |= FORWARD_SECRET;
            }
            if let Some(slot) = t.get_mut(usize::from(id)) {
                *slot = f;
            }
        }
        t
    });
    table.get(usize::from(id)).copied().unwrap_or(0)
}

/// What the verdict asks about a suite ([`is_tls13_suite`], [`is_aead_suite`],
/// [`is_forward_secret_suite`]), from one table lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteProps {
    pub tls13: bool,
    pub aead: bool,
    pub forward_secret: bool,
}

/// [`SuiteProps`] of a suite id; beyond tls-parser's registry: the pre-standard ChaCha20 suites
/// (0xcc13..=0xcc15) are AEAD and forward-secret, any other 0x13XX is TLS 1.3.
pub fn suite_props(id: u16) -> SuiteProps {
    match suite_flags(id) {
        0 => SuiteProps {
            tls13: id >> 8 == 0x13,
            aead: matches!(id, 0xcc13..=0xcc15),
            forward_secret: matches!(id, 0xcc13..=0xcc15),
        },
        f => SuiteProps {
            tls13: f & TLS13 != 0,
            aead: f & AEAD != 0,
            forward_secret: f & FORWARD_SECRET != 0,
        },
    }
}

/// Authenticated-encryption suite: GCM, CCM, CCM_8, ChaCha20-Poly1305, AEGIS, which covers every
/// TLS 1.3 AEAD suite. The integrity-only TLS 1.3 suites of RFC 9150 (TLS_SHA256_SHA256,
/// TLS_SHA384_SHA384) are not AEAD.
pub fn is_aead_suite(id: u16) -> bool {
    suite_props(id).aead
}

/// A suite that is only used with TLS 1.3 (0x13XX, RFC 9150 integrity-only, GOST TLS 1.3 suites).
pub fn is_tls13_suite(id: u16) -> bool {
    suite_props(id).tls13
}

/// Forward-secret key exchange: ECDHE or DHE (TLS <= 1.2), or any TLS 1.3 suite.
/// Anonymous DH/ECDH suites are not counted (no authentication).
pub fn is_forward_secret_suite(id: u16) -> bool {
    suite_props(id).forward_secret
}

/// Signaling cipher-suite values: TLS_EMPTY_RENEGOTIATION_INFO_SCSV (0x00ff) and TLS_FALLBACK_SCSV (0x5600).
pub fn is_scsv(id: u16) -> bool {
    matches!(id, 0x00ff | 0x5600)
}

/// Named group (supported_groups / key_share) name, IANA spelling.
pub fn group_name(group: u16) -> Option<&'static str> {
    Some(match group {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        34 => "GC256A",
        35 => "GC256B",
        36 => "GC256C",
        37 => "GC256D",
        38 => "GC512A",
        39 => "GC512B",
        40 => "GC512C",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        512 => "MLKEM512",
        513 => "MLKEM768",
        514 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639a => "SecP256r1Kyber768Draft00",
        0xff01 => "arbitrary_explicit_prime_curves",
        0xff02 => "arbitrary_explicit_char2_curves",
        v if is_grease(v) => "GREASE",
        _ => return None,
    })
}

/// Named-group name, or `0x<hex>`.
pub fn group_label(group: u16) -> String {
    group_name(group).map_or_else(|| format!("0x{group:04x}"), str::to_owned)
}

/// Handshake message type name (RFC 8446 and earlier).
pub fn handshake_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        3 => "hello_verify_request",
        4 => "new_session_ticket",
        5 => "end_of_early_data",
        6 => "hello_retry_request",
        8 => "encrypted_extensions",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        21 => "certificate_url",
        22 => "certificate_status",
        23 => "supplemental_data",
        24 => "key_update",
        25 => "compressed_certificate",
        26 => "ekt_key",
        67 => "next_protocol",
        254 => "message_hash",
        _ => return None,
    })
}

/// Record content type name.
pub fn content_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        24 => "heartbeat",
        25 => "tls12_cid",
        26 => "ack",
        _ => return None,
    })
}

/// Extension type name (IANA registry, common entries).
pub fn extension_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0 => "server_name",
        1 => "max_fragment_length",
        2 => "client_certificate_url",
        3 => "trusted_ca_keys",
        4 => "truncated_hmac",
        5 => "status_request",
        10 => "supported_groups",
        11 => "ec_point_formats",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        19 => "client_certificate_type",
        20 => "server_certificate_type",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        27 => "compress_certificate",
        28 => "record_size_limit",
        34 => "delegated_credential",
        35 => "session_ticket",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        48 => "oid_filters",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        57 => "quic_transport_parameters",
        0x3374 => "next_protocol_negotiation",
        0x4469 => "application_settings_old",
        0x44cd => "application_settings",
        0xfe0d => "encrypted_client_hello",
        0xff01 => "renegotiation_info",
        v if is_grease(v) => "GREASE",
        _ => return None,
    })
}

/// Signature scheme name (RFC 8446 SignatureScheme and TLS 1.2 hash/signature pairs).
pub fn sigalg_name(s: u16) -> Option<&'static str> {
    Some(match s {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0202 => "dsa_sha1",
        0x0301 => "rsa_pkcs1_sha224",
        0x0303 => "ecdsa_sha224",
        0x0401 => "rsa_pkcs1_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0420 => "rsa_pkcs1_sha256_legacy",
        0x0501 => "rsa_pkcs1_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x081a => "ecdsa_brainpoolP256r1tls13_sha256",
        0x081b => "ecdsa_brainpoolP384r1tls13_sha384",
        0x081c => "ecdsa_brainpoolP512r1tls13_sha512",
        0x0904 => "mldsa44",
        0x0905 => "mldsa65",
        0x0906 => "mldsa87",
        v if is_grease(v) => "GREASE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(alert_name(40), Some("handshake_failure"));
        assert_eq!(alert_name(48), Some("unknown_ca"));
        assert_eq!(alert_label(200), "unknown_200");
        assert_eq!(version_name(0x0304), "TLS 1.3");
        assert_eq!(version_name(0x0300), "SSL 3.0");
        assert_eq!(version_name(0x7f17), "TLS 1.3 draft 23");
        assert_eq!(version_name(0x1234), "0x1234");
        assert_eq!(cipher_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(
            cipher_name(0xc02f),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(
            cipher_name(0x00ff),
            Some("TLS_EMPTY_RENEGOTIATION_INFO_SCSV")
        );
        assert_eq!(cipher_name(0x5600), Some("TLS_FALLBACK_SCSV"));
        assert_eq!(cipher_name(0x000a), Some("TLS_RSA_WITH_3DES_EDE_CBC_SHA"));
        assert_eq!(cipher_name(0x0005), Some("TLS_RSA_WITH_RC4_128_SHA"));
        assert_eq!(cipher_name(0x2a2a), Some("GREASE"));
        assert_eq!(cipher_label(0xfeee), "0xfeee");
        assert_eq!(group_name(0x11ec), Some("X25519MLKEM768"));
        assert_eq!(group_name(29), Some("x25519"));
        assert_eq!(group_name(0x6399), Some("X25519Kyber768Draft00"));
        assert_eq!(handshake_type_name(14), Some("server_hello_done"));
        assert_eq!(content_type_name(23), Some("application_data"));
    }

    #[test]
    fn suite_table_matches_the_registry() {
        for id in 0..=u16::MAX {
            assert_eq!(
                suite(id).map(|s| s.name),
                tls_parser::CIPHERS.get(&id).map(|s| s.name),
                "{id:#06x}"
            );
        }
    }

    #[test]
    fn properties() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
        assert!(is_aead_suite(0x1301) && is_aead_suite(0xcca8) && is_aead_suite(0xc09c));
        assert!(!is_aead_suite(0xc013) && !is_aead_suite(0x000a) && !is_aead_suite(0xc0b4));
        assert!(is_tls13_suite(0x1303) && !is_tls13_suite(0xc02f));
        assert!(is_forward_secret_suite(0xc02f) && is_forward_secret_suite(0x1302));
        assert!(is_forward_secret_suite(0x009e) && !is_forward_secret_suite(0x009c));
        assert!(!is_forward_secret_suite(0x0035) && !is_forward_secret_suite(0x00a6));
    }
}
