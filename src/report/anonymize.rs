//! Keyed, prefix-preserving IP address anonymization (`--anonymize`), applied alike to the text and
//! JSON output, the HTML report and the evidence pcapng.
//!
//! The method is Crypto-PAn's (Xu, Fan, Ammar, Moon: "Prefix-preserving IP address anonymization",
//! ICNP 2002) with HMAC-SHA256 as the pseudo-random function instead of AES:
//!
//! ```text
//! out[i] = in[i] XOR lsb( HMAC-SHA256(key, family || i || in[0..i]) )      for every bit i (MSB first)
//! ```
//!
//! where `family` is the byte 4 or 6, `i` the bit index as one byte, and `in[0..i]` the first `i`
//! bits of the address, zero-padded to whole bytes. The map is a bijection (no two addresses
//! collide), two addresses sharing an n-bit prefix map to addresses sharing exactly an n-bit prefix
//! (subnets stay subnets), and the same key always gives the same map. Without a key a random one
//! is drawn for the run. The unspecified addresses (`0.0.0.0`, `::`) are left as they are.
//! MAC addresses (in the evidence pcapng's link headers) become `HMAC-SHA256(key, "m" || mac)`'s
//! first 6 bytes, made locally administered and keeping the multicast bit ([`Anonymizer::map_mac`]).
//! Ports and host names are not changed. See `docs/anonymization.md`.
//!
//! [`Anonymizer::text`] finds IP address literals in any text (`192.0.2.1`, `192.0.2.1:443`,
//! `[2001:db8::1]:443`, `ip.addr == 192.0.2.1`) and replaces each with its image.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// Addresses whose image is remembered (the map is recomputed past this, so memory stays bounded).
const CACHE_MAX: usize = 1 << 18;

/// A keyed address map.
pub struct Anonymizer {
    /// HMAC-SHA256 inner and outer states after the padded key.
    inner: Sha256,
    outer: Sha256,
    cache: Mutex<HashMap<IpAddr, IpAddr>>,
    /// True when the key was drawn at random for this run.
    pub random_key: bool,
}

impl std::fmt::Debug for Anonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anonymizer")
            .field("random_key", &self.random_key)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 of `data` under `key` (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let (inner, outer) = hmac_states(key);
    hmac_finish(&inner, &outer, data)
}

fn hmac_states(key: &[u8]) -> (Sha256, Sha256) {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        let d: [u8; 32] = Sha256::digest(key).into();
        block[..32].copy_from_slice(&d);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    (inner, outer)
}

fn hmac_finish(inner: &Sha256, outer: &Sha256, data: &[u8]) -> [u8; 32] {
    let mut i = inner.clone();
    i.update(data);
    let mut o = outer.clone();
    o.update(i.finalize());
    o.finalize().into()
}

/// 32 random bytes from the operating system (or, failing that, from the std hasher's random seed
/// and the clock).
fn random_key() -> Vec<u8> {
    let mut k = vec![0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut k))
        .is_ok()
    {
        return k;
    }
    use std::hash::{BuildHasher, Hasher};
    let mut seed = Vec::new();
    for _ in 0..4 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        seed.extend_from_slice(&h.finish().to_le_bytes());
    }
    Sha256::digest(&seed).to_vec()
}

impl Anonymizer {
    /// A map keyed by `key` (any bytes); `None` draws a random key for this run.
    pub fn new(key: Option<&[u8]>) -> Self {
        let (k, random) = match key {
            Some(k) => (k.to_vec(), false),
            None => (random_key(), true),
        };
        let (inner, outer) = hmac_states(&k);
        Anonymizer {
            inner,
            outer,
            cache: Mutex::new(HashMap::new()),
            random_key: random,
        }
    }

