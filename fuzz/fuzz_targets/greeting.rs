//! The greeting, on any bytes: `read_greeting` never panics, and it accepts exactly the
//! 11 bytes "BAOZIIPC", the version, the kind and one of the accepted roles.
#![no_main]

use common::wire::{FrameReader, MAGIC, Role, VERSION};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

const ROLES: [Role; 4] = [Role::Producer, Role::Consumer, Role::Broker, Role::Observer];

fuzz_target!(|data: &[u8]| {
    let Some((&mask, rest)) = data.split_first() else {
        return;
    };
    // The low four bits of the first byte pick the roles to accept.
    let accept: Vec<Role> = (0..4)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| ROLES[i])
        .collect();
    let mut r = FrameReader::new(Cursor::new(rest));
    match r.read_greeting(&accept) {
        Ok(role) => {
            assert!(accept.contains(&role));
            assert!(rest.len() >= 11);
            assert_eq!(rest[..8], MAGIC);
            assert_eq!(rest[8], VERSION);
            assert_eq!(rest[9], 1);
            assert_eq!(rest[10], role as u8);
        }
        Err(e) => {
            let _ = e.to_string();
            let well_formed = rest.len() >= 11
                && rest[..8] == MAGIC
                && rest[8] == VERSION
                && rest[9] == 1
                && accept.iter().any(|&a| a as u8 == rest[10]);
            assert!(!well_formed, "a good greeting refused: {e}");
        }
    }
});
