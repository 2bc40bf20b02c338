//! Every campaign-service RPC through the real engine: a selector byte, then
//! the request message's bytes (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| engine_fuzz::fuzz_campaign(data));
