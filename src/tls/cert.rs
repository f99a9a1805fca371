//! Plaintext Certificate messages (TLS <= 1.2): the chain as [`CertInfo`]s.
//!
//! A certificate that x509-parser rejects becomes a [`CertInfo`] with `parse_error` set; it never
//! fails the session.

use std::borrow::Cow;

use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::CertInfo;
use crate::recent::Recent;

/// At most this many certificates of one Certificate message are decoded and kept.
pub const MAX_CERTS: usize = 32;

/// Parses a whole Certificate handshake message (4-byte header included).
pub fn parse_certificate_message(msg: &[u8]) -> Result<Vec<CertInfo>, String> {
    match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) => Ok(c
            .cert_chain
            .iter()
            .take(MAX_CERTS)
            .map(|raw| cached_cert_info(raw.data))
            .collect()),
        Ok(_) => Err("Certificate: unexpected message".to_owned()),
        Err(e) => Err(format!("Certificate message does not parse: {e:?}")),
    }
}

/// Certificates decoded lately on this thread, by their DER bytes: [`cached_cert_info`].
const CACHE_ENTRIES: usize = 16;
/// Larger certificates are decoded every time (and the cache's memory stays under 256 KB a thread).
const CACHE_MAX_DER: usize = 16 << 10;

thread_local! {
    /// What each certificate decodes to, by its DER bytes.
    static RECENT: std::cell::RefCell<Recent<Box<[u8]>, CertInfo>> =
        const { std::cell::RefCell::new(Recent::new(CACHE_ENTRIES)) };
}

/// [`cert_info`], remembered for the last [`CACHE_ENTRIES`] distinct certificates. A capture sees
/// the same server chain again on every connection to that server, and decoding a certificate
/// (about 15 k instructions) is most of what a TLS 1.2 handshake costs us; comparing the DER bytes
/// costs a hundredth of that. `cert_info` depends on the bytes alone, so the answer is the same.
pub fn cached_cert_info(der: &[u8]) -> CertInfo {
    if der.len() > CACHE_MAX_DER {
        return cert_info(der);
    }
    if let Some(info) = RECENT.with_borrow_mut(|recent| recent.get(der).cloned()) {
        return info;
    }
    let info = cert_info(der);
    RECENT.with_borrow_mut(|recent| recent.put(der.into(), info.clone()));
    info
}

/// Decodes one DER certificate.
pub fn cert_info(der: &[u8]) -> CertInfo {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            return CertInfo {
                der_len: der.len(),
                parse_error: Some(e.to_string()),
                ..CertInfo::default()
            }
        }
    };
    let subject = cert.subject();
    let issuer = cert.issuer();
    let mut san = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => san.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => san.push(ip_string(ip)),
                _ => {}
            }
        }
    }
    CertInfo {
        subject: rfc4514(subject),
        issuer: rfc4514(issuer),
        subject_cn: first_value(subject.iter_common_name()),
        issuer_cn: first_value(issuer.iter_common_name())
            .or_else(|| first_value(issuer.iter_organization())),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        san,
        self_issued: subject.as_raw() == issuer.as_raw(),
        der_len: der.len(),
        parse_error: None,
    }
}

fn ip_string(ip: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(ip) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        hex(ip)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn first_value<'a, 'b: 'a>(
    mut it: impl Iterator<Item = &'a AttributeTypeAndValue<'b>>,
) -> Option<String> {
    it.next()
        .map(|a| value_text(a).map_or_else(|hex| hex, Cow::into_owned))
}

