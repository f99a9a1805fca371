//! The ClientHellos the probe sends, built byte by byte: real ClientHellos a server answers as it
//! would answer a client, but that the probe never has to finish (it stops once the server has
//! answered). Two offers:
//!
//! - [`Offer::Modern`]: TLS 1.3 and 1.2, as a current client (a browser, curl, an agent on a
//!   patched Windows) offers them: the three TLS 1.3 suites, ECDHE with AES-GCM or ChaCha20, a few
//!   CBC and RSA key-exchange suites still offered for old servers, an X25519 key share.
//! - [`Offer::Tls12Broad`]: TLS 1.2 only, with nearly every suite a TLS 1.2 server may insist on
//!   (DHE, RSA key exchange, CBC with SHA-256 or SHA-1, 3DES): a server that refuses the modern
//!   offer but answers this one has a version or cipher-suite policy the modern offer misses, and
//!   its Certificate message travels in clear (TLS 1.3 encrypts it).
//!
//! The X25519 key share is 32 random bytes (any 32 bytes are an X25519 public key); only X25519
//! gets a share, so a server that prefers another group answers with a HelloRetryRequest, which the
//! probe reports as an answer.

/// Which ClientHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// TLS 1.3 and 1.2, current suites.
    Modern,
    /// TLS 1.2 only, nearly every suite.
    Tls12Broad,
}

impl Offer {
    /// A few words for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Offer::Modern => "TLS 1.3 and 1.2, current cipher suites",
            Offer::Tls12Broad => "TLS 1.2 only, nearly every cipher suite (DHE, RSA, CBC, 3DES)",
        }
    }

    /// The name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Offer::Modern => "modern",
            Offer::Tls12Broad => "tls12_broad",
        }
    }

    /// Cipher suites, in preference order.
    pub fn cipher_suites(self) -> &'static [u16] {
        match self {
            Offer::Modern => &[
                0x1301, 0x1302, 0x1303, // TLS 1.3: AES-128-GCM, AES-256-GCM, ChaCha20
                0xc02b, 0xc02f, 0xc02c, 0xc030, // ECDHE-ECDSA/RSA with AES-GCM
                0xcca9, 0xcca8, // ECDHE with ChaCha20-Poly1305
                0xc013, 0xc014, // ECDHE-RSA with AES-CBC-SHA
                0x009c, 0x009d, // RSA with AES-GCM
                0x002f, 0x0035, // RSA with AES-CBC-SHA
                0x00ff, // renegotiation SCSV
            ],
            Offer::Tls12Broad => &[
                0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, // ECDHE AEAD
                0xc023, 0xc027, 0xc024, 0xc028, // ECDHE CBC SHA-256/384
                0xc009, 0xc013, 0xc00a, 0xc014, // ECDHE CBC SHA-1
                0x009e, 0x009f, 0xccaa, // DHE AEAD
                0x0067, 0x006b, 0x0033, 0x0039, // DHE CBC
                0x009c, 0x009d, // RSA AES-GCM
                0x003c, 0x003d, 0x002f, 0x0035, // RSA AES-CBC
                0xc012, 0x0016, 0x000a, // 3DES
                0x00ff,
            ],
        }
    }

    fn groups(self) -> &'static [u16] {
        // x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ffdhe3072
        match self {
            Offer::Modern => &[0x001d, 0x0017, 0x0018, 0x0019],
            Offer::Tls12Broad => &[0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x0101],
        }
    }

    fn signature_algorithms(self) -> &'static [u16] {
        match self {
            Offer::Modern => &[
                0x0403, 0x0503, 0x0603, // ECDSA SHA-256/384/512
                0x0807, // Ed25519
                0x0804, 0x0805, 0x0806, // RSA-PSS (RSAE)
                0x0401, 0x0501, 0x0601, // RSA PKCS#1
            ],
            Offer::Tls12Broad => &[
                0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                0x0203, 0x0201, // SHA-1 (old servers)
            ],
        }
    }
}

/// What goes into one ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloSpec {
    pub offer: Offer,
    /// server_name; `None`: no SNI extension.
    pub sni: Option<String>,
    /// ALPN protocols (none: no ALPN extension).
    pub alpn: Vec<String>,
}

/// The random parts of a ClientHello.
#[derive(Clone, Copy, Debug)]
pub struct Nonces {
    pub random: [u8; 32],
    pub session_id: [u8; 32],
    pub key_share: [u8; 32],
}

impl Nonces {
    /// Fresh random bytes. The hasher keys of [`std::hash::RandomState`] come from the operating
    /// system's random source; hashing a counter with them gives bytes no one can predict, which
    /// is all a probe that never derives keys needs.
    pub fn fresh() -> Nonces {
        use std::hash::{BuildHasher, Hasher};
        let state = std::hash::RandomState::new();
        let mut bytes = [0u8; 96];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        let mut n = Nonces {
            random: [0; 32],
            session_id: [0; 32],
            key_share: [0; 32],
        };
        n.random.copy_from_slice(&bytes[..32]);
        n.session_id.copy_from_slice(&bytes[32..64]);
        n.key_share.copy_from_slice(&bytes[64..]);
        n
    }
}

fn put16(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes());
}

fn put24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(0).min(0x00ff_ffff);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// An extension: type, then its body with a 16-bit length.
fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    put16(out, body.len());
    out.extend_from_slice(body);
}

/// A list of 16-bit values with a 16-bit byte length in front.
fn list16(values: &[u16]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + 2 * values.len());
    put16(&mut v, 2 * values.len());
    for x in values {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v
}

