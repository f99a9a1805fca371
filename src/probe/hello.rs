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
//! Key shares: X25519 gets 32 random bytes (any 32 bytes are an X25519 public key). With
//! [`HelloSpec::pq`] the modern offer also carries an X25519MLKEM768 share, first, as Chrome, Firefox
//! and OpenSSL 3.5 send it: an ML-KEM-768 encapsulation key (three polynomials of 256 random
//! coefficients below q = 3329, packed 12 bits each, then 32 random bytes of seed: it passes the
//! server's FIPS 203 modulus check, and nobody holds its secret, which a probe never needs) and an
//! X25519 share, 1216 bytes. The ClientHello then takes about 1.5 KB: two TCP segments on an
//! Ethernet path, which is what breaks middleboxes that read only the first one. A server that
//! prefers another group answers with a HelloRetryRequest, which the probe reports as an answer.

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

    fn groups(self, pq: bool) -> &'static [u16] {
        // X25519MLKEM768, x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ffdhe3072
        match self {
            Offer::Modern if pq => &[0x11ec, 0x001d, 0x0017, 0x0018, 0x0019],
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

/// A ClientHello taken from a capture (`probe --replay`, [`super::replay`]), sent as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// The TLS records that carried it, as captured.
    pub records: Vec<u8>,
    /// Where it comes from, for the report.
    pub source: String,
    /// The server it went to in the capture.
    pub server: std::net::SocketAddr,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub cipher_suites: Vec<u16>,
    /// It carries an X25519MLKEM768 key share.
    pub post_quantum: bool,
}

/// What goes into one ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloSpec {
    pub offer: Offer,
    /// server_name; `None`: no SNI extension.
    pub sni: Option<String>,
    /// ALPN protocols (none: no ALPN extension).
    pub alpn: Vec<String>,
    /// Modern offer: also an X25519MLKEM768 key share (a ClientHello of about 1.5 KB).
    pub pq: bool,
    /// Send this captured ClientHello instead (`offer`, `sni`, `alpn` and `pq` then describe it for
    /// the attempts built from this one).
    pub captured: Option<std::sync::Arc<Captured>>,
}

/// ClientHello records longer than this take two TCP segments on an Ethernet path (1500-byte MTU,
/// TCP timestamps).
pub const ONE_SEGMENT: usize = 1448;

impl HelloSpec {
    /// The first attempt's ClientHello for the offer, without a captured one.
    pub fn built(offer: Offer, sni: Option<String>, alpn: Vec<String>, pq: bool) -> HelloSpec {
        HelloSpec {
            offer,
            sni,
            alpn,
            pq,
            captured: None,
        }
    }

    /// The name of the offer in JSON: the [`Offer`]'s, or `captured`.
    pub fn offer_name(&self) -> &'static str {
        match self.captured {
            Some(_) => "captured",
            None => self.offer.as_str(),
        }
    }

    /// It does not fit one TCP segment on an Ethernet path (the post-quantum offer, or a captured
    /// one of that size).
    pub fn large(&self) -> bool {
        match &self.captured {
            Some(c) => c.records.len() > ONE_SEGMENT,
            None => self.pq && self.offer == Offer::Modern,
        }
    }

    /// The ALPN protocols it offers.
    pub fn sent_alpn(&self) -> &[String] {
        match &self.captured {
            Some(c) => &c.alpn,
            None => &self.alpn,
        }
    }

    /// Its cipher suites.
    pub fn cipher_suites(&self) -> &[u16] {
        match &self.captured {
            Some(c) => &c.cipher_suites,
            None => self.offer.cipher_suites(),
        }
    }

    /// The bytes of the records it goes in.
    pub fn records(&self, n: &Nonces) -> Vec<u8> {
        match &self.captured {
            Some(c) => c.records.clone(),
            None => client_hello_record(self, n),
        }
    }

    /// The offer in a few words, for the report.
    pub fn describe(&self) -> String {
        if let Some(c) = &self.captured {
            return format!(
                "captured, {} bytes of records{}",
                c.records.len(),
                if c.post_quantum {
                    ", with a post-quantum key share"
                } else {
                    ""
                }
            );
        }
        match self.offer {
            Offer::Modern if self.pq => format!(
                "{}, post-quantum key share X25519MLKEM768 (a ClientHello of about 1.5 KB)",
                self.offer.describe()
            ),
            Offer::Modern => format!("{}, X25519 key share only", self.offer.describe()),
            Offer::Tls12Broad => self.offer.describe().to_string(),
        }
    }
}

/// ML-KEM-768's modulus.
const MLKEM_Q: u16 = 3329;
/// An ML-KEM-768 encapsulation key: 3 x 256 coefficients of 12 bits, then a 32-byte seed.
const MLKEM768_EK_LEN: usize = 3 * 256 * 12 / 8 + 32;

