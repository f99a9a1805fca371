//! What a direction carries when it is not (yet) TLS: protocol sniffing of the first bytes, HTTP
//! request/response header blocks, and printable excerpts of anything else.

use super::{HttpRequest, HttpResponse};

/// Longest prefix [`classify`] may need before it can decide.
pub const DETECT_MAX: usize = 16;
/// Longest HTTP header block we collect; a longer one is reported as far as it got.
pub const MAX_HTTP_HEAD: usize = 8192;
/// Headers kept per message.
pub const MAX_HEADERS: usize = 32;
/// Body bytes kept for an excerpt.
pub const MAX_BODY_EXCERPT: usize = 1024;
/// Characters in a [`super::NotTls`] excerpt.
pub const MAX_EXCERPT_CHARS: usize = 120;
/// Characters kept of a header name or value, method, target or status line.
const MAX_FIELD: usize = 512;

/// What the first bytes of a direction look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    /// A TLS record header (content type 20..=24, major version 3).
    Tls,
    /// An SSLv2-compatible ClientHello record.
    Sslv2ClientHello,
    /// An HTTP request line (from the client).
    HttpRequest,
    /// An HTTP status line (from the server).
    HttpResponse,
    /// Something else; the label goes to [`super::NotTls::looks_like`].
    Other(&'static str),
}

const METHODS: [&[u8]; 9] = [
    b"CONNECT ",
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
];

const BANNERS: [(&[u8], &str); 7] = [
    (b"SSH-", "SSH banner"),
    (b"220 ", "SMTP/FTP/POP banner"),
    (b"220-", "SMTP/FTP/POP banner"),
    (b"+OK", "SMTP/FTP/POP banner"),
    (b"* OK", "IMAP banner"),
    (b"PRI * HTTP/2.0", "HTTP/2 preface"),
    (b"RFB ", "VNC banner"),
];

/// Decides what `b` (the first bytes of a direction) is, or `None` when more bytes are needed.
/// The decision depends only on the bytes, never on how they were segmented, and needs at most
/// [`DETECT_MAX`] bytes.
pub fn classify(b: &[u8], from_client: bool) -> Option<Detected> {
    let b0 = *b.first()?;
    if (20..=24).contains(&b0) {
        return Some(if *b.get(1)? == 3 {
            Detected::Tls
        } else {
            Detected::Other("binary")
        });
    }
    if b0 & 0x80 != 0 {
        let msg_type = *b.get(2)?;
        if from_client && msg_type == 1 {
            return Some(if matches!(*b.get(3)?, 0 | 3) {
                Detected::Sslv2ClientHello
            } else {
                Detected::Other("binary")
            });
        }
        if !from_client && msg_type == 4 {
            return Some(Detected::Other("SSLv2 ServerHello"));
        }
        return Some(Detected::Other("binary"));
    }
    if b0 == b'<' {
        return Some(Detected::Other("HTML"));
    }
    let mut undecided = false;
    let mut check = |prefix: &[u8], d: Detected| -> Option<Detected> {
        if b.len() >= prefix.len() {
            if b.starts_with(prefix) {
                return Some(d);
            }
        } else if prefix.starts_with(b) {
            undecided = true;
        }
        None
    };
    for m in METHODS {
        let d = if from_client {
            Detected::HttpRequest
        } else {
            Detected::Other("HTTP request")
        };
        if let Some(d) = check(m, d) {
            return Some(d);
        }
    }
    let d = if from_client {
        Detected::Other("HTTP response")
    } else {
        Detected::HttpResponse
    };
    if let Some(d) = check(b"HTTP/", d) {
        return Some(d);
    }
    for (p, label) in BANNERS {
        if let Some(d) = check(p, Detected::Other(label)) {
            return Some(d);
        }
    }
    if undecided && b.len() < DETECT_MAX {
        return None;
    }
    Some(Detected::Other(
        if b0.is_ascii_graphic() || b0.is_ascii_whitespace() {
            "text"
        } else {
            "binary"
        },
    ))
}

/// Printable form of `b`: ASCII graphic characters and spaces as is, `\r` `\n` `\t` `\\` escaped,
/// other bytes as `\xNN`; at most `max_chars` characters (an escape is never cut). Also returns how
/// many bytes of `b` it shows.
pub fn printable_excerpt(b: &[u8], max_chars: usize) -> (String, usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len().min(max_chars));
    let mut shown = 0usize;
    let digit = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'?');
    for &c in b {
        let hex;
        let piece: &[u8] = match c {
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\\' => b"\\\\",
            0x20..=0x7e => std::slice::from_ref(&c),
            _ => {
                hex = [b'\\', b'x', digit(c >> 4), digit(c & 0x0f)];
                &hex
            }
        };
        if out.len().saturating_add(piece.len()) > max_chars {
            break;
        }
        // Every piece is ASCII.
        out.extend(piece.iter().map(|&p| char::from(p)));
        shown = shown.saturating_add(1);
    }
    (out, shown)
}

