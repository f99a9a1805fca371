//! Addresses as text: exactly what `Display` writes for a `SocketAddr` or an `IpAddr`, with IPv4
//! written digit by digit. Every connection's verdict and JSON line shows its endpoints, and the
//! formatting machinery cost more than the rest of those lines' fields. IPv6 goes through `Display`.
//!
//! A leaf: used by [`crate::verdict`] and [`crate::report`], imports nothing of the crate.

use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// An IPv4 address, with or without its port, as text (at most `255.255.255.255:65535`).
#[derive(Default)]
struct V4Text {
    buf: [u8; 21],
    len: usize,
}

impl V4Text {
    fn new(ip: Ipv4Addr, port: Option<u16>) -> Self {
        let mut t = V4Text::default();
        for (i, o) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                t.push(b'.');
            }
            t.decimal(u16::from(o));
        }
        if let Some(p) = port {
            t.push(b':');
            t.decimal(p);
        }
        t
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn decimal(&mut self, v: u16) {
        let mut started = false;
        for div in [10_000, 1_000, 100, 10, 1] {
            let d = (v / div % 10) as u8;
            if started || d != 0 || div == 1 {
                started = true;
                self.push(b'0' + d);
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The text (ASCII digits, dots and a colon).
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes()).unwrap_or_default()
    }
}

/// `ip:port`, or `[v6]:port` for IPv6, into a byte buffer.
pub fn write_endpoint(w: &mut Vec<u8>, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => w.extend_from_slice(V4Text::new(*v4.ip(), Some(v4.port())).bytes()),
        // Writing into a Vec cannot fail.
        SocketAddr::V6(_) => {
            let _ = write!(w, "{a}");
        }
    }
}

/// `ip:port`, or `[v6]:port` for IPv6, appended to a string.
pub fn push_endpoint(s: &mut String, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => s.push_str(V4Text::new(*v4.ip(), Some(v4.port())).as_str()),
        SocketAddr::V6(_) => {
            use std::fmt::Write as _;
            let _ = write!(s, "{a}");
        }
    }
}

/// An address as its `Display` writes it, appended to a string.
pub fn push_ip(s: &mut String, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => s.push_str(V4Text::new(*v4, None).as_str()),
        IpAddr::V6(_) => {
            use std::fmt::Write as _;
            let _ = write!(s, "{ip}");
        }
    }
}

/// A port number in decimal, into a byte buffer.
pub fn write_port(w: &mut Vec<u8>, port: u16) {
    let mut t = V4Text::default();
    t.decimal(port);
    w.extend_from_slice(t.bytes());
}

/// An address as its `Display` writes it, into a byte buffer.
pub fn write_ip(w: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => w.extend_from_slice(V4Text::new(*v4, None).bytes()),
        IpAddr::V6(_) => {
            let _ = write!(w, "{ip}");
        }
    }
}

/// A `SocketAddr` that displays as itself (`format!("{}", Endpoint(a)) == a.to_string()`, padding
/// included), IPv4 without the formatting machinery.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint(pub SocketAddr);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V4(v4) => f.pad(V4Text::new(*v4.ip(), Some(v4.port())).as_str()),
            SocketAddr::V6(_) => fmt::Display::fmt(&self.0, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_display() {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for (ip, port) in [
            ("0.0.0.0", 0),
            ("255.255.255.255", 65535),
            ("10.0.0.1", 443),
            ("192.168.100.9", 8080),
            ("1.22.133.4", 10),
            ("100.20.3.0", 1000),
            ("::", 0),
            ("::1", 443),
            ("::ffff:10.0.0.1", 443),
            ("2001:db8::85a3:0:0:8a2e", 99),
        ] {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                addrs.push(SocketAddr::new(ip, port));
            }
        }
        for x in (0u32..=0xffff).step_by(97) {
            let v = x.wrapping_mul(2_654_435_761);
            addrs.push(SocketAddr::new(IpAddr::from(v.to_be_bytes()), x as u16));
        }
        assert!(addrs.len() > 600);
        for a in addrs {
            let mut w = Vec::new();
            write_endpoint(&mut w, &a);
            assert_eq!(String::from_utf8_lossy(&w), a.to_string());
            let mut t = String::from("x");
            push_endpoint(&mut t, &a);
            push_ip(&mut t, &a.ip());
            assert_eq!(t, format!("x{a}{}", a.ip()));
            let mut w = Vec::new();
            write_ip(&mut w, &a.ip());
            assert_eq!(String::from_utf8_lossy(&w), a.ip().to_string());
            let mut w = Vec::new();
            write_port(&mut w, a.port());
            assert_eq!(String::from_utf8_lossy(&w), a.port().to_string());
            assert_eq!(Endpoint(a).to_string(), a.to_string());
            assert_eq!(
                format!("{:>30}|{:<25}|", Endpoint(a), Endpoint(a)),
                format!("{a:>30}|{a:<25}|")
            );
        }
    }
}
