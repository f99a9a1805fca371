//! A direct JSON writer for the per-connection line, byte for byte what `serde_json` writes for the
//! same `#[derive(Serialize)]` types (the test `same_bytes_as_serde_json` checks it on every shipped
//! capture).
//!
//! Why not `serde_json`: on connection-heavy captures the JSON line (about 4 KB per connection) was
//! a third of the run, most of it serde_json's byte-at-a-time string escaping. Here a string is
//! checked 8 bytes at a time and copied whole when, as almost always, nothing needs escaping.
//! Field names are written as literals. Numbers go through serde_json's own formatter, so floats
//! print exactly as before.

use std::borrow::Cow;

use serde_json::ser::{CompactFormatter, Formatter};

/// A value that writes itself as JSON into a byte buffer.
pub trait WriteJson {
    fn write_json(&self, w: &mut Vec<u8>);
}

/// Does any byte of `b` need escaping in a JSON string (`"`, `\\` or a control character)?
pub(crate) fn needs_escape(b: &[u8]) -> bool {
    first_escape(b).is_some()
}

/// Where the first byte of `b` that needs escaping is. Eight bytes at a time (SWAR: the classic "has
/// a zero byte" / "has a byte below n" tests). They can flag a byte above a true match (a borrow
/// moves up), never one below, so the lowest flag of a word is exact.
fn first_escape(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The flagged bytes of eight, as the high bit of each.
    let flags = |a: [u8; 8]| {
        let x = u64::from_le_bytes(a);
        // Control characters and `"` in one test: with bit 1 flipped they are exactly the bytes below
        // 0x21 (0x00..=0x1f stay below 0x20, 0x22 becomes 0x20, nothing else lands there).
        let y = x ^ (ONES * 0x02);
        let control_or_quote = y.wrapping_sub(ONES * 0x21) & !y & HIGH;
        let z = x ^ (ONES * u64::from(b'\\'));
        let backslash = z.wrapping_sub(ONES) & !z & HIGH;
        control_or_quote | backslash
    };
    // Little-endian: the lowest flagged byte is the first in the text.
    let first = |found: u64| (found.trailing_zeros() / 8) as usize;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in chunks.by_ref() {
        if let Ok(a) = <[u8; 8]>::try_from(c) {
            let found = flags(a);
            if found != 0 {
                return Some(at + first(found));
            }
        }
        at += 8;
    }
    // The last 0 to 7 bytes, padded with spaces (never flagged) to one more word: short strings
    // (most keys' values) take no byte-by-byte loop.
    let rest = chunks.remainder();
    let mut a = [b' '; 8];
    a.iter_mut().zip(rest).for_each(|(d, s)| *d = *s);
    let found = flags(a);
    (found != 0).then(|| at + first(found))
}

/// A JSON string, escaped as serde_json does: `\"`, `\\`, `\b \t \n \f \r`, other control
/// characters as `\u00xx`; everything else (including non-ASCII UTF-8) as is. The runs between
/// escapes are found eight bytes at a time and copied whole.
pub fn write_str(w: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s.as_bytes();
    w.reserve(rest.len() + 2);
    w.push(b'"');
    while let Some(i) = first_escape(rest) {
        let (run, tail) = rest.split_at(i);
        w.extend_from_slice(run);
        let Some((&b, tail)) = tail.split_first() else {
            break;
        };
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            _ => &[],
        };
        if esc.is_empty() {
            w.extend_from_slice(b"\\u00");
            w.push(HEX[usize::from(b >> 4)]);
            w.push(HEX[usize::from(b & 0x0f)]);
        } else {
            w.extend_from_slice(esc);
        }
        rest = tail;
    }
    w.extend_from_slice(rest);
    w.push(b'"');
}

/// A JSON string for text that never needs escaping: code-point names from our tables, timestamps,
/// addresses (the tests `names_need_no_escaping` and `same_bytes_as_serde_json` check that). Checked
/// in debug builds.
pub fn write_plain(w: &mut Vec<u8>, s: &[u8]) {
    debug_assert!(!needs_escape(s), "{:?}", String::from_utf8_lossy(s));
    w.reserve(s.len() + 2);
    w.push(b'"');
    w.extend_from_slice(s);
    w.push(b'"');
}

impl WriteJson for str {
    fn write_json(&self, w: &mut Vec<u8>) {
        write_str(w, self);
    }
}

impl WriteJson for String {
    fn write_json(&self, w: &mut Vec<u8>) {
        write_str(w, self);
    }
}

impl WriteJson for Cow<'_, str> {
    fn write_json(&self, w: &mut Vec<u8>) {
        write_str(w, self);
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, w: &mut Vec<u8>) {
        (**self).write_json(w);
    }
}