/// The ClientHello handshake message (type, length, body), without the record header.
pub fn client_hello_message(spec: &HelloSpec, n: &Nonces) -> Vec<u8> {
    let offer = spec.offer;
    let mut body = Vec::with_capacity(512);
    body.extend_from_slice(&[0x03, 0x03]); // legacy_version TLS 1.2
    body.extend_from_slice(&n.random);
    // A 32-byte session id, as TLS 1.3 clients send for middlebox compatibility (RFC 8446 D.4).
    body.push(32);
    body.extend_from_slice(&n.session_id);
    body.extend_from_slice(&list16(offer.cipher_suites()));
    body.extend_from_slice(&[1, 0]); // compression: null

    let mut ext = Vec::with_capacity(384);
    if let Some(name) = spec.sni.as_deref().filter(|s| !s.is_empty()) {
        let name = name.as_bytes();
        let name = &name[..name.len().min(255)];
        let mut sn = Vec::with_capacity(name.len() + 5);
        put16(&mut sn, name.len() + 3);
        sn.push(0); // host_name
        put16(&mut sn, name.len());
        sn.extend_from_slice(name);
        extension(&mut ext, 0x0000, &sn);
    }
    extension(&mut ext, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
    extension(&mut ext, 0x000a, &list16(offer.groups()));
    extension(&mut ext, 0x0023, &[]); // session_ticket
    if !spec.alpn.is_empty() {
        let mut protos = Vec::new();
        for p in &spec.alpn {
            let p = &p.as_bytes()[..p.len().min(255)];
            protos.push(p.len() as u8);
            protos.extend_from_slice(p);
        }
        let mut a = Vec::with_capacity(protos.len() + 2);
        put16(&mut a, protos.len());
        a.extend_from_slice(&protos);
        extension(&mut ext, 0x0010, &a);
    }
    extension(&mut ext, 0x0016, &[]); // encrypt_then_mac
    extension(&mut ext, 0x0017, &[]); // extended_master_secret
    extension(&mut ext, 0x000d, &list16(offer.signature_algorithms()));
    if offer == Offer::Modern {
        extension(&mut ext, 0x002b, &[4, 0x03, 0x04, 0x03, 0x03]); // supported_versions
        extension(&mut ext, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
        let mut ks = Vec::with_capacity(38);
        put16(&mut ks, 36);
        ks.extend_from_slice(&0x001du16.to_be_bytes());
        put16(&mut ks, 32);
        ks.extend_from_slice(&n.key_share);
        extension(&mut ext, 0x0033, &ks);
    } else {
        extension(&mut ext, 0xff01, &[0]); // renegotiation_info (empty)
    }
    put16(&mut body, ext.len());
    body.extend_from_slice(&ext);

    let mut msg = Vec::with_capacity(body.len() + 4);
    msg.push(1); // client_hello
    put24(&mut msg, body.len());
    msg.extend_from_slice(&body);
    msg
}

/// The ClientHello as it goes on the wire: one handshake record (record version TLS 1.0, as
/// OpenSSL and most clients write it, so that old servers read it).
pub fn client_hello_record(spec: &HelloSpec, n: &Nonces) -> Vec<u8> {
    let msg = client_hello_message(spec, n);
    let mut rec = Vec::with_capacity(msg.len() + 5);
    rec.extend_from_slice(&[0x16, 0x03, 0x01]);
    put16(&mut rec, msg.len());
    rec.extend_from_slice(&msg);
    rec
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::tcp::Direction;
    use crate::tls::{ClientHello, TlsSession};

    /// The ClientHello as our own TLS observer reads it off the wire.
    fn parse_client_hello(record: &[u8]) -> ClientHello {
        let mut s = TlsSession::new();
        let mut events = Vec::new();
        s.feed(Direction::ToServer, record, &mut events);
        s.client_hello().cloned().unwrap()
    }

    fn spec(offer: Offer, sni: Option<&str>) -> HelloSpec {
        HelloSpec {
            offer,
            sni: sni.map(str::to_string),
            alpn: vec!["http/1.1".to_string()],
        }
    }

    #[test]
    fn modern_hello_parses_as_what_it_offers() {
        let n = Nonces::fresh();
        let rec = client_hello_record(
            &spec(
                Offer::Modern,
                Some("global.handler.control.monitor.azure.com"),
            ),
            &n,
        );
        assert_eq!(&rec[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(
            usize::from(u16::from_be_bytes([rec[3], rec[4]])),
            rec.len() - 5
        );
        let ch = parse_client_hello(&rec);
        assert_eq!(
            ch.sni.as_deref(),
            Some("global.handler.control.monitor.azure.com")
        );
        assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(ch.cipher_suites, Offer::Modern.cipher_suites());
        assert_eq!(ch.key_shares, vec![(0x001d, 32)]);
        assert_eq!(ch.alpn, vec!["http/1.1".to_string()]);
        assert_eq!(ch.groups, Offer::Modern.groups());
        assert_eq!(ch.session_id_len, 32);
        assert_eq!(ch.message_len, rec.len() - 5);
    }

    #[test]
    fn broad_tls12_hello_has_no_tls13_parts_and_no_sni_when_asked() {
        let rec = client_hello_record(&spec(Offer::Tls12Broad, None), &Nonces::fresh());
        let ch = parse_client_hello(&rec);
        assert!(ch.sni.is_none());
        assert!(ch.supported_versions.is_empty());
        assert!(ch.key_shares.is_empty());
        assert_eq!(ch.max_version(), 0x0303);
        assert!(ch.cipher_suites.contains(&0x003c));
        assert!(!ch.cipher_suites.iter().any(|s| s >> 8 == 0x13));
    }

    #[test]
    fn nonces_differ_between_hellos() {
        let (a, b) = (Nonces::fresh(), Nonces::fresh());
        assert_ne!(a.random, b.random);
        assert_ne!(a.key_share, a.random);
    }
}
