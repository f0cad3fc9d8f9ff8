//! Colour by role, like the tutorial's `\033[45m` lines: only on a terminal, and never
//! when `NO_COLOR` is set (<https://no-color.org>). Piped output is always plain.

use crate::msg::Role;
use std::io::IsTerminal;

/// Whether to colour one output stream.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    on: bool,
}

impl Paint {
    fn when(is_terminal: bool) -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint {
            on: is_terminal && !no_color,
        }
    }

    /// For text written to stdout.
    pub fn stdout() -> Paint {
        Paint::when(std::io::stdout().is_terminal())
    }

    /// For text written to stderr.
    pub fn stderr() -> Paint {
        Paint::when(std::io::stderr().is_terminal())
    }

    /// `text` in the colour of `role` (producers cyan, consumers magenta, the broker yellow), or as it is.
    pub fn role(self, role: Role, text: &str) -> String {
        if !self.on {
            return text.to_owned();
        }
        let code = match role {
            Role::Producer => 36,
            Role::Consumer => 35,
            Role::Broker | Role::Observer => 33,
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}