impl WriteJson for bool {
    fn write_json(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

macro_rules! ints {
    ($($t:ty => $m:ident),*) => {$(
        impl WriteJson for $t {
            fn write_json(&self, w: &mut Vec<u8>) {
                // Writing into a Vec cannot fail.
                let _ = CompactFormatter.$m(w, *self);
            }
        }
    )*};
}
ints!(u8 => write_u8, u16 => write_u16, u32 => write_u32, u64 => write_u64);

impl WriteJson for usize {
    fn write_json(&self, w: &mut Vec<u8>) {
        let _ = CompactFormatter.write_u64(w, *self as u64);
    }
}

impl WriteJson for f64 {
    fn write_json(&self, w: &mut Vec<u8>) {
        if self.is_finite() {
            let _ = CompactFormatter.write_f64(w, *self);
        } else {
            w.extend_from_slice(b"null");
        }
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, w: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(w),
            None => w.extend_from_slice(b"null"),
        }
    }
}

/// A JSON array of the items, each written by `item`.
pub fn write_seq<T>(
    w: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    item: impl Fn(&mut Vec<u8>, T),
) {
    w.push(b'[');
    for (i, v) in items.into_iter().enumerate() {
        if i > 0 {
            w.push(b',');
        }
        item(w, v);
    }
    w.push(b']');
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, w: &mut Vec<u8>) {
        write_seq(w, self, |w, v| v.write_json(w));
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, w: &mut Vec<u8>) {
        self.as_slice().write_json(w);
    }
}

/// Writes `{"a":…,"b":…}` from `self.field`s, in the order given (which must be the struct's field
/// order, as `#[derive(Serialize)]` writes them).
macro_rules! write_object {
    ($ty:ty { $first_key:literal => $first:ident $(, $key:literal => $field:ident)* $(,)? }) => {
        impl $crate::report::jsonw::WriteJson for $ty {
            fn write_json(&self, w: &mut Vec<u8>) {
                w.extend_from_slice(concat!("{\"", $first_key, "\":").as_bytes());
                $crate::report::jsonw::WriteJson::write_json(&self.$first, w);
                $(
                    w.extend_from_slice(concat!(",\"", $key, "\":").as_bytes());
                    $crate::report::jsonw::WriteJson::write_json(&self.$field, w);
                )*
                w.push(b'}');
            }
        }
    };
}
pub(crate) use write_object;

#[cfg(test)]
mod tests {
    use super::*;

    fn ours<T: WriteJson + ?Sized>(v: &T) -> String {
        let mut w = Vec::new();
        v.write_json(&mut w);
        String::from_utf8(w).unwrap_or_default()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let mut all = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            if let Some(ch) = char::from_u32(c) {
                all.push(ch);
            }
        }
        for s in [
            "",
            "plain ascii text that is longer than sixteen bytes",
            "quote \" in the middle of a long string, and a backslash \\ too",
            "\u{7f}\u{1}\u{1f}",
            &all,
        ] {
            assert_eq!(
                ours(s),
                serde_json::to_string(s).unwrap_or_default(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn needs_escape_for_every_byte_at_every_position() {
        for b in 0..=u8::MAX {
            let want = b < 0x20 || b == b'"' || b == b'\\';
            for pos in 0..16 {
                let mut s = vec![b'a'; 16];
                if let Some(slot) = s.get_mut(pos) {
                    *slot = b;
                }
                assert_eq!(needs_escape(&s), want, "{b:#04x} at {pos}");
            }
        }
    }

    #[test]
    fn every_position_of_every_boundary_byte() {
        for c in [
            '\u{0}', '\u{1f}', ' ', '"', '\\', '!', '#', '[', ']', '\u{7f}', 'é', '€', '😀',
        ] {
            for pos in 0..20 {
                for len in [pos + 1, pos + 7, 24] {
                    let mut s: String = "a".repeat(pos);
                    s.push(c);
                    while s.chars().count() < len {
                        s.push('b');
                    }
                    assert_eq!(
                        ours(s.as_str()),
                        serde_json::to_string(&s).unwrap_or_default(),
                        "{s:?}"
                    );
                }
            }
        }
    }

    /// Two bytes that need escaping, and bytes a borrow from them could wrongly flag (`!` is 0x21,
    /// the first byte above what the control-or-quote test looks for): every pair of positions.
    #[test]
    fn every_pair_of_escapes() {
        let specials = ['\u{0}', '\u{1f}', '"', '\\', '\n'];
        for a in specials {
            for b in specials {
                for i in 0..20 {
                    for j in i + 1..20 {
                        let mut s: Vec<char> = "!#]! #!]!!#!] !#]!!#!]!".chars().collect();
                        s[i] = a;
                        s[j] = b;
                        let s: String = s.into_iter().collect();
                        assert_eq!(
                            ours(s.as_str()),
                            serde_json::to_string(&s).unwrap_or_default(),
                            "{s:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_like_serde_json() {
        for f in [
            0.0,
            1.5,
            0.001,
            123456.789,
            -2.0,
            f64::NAN,
            f64::INFINITY,
            1e300,
        ] {
            assert_eq!(ours(&f), serde_json::to_string(&f).unwrap_or_default());
        }
        for n in [0u64, 7, u64::MAX] {
            assert_eq!(ours(&n), serde_json::to_string(&n).unwrap_or_default());
        }
        assert_eq!(ours(&Some(3u8)), "3");
        assert_eq!(ours(&None::<u16>), "null");
        assert_eq!(ours(&vec![true, false]), "[true,false]");
    }
}
