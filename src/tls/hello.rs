//! ClientHello / ServerHello / HelloRetryRequest parsing into the contract types.
//!
//! Message framing and the fixed fields come from tls-parser; the extension block is walked here
//! one extension at a time (so one odd extension does not hide the ones after it), each extension's
//! content is decoded with tls-parser's extension parsers, and key_share is decoded by hand
//! (tls-parser leaves it raw). SSLv2-compatible ClientHellos are parsed here entirely, as
//! tls-parser does not understand them.

use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_message_handshake,
    parse_tls_server_hello_extension, TlsExtension, TlsMessage, TlsMessageHandshake,
};

use super::names::is_grease;
use super::{ClientHello, ServerHello};

/// RFC 8446 4.1.3: the ServerHello.random of a HelloRetryRequest.
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// RFC 8446 4.1.3 downgrade sentinels (last 8 bytes of ServerHello.random): "DOWNGRD" + 01 (TLS 1.2)
/// or + 00 (TLS 1.1 and below).
const DOWNGRADE_PREFIX: [u8; 7] = [0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44];

const EXT_SERVER_NAME: u16 = 0;
const EXT_KEY_SHARE: u16 = 51;
const EXT_ECH: u16 = 0xfe0d;
/// The ClientHello extensions decoded with tls-parser: server_name, supported_groups,
/// signature_algorithms, ALPN, supported_versions.
const CLIENT_EXTENSIONS_READ: [u16; 5] = [EXT_SERVER_NAME, 10, 13, 16, 43];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let hi = *b.get(at)?;
    let lo = *b.get(at.checked_add(1)?)?;
    Some(u16::from(hi) << 8 | u16::from(lo))
}

/// Walks an extension block: yields (type, whole extension bytes including its 4-byte header, data).
fn walk_extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let typ = be16(block, off)?;
        let len = usize::from(be16(block, off.checked_add(2)?)?);
        let end = off.checked_add(4)?.checked_add(len)?;
        let whole = block.get(off..end)?;
        let data = whole.get(4..)?;
        off = end;
        Some((typ, whole, data))
    })
}

/// Room for an extension block's types in one allocation: at most one per 4 bytes (capped; a longer
/// list grows as usual).
fn extension_room(block: &[u8]) -> usize {
    (block.len() / 4).min(24)
}

/// ClientHello key_share: u16 list length, then (group u16, length u16, key) entries.
fn client_key_shares(data: &[u8]) -> Vec<(u16, usize)> {
    let mut out = Vec::new();
    let Some(list_len) = be16(data, 0) else {
        return out;
    };
    let list = data
        .get(2..)
        .map(|l| l.get(..usize::from(list_len)).unwrap_or(l))
        .unwrap_or_default();
    let mut off = 0usize;
    while let (Some(group), Some(len)) = (be16(list, off), be16(list, off.saturating_add(2))) {
        let len = usize::from(len);
        if !is_grease(group) {
            out.push((group, len));
        }
        off = off.saturating_add(4).saturating_add(len);
    }
    out
}

/// The values of a list without GREASE, in one allocation (`filter` + `collect` grows the vector
/// from 4 entries, three or four times for a usual offer).
fn without_grease(values: impl ExactSizeIterator<Item = u16>) -> Vec<u16> {
    let mut out = Vec::with_capacity(values.len());
    out.extend(values.filter(|v| !is_grease(*v)));
    out
}

fn lossy(b: &[u8]) -> String {
    super::text(b).into_owned()
}