    fn prf_bit(&self, family: u8, i: usize, addr: &[u8]) -> u8 {
        // family || i || the first i bits of the address, zero-padded.
        let mut msg = [0u8; 18];
        msg[0] = family;
        msg[1] = i as u8;
        let whole = i / 8;
        msg[2..2 + whole].copy_from_slice(&addr[..whole]);
        let rem = i % 8;
        if rem > 0 {
            msg[2 + whole] = addr[whole] & (0xffu8 << (8 - rem));
        }
        let len = 2 + i.div_ceil(8);
        hmac_finish(&self.inner, &self.outer, &msg[..len])[0] & 1
    }

    fn map_bytes(&self, family: u8, addr: &[u8], out: &mut [u8]) {
        out.copy_from_slice(addr);
        for i in 0..addr.len() * 8 {
            if self.prf_bit(family, i, addr) == 1 {
                out[i / 8] ^= 0x80 >> (i % 8);
            }
        }
    }

    /// The image of an address (same family).
    pub fn map_ip(&self, ip: IpAddr) -> IpAddr {
        if ip.is_unspecified() {
            return ip;
        }
        if let Ok(c) = self.cache.lock() {
            if let Some(m) = c.get(&ip) {
                return *m;
            }
        }
        let mapped = match ip {
            IpAddr::V4(a) => {
                let mut out = [0u8; 4];
                self.map_bytes(4, &a.octets(), &mut out);
                IpAddr::V4(Ipv4Addr::from(out))
            }
            IpAddr::V6(a) => {
                let mut out = [0u8; 16];
                self.map_bytes(6, &a.octets(), &mut out);
                IpAddr::V6(Ipv6Addr::from(out))
            }
        };
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(ip, mapped);
        }
        mapped
    }

    /// Map a 4- or 16-byte address in place (other lengths are left alone).
    pub fn map_in_place(&self, b: &mut [u8]) {
        let ip = match b.len() {
            4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                IpAddr::V4(Ipv4Addr::from(a))
            }
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => return,
        };
        match self.map_ip(ip) {
            IpAddr::V4(m) => b.copy_from_slice(&m.octets()),
            IpAddr::V6(m) => b.copy_from_slice(&m.octets()),
        }
    }

    /// Replace a 6-byte MAC address in place by a keyed pseudo-random one: locally administered,
    /// with the original's unicast/multicast bit. Broadcast and all-zero addresses are kept.
    pub fn map_mac(&self, m: &mut [u8]) {
        if m.len() != 6 || m.iter().all(|&b| b == 0xff) || m.iter().all(|&b| b == 0) {
            return;
        }
        let mut msg = [0u8; 7];
        msg[0] = b'm';
        msg[1..].copy_from_slice(m);
        let h = hmac_finish(&self.inner, &self.outer, &msg);
        let multicast = m[0] & 1;
        m.copy_from_slice(&h[..6]);
        m[0] = (m[0] & 0xfc) | 0x02 | multicast;
    }

    /// `s` with every IP address literal replaced by its image.
    pub fn text<'s>(&self, s: &'s str) -> Cow<'s, str> {
        let spans = find_addresses(s);
        if spans.is_empty() {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len() + 16);
        let mut at = 0;
        for (a, b, ip) in spans {
            out.push_str(&s[at..a]);
            out.push_str(&self.map_ip(ip).to_string());
            at = b;
        }
        out.push_str(&s[at..]);
        Cow::Owned(out)
    }
}

fn is_run_byte(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b'.' || c == b':'
}

