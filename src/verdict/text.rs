//! Verdict sentences built in place: [`cat!`] appends its pieces (text, integers, endpoints,
//! durations) to one `String` sized once. `format!` reads its template and dispatches every piece
//! through `core::fmt` (about 900 instructions a call); the sentences of every connection's verdict
//! are written this way instead, with the same text.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::addr::Endpoint;

/// A piece of a sentence: appended as its `Display` text.
pub(crate) trait Piece {
    /// About how many bytes it appends (to size the string once).
    fn size(&self) -> usize;
    /// Appends its text.
    fn push_to(&self, s: &mut String);
}

/// The pieces in order, as one `String` (each piece evaluated once).
macro_rules! cat {
    ($($piece:expr),+ $(,)?) => {{
        let pieces: &[&dyn $crate::verdict::text::Piece] = &[$(&$piece),+];
        let mut s = String::with_capacity(pieces.iter().map(|p| p.size()).sum());
        for p in pieces {
            p.push_to(&mut s);
        }
        s
    }};
}
pub(crate) use cat;

/// The pieces appended to the `String` `$s`.
macro_rules! cat_to {
    ($s:expr, $($piece:expr),+ $(,)?) => {{
        let s: &mut String = &mut $s;
        $( $crate::verdict::text::Piece::push_to(&$piece, s); )+
    }};
}
pub(crate) use cat_to;

impl<T: Piece + ?Sized> Piece for &T {
    #[inline]
    fn size(&self) -> usize {
        (**self).size()
    }
    #[inline]
    fn push_to(&self, s: &mut String) {
        (**self).push_to(s)
    }
}

/// Text appended as it is.
macro_rules! text_piece {
    ($($t:ty),+) => {$(
        impl Piece for $t {
            #[inline]
            fn size(&self) -> usize {
                self.len()
            }
            #[inline]
            fn push_to(&self, s: &mut String) {
                s.push_str(self)
            }
        }
    )+};
}
text_piece!(str, String, Cow<'_, str>);

macro_rules! integer_piece {
    ($($t:ty),+) => {$(
        impl Piece for $t {
            #[inline]
            fn size(&self) -> usize {
                20
            }
            #[inline]
            fn push_to(&self, s: &mut String) {
                s.push_str(itoa::Buffer::new().format(*self))
            }
        }
    )+};
}
integer_piece!(u8, u16, u32, u64, usize, i32, i64);

impl Piece for IpAddr {
    fn size(&self) -> usize {
        40
    }
    fn push_to(&self, s: &mut String) {
        crate::addr::push_ip(s, self)
    }
}

/// A packet as sentences name it: `frame 107`, or `frame 107 of input 4` when it is not in the
/// first input (several inputs number their frames each from 1, as Wireshark does).
impl Piece for crate::tcp::FrameRef {
    fn size(&self) -> usize {
        48
    }
    fn push_to(&self, s: &mut String) {
        s.push_str("frame ");
        s.push_str(itoa::Buffer::new().format(self.frame));
        if self.file() > 0 {
            s.push_str(" of input ");
            s.push_str(itoa::Buffer::new().format(u32::from(self.file()) + 1));
        }
    }
}

impl Piece for Endpoint {
    fn size(&self) -> usize {
        48
    }
    fn push_to(&self, s: &mut String) {
        crate::addr::push_endpoint(s, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// A frame of the first input is "frame N"; of another, it says which input.
    #[test]
    fn frames_name_their_input_past_the_first() {
        use crate::capture::Timestamp;
        use crate::tcp::FrameRef;
        let at = |file: u16| FrameRef::new(9, file, 107, Timestamp(0));
        assert_eq!(cat!("(", at(0), ")"), "(frame 107)");
        assert_eq!(cat!("(", at(3), ")"), "(frame 107 of input 4)");
    }

    /// Every kind of piece gives its `Display` text.
    #[test]
    fn same_text_as_format() {
        let v4: SocketAddr = "10.1.2.3:443".parse().expect("address");
        let v6: SocketAddr = "[2001:db8::1]:8443".parse().expect("address");
        let owned = String::from("owned");
        let cow: Cow<'_, str> = Cow::Borrowed("cow");
        for n in [0u64, 7, 10, 99, 65_535, u64::MAX] {
            assert_eq!(
                cat!(
                    "n=",
                    n,
                    ", ",
                    n as u8,
                    "/",
                    n as u16,
                    "/",
                    n as u32,
                    "/",
                    n as usize,
                    " ",
                    -(n as i64 % 1000)
                ),
                format!(
                    "n={n}, {}/{}/{}/{} {}",
                    n as u8,
                    n as u16,
                    n as u32,
                    n as usize,
                    -(n as i64 % 1000)
                )
            );
        }
        assert_eq!(
            cat!(
                Endpoint(v4),
                " ",
                Endpoint(v6),
                " ",
                owned,
                " ",
                cow,
                " ",
                &owned,
                " ",
                v4.ip(),
                " ",
                v6.ip()
            ),
            format!(
                "{} {} {owned} {cow} {owned} {} {}",
                Endpoint(v4),
                Endpoint(v6),
                v4.ip(),
                v6.ip()
            )
        );
    }
}
