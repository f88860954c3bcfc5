//! The plan parser on arbitrary input: it must never panic, and what it returns must hold its
//! promises (see `mab_plan::check_parse_invariants`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        mab_plan::fuzzing::check(text);
    }
});