/// An attribute value as text: the string types (UTF-8, Printable, IA5, Numeric, Teletex/T61 read as
/// Latin-1, BMP as UTF-16BE, Universal as UTF-32BE); anything else is `Err("#" + hex of its content)`.
fn value_text<'v>(attr: &'v AttributeTypeAndValue<'_>) -> Result<Cow<'v, str>, String> {
    if let Ok(s) = attr.as_str() {
        return Ok(Cow::Borrowed(s));
    }
    let any = attr.attr_value();
    let data = any.as_bytes();
    Ok(Cow::Owned(match any.tag() {
        Tag::T61String | Tag::VisibleString => data.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| match c {
                    [hi, lo] => u16::from(*hi) << 8 | u16::from(*lo),
                    _ => 0xfffd,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::UniversalString => data
            .chunks_exact(4)
            .map(|c| match c {
                [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                _ => char::REPLACEMENT_CHARACTER,
            })
            .collect(),
        _ => return Err(format!("#{}", hex(data))),
    }))
}

/// The attribute types RFC 4514 writes by short name: (DER content of the OID, dotted form, name).
/// The DER content is compared first, which spares the dotted string for the usual names.
const SHORT_NAMES: [(&[u8], &str, &str); 9] = [
    (&[0x55, 0x04, 0x03], "2.5.4.3", "CN"),
    (&[0x55, 0x04, 0x07], "2.5.4.7", "L"),
    (&[0x55, 0x04, 0x08], "2.5.4.8", "ST"),
    (&[0x55, 0x04, 0x0a], "2.5.4.10", "O"),
    (&[0x55, 0x04, 0x0b], "2.5.4.11", "OU"),
    (&[0x55, 0x04, 0x06], "2.5.4.6", "C"),
    (&[0x55, 0x04, 0x09], "2.5.4.9", "STREET"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "0.9.2342.19200300.100.1.25",
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "0.9.2342.19200300.100.1.1",
        "UID",
    ),
];

/// RFC 4514 attribute type: the standard short names, the registry's abbreviation otherwise
/// (e.g. emailAddress), dotted decimal as a last resort.
fn push_attr_type(out: &mut String, attr: &AttributeTypeAndValue<'_>) {
    let oid = attr.attr_type();
    if let Some((_, _, short)) = SHORT_NAMES
        .iter()
        .find(|(der, _, _)| oid.as_bytes() == *der)
    {
        out.push_str(short);
        return;
    }
    let dotted = oid.to_id_string();
    match SHORT_NAMES.iter().find(|(_, d, _)| *d == dotted) {
        Some((_, _, short)) => out.push_str(short),
        None => out.push_str(oid2abbrev(oid, oid_registry()).unwrap_or(&dotted)),
    }
}

/// RFC 4514 escaping of an attribute value, appended to `out`.
fn push_escaped(out: &mut String, v: &str) {
    // Every character that is escaped is ASCII, so bytes tell: most values need nothing.
    let b = v.as_bytes();
    let plain = !b
        .iter()
        .any(|c| matches!(c, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | b'\0'))
        && !matches!(b.first(), Some(b' ' | b'#'))
        && b.last() != Some(&b' ');
    if plain {
        out.push_str(v);
        return;
    }
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && matches!(c, ' ' | '#'))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A distinguished name in RFC 4514 string form: RDNs last-to-first, separated by ",",
/// multi-valued RDNs joined with "+". Written into one string (this runs twice per certificate).
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::with_capacity(name.as_raw().len());
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_attr_type(&mut out, attr);
            out.push('=');
            match value_text(attr) {
                Ok(v) => push_escaped(&mut out, &v),
                Err(hex) => out.push_str(&hex),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::oid_registry::Oid;

    /// The DER content and the dotted form of each short-named attribute type agree.
    #[test]
    fn short_names_der_matches_dotted() {
        for (der, dotted, _) in SHORT_NAMES {
            assert_eq!(Oid::new(Cow::Borrowed(der)).to_id_string(), dotted);
        }
    }

    #[test]
    fn escapes_like_rfc_4514() {
        for (v, want) in [
            ("plain", "plain"),
            ("a,b", "a\\,b"),
            (" lead", "\\ lead"),
            ("#x", "\\#x"),
            ("trail ", "trail\\ "),
            ("nul\0", "nul\\00"),
            ("é;x ", "é\\;x\\ "),
            (" ", "\\ "),
        ] {
            let mut out = String::new();
            push_escaped(&mut out, v);
            assert_eq!(out, want, "{v:?}");
        }
    }
}