/// Byte spans of the IP address literals in `s`, with the address.
///
/// A literal starts after a byte that is not a letter, digit, `_`, `.` or `:`; it is the longest
/// prefix of the following run of hex digits, dots and colons that parses as an IPv4 address (four
/// dotted decimals) or an IPv6 address, and is not followed by a letter, digit, `_` or `.digit`.
pub fn find_addresses(s: &str) -> Vec<(usize, usize, IpAddr)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = is_run_byte(b[i])
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'.' | b':')));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_run_byte(b[j]) {
            j += 1;
        }
        let run = &s[i..j];
        let colons = run.bytes().filter(|&c| c == b':').count();
        let dots = run.bytes().filter(|&c| c == b'.').count();
        if dots >= 3 || colons >= 2 {
            let longest = run.len().min(45);
            for k in (2..=longest).rev() {
                let cand = &run[..k];
                let Ok(ip) = cand.parse::<IpAddr>() else {
                    continue;
                };
                if ip.is_unspecified() {
                    continue;
                }
                let next = b.get(i + k).copied();
                let after = b.get(i + k + 1).copied();
                let bad_next = match next {
                    Some(c) if c.is_ascii_alphanumeric() || c == b'_' => true,
                    Some(b'.') => after.is_some_and(|c| c.is_ascii_digit()),
                    _ => false,
                };
                if !bad_next {
                    out.push((i, i + k, ip));
                    break;
                }
            }
        }
        i = j;
    }
    out
}

/// A writer that anonymizes the addresses in what passes through it, line by line.
pub struct AnonWriter<W: Write> {
    inner: W,
    anon: Arc<Anonymizer>,
    line: Vec<u8>,
}

impl<W: Write> AnonWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W, anon: Arc<Anonymizer>) -> Self {
        AnonWriter {
            inner,
            anon,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.line.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(self.anon.text(&text).as_bytes())
    }
}

impl<W: Write> Write for AnonWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(p) = self.line.iter().rposition(|&c| c == b'\n') {
            self.emit(p + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.line.len();
        self.emit(n)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for AnonWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn same_key_same_map_and_prefixes_preserved() {
        let a = Anonymizer::new(Some(b"k1"));
        let b = Anonymizer::new(Some(b"k1"));
        let c = Anonymizer::new(Some(b"k2"));
        let x: IpAddr = "192.0.2.10".parse().unwrap();
        let y: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(a.map_ip(x), b.map_ip(x));
        assert_ne!(a.map_ip(x), c.map_ip(x));
        assert_ne!(a.map_ip(x), x);
        let (IpAddr::V4(mx), IpAddr::V4(my)) = (a.map_ip(x), a.map_ip(y)) else {
            panic!("family changed");
        };
        // 192.0.2.10 and 192.0.2.77 share 25 bits.
        let common = (u32::from(mx) ^ u32::from(my)).leading_zeros();
        assert_eq!(common, 25);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(a.map_ip(v6).is_ipv6());
        assert_ne!(a.map_ip(v6), v6);
    }

    #[test]
    fn finds_literals_in_text() {
        let s = "RST from 198.51.100.20:443, ip.addr == 192.0.2.1 && [2001:db8:2::20]:443 at 12:34:56.123 v1.2.3 1.2.3.4.5 x10.0.0.1 fe80::1.";
        let found: Vec<String> = find_addresses(s)
            .into_iter()
            .map(|(a, b, _)| s[a..b].to_string())
            .collect();
        assert_eq!(
            found,
            ["198.51.100.20", "192.0.2.1", "2001:db8:2::20", "fe80::1"]
        );
        let a = Anonymizer::new(Some(b"k"));
        let t = a.text(s);
        assert!(!t.contains("198.51.100.20") && !t.contains("2001:db8:2::20"));
        assert!(t.contains("12:34:56.123") && t.contains("1.2.3.4.5"));
        assert!(t.contains(&format!(
            "{}:443",
            a.map_ip("198.51.100.20".parse().unwrap())
        )));
    }

    #[test]
    fn writer_maps_whole_lines() {
        let a = Arc::new(Anonymizer::new(Some(b"k")));
        let mut out = Vec::new();
        {
            let mut w = AnonWriter::new(&mut out, a.clone());
            w.write_all(b"client 192.0").unwrap();
            w.write_all(b".2.1 end\nnext 2001:db8::").unwrap();
            w.write_all(b"5\n").unwrap();
            w.flush().unwrap();
        }
        let s = String::from_utf8(out).unwrap();
        assert!(
            !s.contains("192.0.2.1") && !s.contains("2001:db8::5"),
            "{s}"
        );
        assert_eq!(s.lines().count(), 2);
    }
}
