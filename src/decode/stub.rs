//! TEMPORARY stand-in until the real decoder lands (same API).
#![allow(missing_docs, dead_code)]
use super::*;
use crate::capture::Frame;
#[derive(Default, Debug)]
pub struct Decoder;
#[derive(Default, Debug)]
pub struct DecodeStats;
impl Decoder {
    pub fn new() -> Self {
        Decoder
    }
    pub fn decode<'a>(&mut self, _frame: &Frame<'a>) -> Decoded<'a> {
        Decoded::Skipped(SkipReason::NotIp)
    }
    pub fn stats(&self) -> &DecodeStats {
        &DecodeStats
    }
}
