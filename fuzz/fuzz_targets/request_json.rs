//! Every HTTP request body type (classify, batch and its items, embed, segment, feedback with
//! its validation, case merge) deserialised from arbitrary bytes. Errors are fine; panics are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hotline_triage::api::parse_request_bodies(data);
});
