//! Is a ClientHello's offer one that a current server (Azure front ends, OpenSSL, SChannel defaults)
//! accepts? If it is, a connection that dies right after it was not killed by a parameter mismatch.

use std::borrow::Cow;

use super::text::{cat, cat_to};
use super::Cause;
use crate::tls::names;
use crate::tls::ClientHello;

/// TLS 1.2 as a wire version.
pub const TLS12: u16 = 0x0303;
/// TLS 1.3 as a wire version.
pub const TLS13: u16 = 0x0304;

/// What the offer says, in words a reader can check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// A current server would find something to agree on.
    pub acceptable: bool,
    /// If not: the mismatch this offer would cause.
    pub problem: Option<Cause>,
    /// Facts about the offer, as sentences.
    pub facts: Vec<String>,
    /// A short description: "TLS 1.3 and 1.2, 17 suites incl. TLS_AES_128_GCM_SHA256, groups x25519, secp256r1".
    pub summary: String,
}

impl Offer {
    /// The offer of a ClientHello that could not be read (`why` says why: cut by the capture, malformed).
    pub fn unreadable(why: &str) -> Offer {
        Offer {
            acceptable: false,
            problem: None,
            facts: vec![why.to_string()],
            summary: "an offer the capture did not keep".to_string(),
        }
    }
}

fn is_tls13_version(v: u16) -> bool {
    names::is_tls13_version(v)
}

/// A TLS 1.2 suite with ECDHE/DHE key exchange and an AEAD cipher.
fn is_modern12(s: u16) -> bool {
    let p = names::suite_props(s);
    !p.tls13 && p.aead && p.forward_secret
}

/// Groups: an absent extension means the server picks a default; otherwise one of the common ones.
fn has_common_group(ch: &ClientHello) -> bool {
    const COMMON_GROUPS: [u16; 4] = [0x001d, 0x0017, 0x0018, 0x11ec];
    ch.groups.is_empty() || ch.groups.iter().any(|g| COMMON_GROUPS.contains(g))
}

/// Whether a current server would accept the offer ([`Offer::acceptable`] of [`assess`]), without
/// building the explanation.
pub fn acceptable(ch: &ClientHello) -> bool {
    let max = ch.max_version();
    let offers13 = ch.supported_versions.iter().any(|v| is_tls13_version(*v));
    let offers12 = max >= TLS12
        && (ch.supported_versions.is_empty() || ch.supported_versions.contains(&TLS12));
    let suites13 = ch.cipher_suites.iter().any(|s| names::is_tls13_suite(*s));
    let modern12 = ch.cipher_suites.iter().any(|s| is_modern12(*s));
    has_common_group(ch) && ((offers13 && suites13) || (offers12 && modern12))
}

/// Judge an offer.
pub fn assess(ch: &ClientHello) -> Offer {
    let max = ch.max_version();
    // Counted, and the first of each kept: no list is built (this runs for every connection).
    let (mut n13, mut first13, mut n12, mut first12) = (0usize, None, 0usize, None);
    for &s in &ch.cipher_suites {
        let p = names::suite_props(s);
        if p.tls13 {
            n13 += 1;
            first13 = first13.or(Some(s));
        } else if p.aead && p.forward_secret {
            n12 += 1;
            first12 = first12.or(Some(s));
        }
    }
    let has_common_group = has_common_group(ch);

    // Built in place, names borrowed from the tables: this runs for every ClientHello.
    let mut offered = String::with_capacity(48);
    join_names(&mut offered, offered_version_codes(ch), names::version_str);
    let mut facts = Vec::with_capacity(4);
    let mut first = String::with_capacity(24 + offered.len());
    first.push_str("the ClientHello offered ");
    first.push_str(&offered);
    facts.push(first);
    facts.push(cat!(
        ch.cipher_suites.len(),
        " cipher suites (",
        n13,
        " TLS 1.3, ",
        n12,
        " TLS 1.2 ECDHE/DHE with AEAD)"
    ));
    if !ch.groups.is_empty() {
        let mut g = String::with_capacity(80);
        g.push_str("groups ");
        join_names(&mut g, ch.groups.iter().take(6), group_name);
        facts.push(g);
    }

    let (acceptable, problem) = if acceptable(ch) {
        (true, None)
    } else if max < TLS12 {
        facts.push(cat!(
            "the highest version offered is ",
            names::version_name(max),
            ", and current servers require TLS 1.2 or later"
        ));
        (false, Some(Cause::VersionMismatch))
    } else if !has_common_group {
        facts.push("none of x25519, secp256r1, secp384r1 is among the offered groups".to_string());
        (false, Some(Cause::CipherMismatch))
    } else {
        facts.push(
            "no forward-secret AEAD suite (ECDHE/DHE with GCM or ChaCha20) and no TLS 1.3 suite"
                .to_string(),
        );
        (false, Some(Cause::CipherMismatch))
    };

    let mut summary = offered;
    let example = first13.or(first12).or(ch.cipher_suites.first().copied());
    cat_to!(summary, ", ", ch.cipher_suites.len(), " suites");
    if let Some(s) = example {
        summary.push_str(" incl. ");
        summary.push_str(&suite_name(s));
    }
    if !ch.groups.is_empty() {
        summary.push_str(", groups ");
        join_names(&mut summary, ch.groups.iter().take(3), group_name);
    }
    Offer {
        acceptable,
        problem,
        facts,
        summary,
    }
}

/// Appends the names of `codes`, separated by ", ".
fn join_names<'c>(
    out: &mut String,
    codes: impl IntoIterator<Item = &'c u16>,
    name: fn(u16) -> Cow<'static, str>,
) {
    for (i, c) in codes.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&name(*c));
    }
}

/// The versions a ClientHello offers: supported_versions, else its legacy_version.
pub fn offered_version_codes(ch: &ClientHello) -> &[u16] {
    if ch.supported_versions.is_empty() {
        std::slice::from_ref(&ch.legacy_version)
    } else {
        &ch.supported_versions
    }
}

/// A suite's IANA name, or its hex value.
pub fn suite(s: u16) -> String {
    suite_name(s).into_owned()
}

/// A suite's IANA name, or its hex value, without allocating for a known suite.
pub fn suite_name(s: u16) -> Cow<'static, str> {
    names::cipher_name(s).map_or_else(|| Cow::Owned(format!("0x{s:04x}")), Cow::Borrowed)
}

/// A group's name, or its hex value.
pub fn group(g: u16) -> String {
    group_name(g).into_owned()
}

/// A group's name, or its hex value, without allocating for a known group.
pub fn group_name(g: u16) -> Cow<'static, str> {
    names::group_name(g).map_or_else(|| Cow::Owned(format!("0x{g:04x}")), Cow::Borrowed)
}
