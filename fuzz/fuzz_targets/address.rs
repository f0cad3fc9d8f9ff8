//! The address parser, on any text: parsing never panics, and an address that parses
//! prints back (Display) as text that parses to the same address.
//! (It found `tcp:[[]:1`, now a regression test in `common/tests/properties.rs`.)
#![no_main]

use ipc::Address;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Address>() {
        Ok(a) => {
            let shown = a.to_string();
            match shown.parse::<Address>() {
                Ok(b) => assert_eq!(a, b, "{text:?} printed as {shown:?}"),
                Err(e) => panic!("{text:?} parsed, but prints as {shown:?}, which does not: {e}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