/// Where the header block ends (one past the empty line), searching `buf` from about `from`
/// (bytes before `from` were searched already). Accepts CRLF and bare LF line ends.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let tail = buf.get(start..)?;
    tail.iter().enumerate().find_map(|(i, &c)| {
        if c != b'\n' {
            return None;
        }
        let at = start.checked_add(i)?;
        // "\n\n" or "\n\r\n" ends the block.
        let prev = at.checked_sub(1).and_then(|p| buf.get(p));
        let prev2 = at.checked_sub(2).and_then(|p| buf.get(p));
        match (prev2, prev) {
            (_, Some(b'\n')) | (Some(b'\n'), Some(b'\r')) => at.checked_add(1),
            _ => None,
        }
    })
}

/// A parsed header block: the first line and all `name: value` headers.
pub struct Head {
    pub first_line: String,
    pub headers: Vec<(String, String)>,
}

fn field(b: &[u8]) -> String {
    let b = b.get(..MAX_FIELD).unwrap_or(b);
    super::text(b).trim().to_owned()
}

/// Splits a header block (or the start of one) into lines.
pub fn parse_head(buf: &[u8]) -> Head {
    let mut lines = buf.split(|&c| c == b'\n');
    let first_line = field(lines.next().unwrap_or_default());
    let headers = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&c| c == b':')?;
            let (name, value) = line.split_at(colon);
            Some((field(name), field(value.get(1..).unwrap_or_default())))
        })
        .filter(|(name, _)| !name.is_empty())
        .collect();
    Head {
        first_line,
        headers,
    }
}

impl Head {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Content-Length, when present and valid (and no chunked Transfer-Encoding overrides it).
    pub fn content_length(&self) -> Option<u64> {
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return None;
        }
        self.header("content-length")?.parse().ok()
    }

    /// The request line and Host header.
    pub fn request(&self) -> HttpRequest {
        let mut parts = self.first_line.split_whitespace();
        HttpRequest {
            method: parts.next().unwrap_or_default().to_owned(),
            target: parts.next().unwrap_or_default().to_owned(),
            host: self.header("host").map(str::to_owned),
        }
    }

    /// The status line and up to [`MAX_HEADERS`] headers; the body excerpt is left empty.
    pub fn response(&self, header_len: usize) -> HttpResponse {
        HttpResponse {
            status: self
                .first_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            status_line: self.first_line.clone(),
            headers: self.headers.iter().take(MAX_HEADERS).cloned().collect(),
            body_excerpt: String::new(),
            header_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_prefixes() {
        assert_eq!(classify(b"\x16\x03", true), Some(Detected::Tls));
        assert_eq!(classify(b"\x16", true), None);
        assert_eq!(classify(b"\x16\x02", true), Some(Detected::Other("binary")));
        assert_eq!(classify(b"\x80\x2e\x01", true), None);
        assert_eq!(
            classify(b"\x80\x2e\x01\x03\x01", true),
            Some(Detected::Sslv2ClientHello)
        );
        assert_eq!(classify(b"CONN", true), None);
        assert_eq!(classify(b"CONNECT x", true), Some(Detected::HttpRequest));
        assert_eq!(classify(b"GET /", true), Some(Detected::HttpRequest));
        assert_eq!(
            classify(b"HTTP/1.1 200", false),
            Some(Detected::HttpResponse)
        );
        assert_eq!(classify(b"HT", false), None);
        assert_eq!(classify(b"<", false), Some(Detected::Other("HTML")));
        assert_eq!(
            classify(b"SSH-2.0", false),
            Some(Detected::Other("SSH banner"))
        );
        assert_eq!(
            classify(b"220 mail", false),
            Some(Detected::Other("SMTP/FTP/POP banner"))
        );
        assert_eq!(classify(b"hello", false), Some(Detected::Other("text")));
        assert_eq!(classify(b"\x01", false), Some(Detected::Other("binary")));
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r\nbody", 0), Some(19));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\n\nbody", 0), Some(17));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
    }

    /// Every byte, and cuts at every length, against the one-string-per-byte way it was written first.
    #[test]
    fn excerpt_of_every_byte() {
        fn reference(b: &[u8], max_chars: usize) -> (String, usize) {
            let mut out = String::new();
            let mut shown = 0usize;
            for &c in b {
                let piece = match c {
                    b'\r' => "\\r".to_owned(),
                    b'\n' => "\\n".to_owned(),
                    b'\t' => "\\t".to_owned(),
                    b'\\' => "\\\\".to_owned(),
                    0x20..=0x7e => char::from(c).to_string(),
                    _ => format!("\\x{c:02x}"),
                };
                if out.len() + piece.len() > max_chars {
                    break;
                }
                out.push_str(&piece);
                shown += 1;
            }
            (out, shown)
        }
        let all: Vec<u8> = (0..=255u8).collect();
        for max in [0, 1, 2, 3, 4, 5, 7, 100, 255, 256, 1000] {
            assert_eq!(printable_excerpt(&all, max), reference(&all, max), "{max}");
        }
        for max in 0..12 {
            let b = b"a\x01\\\r\n\tz\xff";
            assert_eq!(printable_excerpt(b, max), reference(b, max), "{max}");
        }
    }

    #[test]
    fn excerpt() {
        assert_eq!(
            printable_excerpt(b"SSH-2.0\r\n\x01", 120),
            ("SSH-2.0\\r\\n\\x01".to_owned(), 10)
        );
        assert_eq!(printable_excerpt(b"ab\x01", 4), ("ab".to_owned(), 2));
    }
}
