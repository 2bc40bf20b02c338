//! API keys, player tokens and typed coupon codes through their parsers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| engine_fuzz::fuzz_credentials(data));
