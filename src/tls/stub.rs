//! TEMPORARY stand-in until the real session lands (same API).
#![allow(missing_docs, dead_code)]
use super::*;
#[derive(Default, Debug)]
pub struct TlsSession {
    stats: [DirectionStats; 2],
}
impl TlsSession {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn feed(&mut self, _dir: Direction, _data: &[u8], _out: &mut Vec<TlsEvent>) {}
    pub fn gap(&mut self, _dir: Direction, _len: u64, _out: &mut Vec<TlsEvent>) {}
    pub fn progress(&self) -> HandshakeProgress {
        HandshakeProgress::None
    }
    pub fn client_hello(&self) -> Option<&ClientHello> {
        None
    }
    pub fn client_hellos(&self) -> &[ClientHello] {
        &[]
    }
    pub fn server_hello(&self) -> Option<&ServerHello> {
        None
    }
    pub fn hello_retry(&self) -> Option<&ServerHello> {
        None
    }
    pub fn certificates(&self) -> &[CertInfo] {
        &[]
    }
    pub fn version(&self) -> Option<u16> {
        None
    }
    pub fn stats(&self, dir: Direction) -> &DirectionStats {
        &self.stats[dir.index()]
    }
    pub fn connect_request(&self) -> Option<&HttpRequest> {
        None
    }
    pub fn connect_response(&self) -> Option<&HttpResponse> {
        None
    }
    pub fn http_request(&self) -> Option<&HttpRequest> {
        None
    }
    pub fn http_response(&self) -> Option<&HttpResponse> {
        None
    }
    pub fn is_tls(&self) -> bool {
        false
    }
}
pub mod names {
    pub fn alert_name(_c: u8) -> Option<&'static str> {
        None
    }
    pub fn version_name(v: u16) -> String {
        format!("{v:#06x}")
    }
    pub fn cipher_name(_c: u16) -> Option<&'static str> {
        None
    }
    pub fn group_name(_c: u16) -> Option<&'static str> {
        None
    }
    pub fn is_aead_suite(_c: u16) -> bool {
        true
    }
    pub fn is_tls13_suite(_c: u16) -> bool {
        true
    }
    pub fn is_forward_secret_suite(_c: u16) -> bool {
        true
    }
    pub fn handshake_type_name(_c: u8) -> &'static str {
        "handshake"
    }
}
