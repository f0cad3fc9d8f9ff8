//! The words of the handshake's errors: what a stranger's first bytes look like, and roles
//! with their article ("an observer").

use super::MAGIC;
use crate::msg::Role;
use std::fmt;

/// "a consumer", "a consumer or an observer".
pub(super) fn one_of(roles: &[Role]) -> String {
    let names: Vec<String> = roles
        .iter()
        .map(|r| {
            let r = r.to_string();
            format!("{} {r}", article(&r))
        })
        .collect();
    names.join(" or ")
}

/// "a" or "an", by the word that follows.
pub(super) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Says what a stranger's first bytes look like: our own greeting sent back (an echo
/// server), a line of text (some line-based service), or bytes (shown in hex).
pub(super) fn not_ours(f: &mut fmt::Formatter<'_>, first: &[u8]) -> fmt::Result {
    let text = first
        .iter()
        .all(|&b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..0x7f));
    // Our greeting after a prefix: "test: BAOZI".
    let echoed = (1..first.len()).find(|&i| {
        let rest = &first[i..];
        rest.len() >= 3 && MAGIC.starts_with(&rest[..rest.len().min(MAGIC.len())])
    });
    let shown = ipc::units::escape(&String::from_utf8_lossy(first));
    if let Some(i) = echoed {
        let prefix = ipc::units::escape(&String::from_utf8_lossy(&first[..i]));
        write!(
            f,
            "not a baozi-ipc peer: it sent this program's greeting back after \"{prefix}\", \
             as an echo server does (`client` talks to an echo server)"
        )
    } else if text && !first.is_empty() {
        write!(
            f,
            "not a baozi-ipc peer: it sent the text \"{shown}\" where the greeting \
             \"BAOZIIPC\" was expected (a line-based program, such as an echo client or server?)"
        )
    } else {
        write!(f, "not a baozi-ipc peer (it sent")?;
        for b in first {
            write!(f, " {b:02x}")?;
        }
        write!(f, " where \"BAOZIIPC\" was expected)")
    }
}

#[cfg(test)]
mod tests {
    use super::super::WireError;
    use crate::msg::Role;

    fn said(first: &[u8]) -> String {
        WireError::NotOurs {
            first_bytes: first.to_vec(),
        }
        .to_string()
    }

    #[test]
    fn a_stranger_is_described_by_what_it_sent() {
        assert!(said(b"test: BAOZI").contains("greeting back after \"test: \", as an echo server"));
        assert!(said(b"hello\n").contains("the text \"hello\\n\""));
        assert!(said(&[0xff, 0x00, 0x10]).contains("it sent ff 00 10 where"));
    }

    #[test]
    fn roles_take_their_article() {
        let e = WireError::WrongRole {
            peer: Role::Observer.to_string(),
            expected: vec![Role::Producer, Role::Observer],
        };
        assert_eq!(
            e.to_string(),
            "the peer is an observer, but a producer or an observer was expected"
        );
    }
}
