//! Plaintext Certificate messages (TLS <= 1.2): the chain as [`CertInfo`]s.
//!
//! A certificate that x509-parser rejects becomes a [`CertInfo`] with `parse_error` set; it never
//! fails the session.

use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::CertInfo;

/// At most this many certificates of one Certificate message are decoded and kept.
pub const MAX_CERTS: usize = 32;

/// Parses a whole Certificate handshake message (4-byte header included).
pub fn parse_certificate_message(msg: &[u8]) -> Result<Vec<CertInfo>, String> {
    match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) => Ok(c
            .cert_chain
            .iter()
            .take(MAX_CERTS)
            .map(|raw| cert_info(raw.data))
            .collect()),
        Ok(_) => Err("Certificate: unexpected message".to_owned()),
        Err(e) => Err(format!("Certificate message does not parse: {e:?}")),
    }
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
    it.next().map(|a| value_text(a).unwrap_or_else(|hex| hex))
}

/// An attribute value as text: the string types (UTF-8, Printable, IA5, Numeric, Teletex/T61 read as
/// Latin-1, BMP as UTF-16BE, Universal as UTF-32BE); anything else is `Err("#" + hex of its content)`.
fn value_text(attr: &AttributeTypeAndValue<'_>) -> Result<String, String> {
    if let Ok(s) = attr.as_str() {
        return Ok(s.to_owned());
    }
    let any = attr.attr_value();
    let data = any.as_bytes();
    Ok(match any.tag() {
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
    })
}

/// RFC 4514 attribute type: the standard short names, the registry's abbreviation otherwise
/// (e.g. emailAddress), dotted decimal as a last resort.
fn attr_type(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type();
    let dotted = oid.to_id_string();
    let short = match dotted.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.6" => Some("C"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match short {
        Some(s) => s.to_owned(),
        None => oid2abbrev(oid, oid_registry()).map_or(dotted, str::to_owned),
    }
}

/// RFC 4514 escaping of an attribute value.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
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
    out
}

/// A distinguished name in RFC 4514 string form: RDNs last-to-first, separated by ",",
/// multi-valued RDNs joined with "+".
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let value = value_text(attr).map_or_else(|hex| hex, |v| escape_value(&v));
                    format!("{}={}", attr_type(attr), value)
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}