/// Parses a whole ClientHello handshake message (4-byte header included).
/// `record_version` and `records` are filled in by the caller.
pub fn parse_client_hello(msg: &[u8]) -> Result<ClientHello, String> {
    let ch = match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => ch,
        Ok(_) => return Err("ClientHello: unexpected message".to_owned()),
        Err(e) => return Err(format!("ClientHello does not parse: {e:?}")),
    };
    let mut out = ClientHello {
        legacy_version: ch.version.0,
        cipher_suites: without_grease(ch.ciphers.iter().map(|c| c.0)),
        session_id_len: ch
            .session_id
            .map_or(0, |s| u8::try_from(s.len()).unwrap_or(u8::MAX)),
        message_len: msg.len(),
        ..ClientHello::default()
    };
    let block = ch.ext.unwrap_or_default();
    out.extensions = Vec::with_capacity(extension_room(block));
    for (typ, whole, data) in walk_extensions(block) {
        if is_grease(typ) {
            continue;
        }
        out.extensions.push(typ);
        match typ {
            EXT_KEY_SHARE => out.key_shares = client_key_shares(data),
            EXT_ECH => out.ech = true,
            _ => {}
        }
        // Only the extensions read below go through tls-parser (its parser picks the variant by the
        // type, so the others would be decoded for nothing).
        if !CLIENT_EXTENSIONS_READ.contains(&typ) {
            continue;
        }
        let Ok((_, ext)) = parse_tls_client_hello_extension(whole) else {
            continue;
        };
        match ext {
            TlsExtension::SNI(names) if typ == EXT_SERVER_NAME => {
                out.sni = names
                    .iter()
                    .find(|(t, _)| t.0 == 0)
                    .map(|(_, name)| lossy(name));
            }
            TlsExtension::ALPN(protos) => out.alpn = protos.iter().map(|p| lossy(p)).collect(),
            TlsExtension::EllipticCurves(groups) => {
                out.groups = without_grease(groups.iter().map(|g| g.0));
            }
            TlsExtension::SignatureAlgorithms(algs) => {
                out.signature_algorithms = without_grease(algs.into_iter());
            }
            TlsExtension::SupportedVersions(versions) => {
                out.supported_versions = without_grease(versions.iter().map(|v| v.0));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Parses an SSLv2-compatible ClientHello record (2-byte header included):
/// msg_type(1) version(2) cipher_spec_length(2) session_id_length(2) challenge_length(2) then the
/// 3-byte cipher specs; specs 0x00XXXX are TLS suites and kept, SSLv2-only specs are dropped.
pub fn parse_sslv2_client_hello(record: &[u8]) -> Result<ClientHello, String> {
    let body = record.get(2..).unwrap_or_default();
    if body.first() != Some(&1) {
        return Err("SSLv2 record is not a CLIENT-HELLO".to_owned());
    }
    let (Some(version), Some(cs_len), Some(sid_len), Some(_chal_len)) =
        (be16(body, 1), be16(body, 3), be16(body, 5), be16(body, 7))
    else {
        return Err("SSLv2 CLIENT-HELLO truncated".to_owned());
    };
    let specs = body
        .get(9..9usize.saturating_add(usize::from(cs_len)))
        .ok_or_else(|| "SSLv2 CLIENT-HELLO cipher specs truncated".to_owned())?;
    let cipher_suites = specs
        .chunks_exact(3)
        .filter_map(|s| match s {
            [0, hi, lo] => Some(u16::from(*hi) << 8 | u16::from(*lo)),
            _ => None,
        })
        .filter(|c| !is_grease(*c))
        .collect();
    Ok(ClientHello {
        sslv2_format: true,
        record_version: 0x0002,
        legacy_version: version,
        cipher_suites,
        session_id_len: u8::try_from(sid_len).unwrap_or(u8::MAX),
        message_len: body.len(),
        records: 1,
        ..ClientHello::default()
    })
}

/// The fixed fields every ServerHello flavour has.
struct ShFields<'a> {
    version: u16,
    random: &'a [u8],
    cipher: u16,
    ext: Option<&'a [u8]>,
    hrr_type: bool,
}

/// Draft TLS 1.3 ServerHello (legacy_version 0x7fNN, drafts before 22): version, random, cipher, extensions.
fn parse_draft_server_hello(msg: &[u8]) -> Option<ShFields<'_>> {
    let body = msg.get(4..)?;
    let version = be16(body, 0)?;
    if version >> 8 != 0x7f {
        return None;
    }
    let random = body.get(2..34)?;
    let cipher = be16(body, 34)?;
    let ext = be16(body, 36).and_then(|l| body.get(38..38usize.checked_add(usize::from(l))?));
    Some(ShFields {
        version,
        random,
        cipher,
        ext,
        hrr_type: false,
    })
}

/// Parses a whole ServerHello (type 2, possibly an RFC 8446 HelloRetryRequest) or draft
/// HelloRetryRequest (type 6) handshake message, 4-byte header included.
pub fn parse_server_hello(msg: &[u8]) -> Result<ServerHello, String> {
    let f = match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => ShFields {
            version: sh.version.0,
            random: sh.random,
            cipher: sh.cipher.0,
            ext: sh.ext,
            hrr_type: false,
        },
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHelloV13Draft18(sh)))) => {
            ShFields {
                version: sh.version.0,
                random: sh.random,
                cipher: sh.cipher.0,
                ext: sh.ext,
                hrr_type: false,
            }
        }
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::HelloRetryRequest(hrr)))) => ShFields {
            version: hrr.version.0,
            random: &[],
            cipher: hrr.cipher.0,
            ext: hrr.ext,
            hrr_type: true,
        },
        Ok(_) => return Err("ServerHello: unexpected message".to_owned()),
        Err(e) => match parse_draft_server_hello(msg) {
            Some(f) => f,
            None => return Err(format!("ServerHello does not parse: {e:?}")),
        },
    };
    let hrr = f.hrr_type || f.random == HRR_RANDOM;
    let mut out = ServerHello {
        hello_retry_request: hrr,
        legacy_version: f.version,
        cipher_suite: f.cipher,
        downgrade_sentinel: f.random.len() == 32
            && f.random.get(24..31) == Some(&DOWNGRADE_PREFIX[..])
            && matches!(f.random.get(31), Some(0 | 1)),
        ..ServerHello::default()
    };
    if f.hrr_type {
        // Draft HelloRetryRequest: the version field is the selected version.
        out.supported_version = Some(f.version);
    }
    let block = f.ext.unwrap_or_default();
    out.extensions = Vec::with_capacity(extension_room(block));
    for (typ, whole, data) in walk_extensions(block) {
        if is_grease(typ) {
            continue;
        }
        out.extensions.push(typ);
        if typ == EXT_KEY_SHARE {
            // ServerHello: one KeyShareEntry; HelloRetryRequest: the selected group only.
            out.key_share_group = be16(data, 0);
            continue;
        }
        let Ok((_, ext)) = parse_tls_server_hello_extension(whole) else {
            continue;
        };
        match ext {
            TlsExtension::SupportedVersions(v) => out.supported_version = v.first().map(|v| v.0),
            TlsExtension::ALPN(protos) => out.alpn = protos.first().map(|p| lossy(p)),
            _ => {}
        }
    }
    Ok(out)
}