/// Unpredictable bytes. The hasher keys of [`std::hash::RandomState`] come from the operating
/// system's random source; hashing a counter with them gives bytes no one can predict, which is
/// all a probe that never derives keys needs.
pub struct Rng {
    state: std::hash::RandomState,
    counter: u64,
}

impl Rng {
    pub fn new() -> Rng {
        Rng {
            state: std::hash::RandomState::new(),
            counter: 0,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.state.build_hasher();
        h.write_u64(self.counter);
        self.counter = self.counter.wrapping_add(1);
        h.finish()
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

/// A well-formed ML-KEM-768 encapsulation key of random coefficients.
fn mlkem768_encapsulation_key(rng: &mut Rng) -> Vec<u8> {
    let mut ek = Vec::with_capacity(MLKEM768_EK_LEN);
    let mut coefficient = || loop {
        // Rejection sampling keeps them uniform below q.
        let c = (rng.next_u64() & 0x0fff) as u16;
        if c < MLKEM_Q {
            return c;
        }
    };
    for _ in 0..(3 * 256 / 2) {
        let (a, b) = (coefficient(), coefficient());
        ek.push((a & 0xff) as u8);
        ek.push(((a >> 8) | ((b & 0x0f) << 4)) as u8);
        ek.push((b >> 4) as u8);
    }
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    ek.extend_from_slice(&seed);
    ek
}

/// The random parts of a ClientHello.
#[derive(Clone, Debug)]
pub struct Nonces {
    pub random: [u8; 32],
    pub session_id: [u8; 32],
    pub x25519: [u8; 32],
    /// ML-KEM-768 encapsulation key, for the X25519MLKEM768 share.
    pub mlkem: Vec<u8>,
}

impl Nonces {
    /// Fresh random values.
    pub fn fresh() -> Nonces {
        let mut rng = Rng::new();
        let mut n = Nonces {
            random: [0; 32],
            session_id: [0; 32],
            x25519: [0; 32],
            mlkem: Vec::new(),
        };
        rng.fill(&mut n.random);
        rng.fill(&mut n.session_id);
        rng.fill(&mut n.x25519);
        n.mlkem = mlkem768_encapsulation_key(&mut rng);
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
    let pq = spec.pq && offer == Offer::Modern;
    extension(&mut ext, 0x000a, &list16(offer.groups(pq)));
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
        let mut shares = Vec::with_capacity(1300);
        if pq {
            shares.extend_from_slice(&0x11ecu16.to_be_bytes());
            put16(&mut shares, n.mlkem.len() + 32);
            shares.extend_from_slice(&n.mlkem);
            shares.extend_from_slice(&n.x25519);
        }
        shares.extend_from_slice(&0x001du16.to_be_bytes());
        put16(&mut shares, 32);
        shares.extend_from_slice(&n.x25519);
        let mut ks = Vec::with_capacity(shares.len() + 2);
        put16(&mut ks, shares.len());
        ks.extend_from_slice(&shares);
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
        HelloSpec::built(
            offer,
            sni.map(str::to_string),
            vec!["http/1.1".to_string()],
            false,
        )
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
        assert_eq!(ch.groups, Offer::Modern.groups(false));
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
    fn post_quantum_hello_carries_a_wellformed_mlkem_share_first() {
        let mut s = spec(Offer::Modern, Some("allowed.test"));
        s.pq = true;
        let n = Nonces::fresh();
        let rec = client_hello_record(&s, &n);
        let ch = parse_client_hello(&rec);
        assert_eq!(ch.key_shares, vec![(0x11ec, 1216), (0x001d, 32)]);
        assert_eq!(ch.groups[0], 0x11ec);
        assert!(
            rec.len() > 1448,
            "{} bytes: more than one Ethernet segment",
            rec.len()
        );
        // Every coefficient decodes below q (FIPS 203's encapsulation-key check).
        assert_eq!(n.mlkem.len(), MLKEM768_EK_LEN);
        for t in n.mlkem[..1152].chunks(3) {
            let a = u16::from(t[0]) | (u16::from(t[1] & 0x0f) << 8);
            let b = u16::from(t[1] >> 4) | (u16::from(t[2]) << 4);
            assert!(a < MLKEM_Q && b < MLKEM_Q);
        }
        // The X25519 part of the hybrid share is the X25519 share.
        let pos = rec.windows(32).position(|w| w == n.x25519).unwrap();
        assert_eq!(&rec[pos - 1184..pos], &n.mlkem[..]);
    }

    #[test]
    fn nonces_differ_between_hellos() {
        let (a, b) = (Nonces::fresh(), Nonces::fresh());
        assert_ne!(a.random, b.random);
        assert_ne!(a.x25519, a.random);
        assert_ne!(a.mlkem, b.mlkem);
    }
}
