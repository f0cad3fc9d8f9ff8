//! The pictures' drawing board: a few SVG shapes, text escaped, and a time axis. Shared by
//! the two timelines (`counter semaphore --timeline`, `broker --timeline`), so each draws
//! only its own lesson. A leaf: it imports nothing of this crate, and does no I/O.

use std::fmt::Write as _;

/// Colours told apart at a glance (Tableau 10), for permits, producers, consumers.
pub const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7",
];
/// The colour of what went wrong (a redelivery, a consumer gone, the line at K).
pub const ALARM: &str = "#e15759";

/// `text` with the five characters XML reserves escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG document being drawn, on a white page.
pub struct Svg {
    s: String,
}

impl Svg {
    pub fn new(width: f64, height: f64) -> Svg {
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        Svg { s }
    }

    /// Text at (x, y); `anchor` is `start`, `middle` or `end`; `extra` more attributes.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, extra: &str, text: &str) {
        let _ = writeln!(
            self.s,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" {extra}>{}</text>",
            escape(text)
        );
    }

    /// A rectangle, at least half a pixel wide; `class` and `tip` (shown on hover) may be
    /// empty.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, class: &str, tip: &str) {
        self.shape(
            &format!(
                "rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{fill}\"",
                w.max(0.5)
            ),
            class,
            tip,
        );
    }

    /// A line; `extra` more attributes (a dash, an opacity).
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) {
        let _ = writeln!(
            self.s,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\" {extra}/>"
        );
    }

    /// Any element: `element` is its name and attributes, without the angle brackets.
    pub fn shape(&mut self, element: &str, class: &str, tip: &str) {
        let name = element.split(' ').next().unwrap_or(element);
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{class}\"")
        };
        if tip.is_empty() {
            let _ = writeln!(self.s, "<{element}{class}/>");
        } else {
            let _ = writeln!(
                self.s,
                "<{element}{class}><title>{}</title></{name}>",
                escape(tip)
            );
        }
    }

    /// A time axis under a picture: a line from `left` to `right` at `y`, ticks at round
    /// seconds (or tenths, or hundredths) across `secs`, labelled.
    pub fn time_axis(&mut self, left: f64, right: f64, y: f64, secs: f64) {
        self.line((left, y), (right, y), "#888888", "");
        let secs = secs.max(1e-6);
        let step = [
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
        ]
        .into_iter()
        .find(|s| secs / s <= 10.0)
        .unwrap_or(secs / 10.0);
        let decimals = if step >= 1.0 {
            0
        } else if step >= 0.1 {
            1
        } else if step >= 0.01 {
            2
        } else {
            3
        };
        let mut i = 0u32;
        loop {
            let t = f64::from(i) * step;
            if t > secs * 1.0001 {
                break;
            }
            let x = left + t / secs * (right - left);
            self.line((x, y), (x, y + 4.0), "#888888", "");
            self.text(
                x,
                y + 15.0,
                "middle",
                "fill=\"#555555\"",
                &format!("{t:.decimals$} s"),
            );
            i += 1;
        }
    }

    pub fn finish(mut self) -> String {
        self.s.push_str("</svg>\n");
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_shapes_carry_class_and_tip() {
        let mut s = Svg::new(100.0, 50.0);
        s.text(1.0, 2.0, "start", "", "a < b & \"c\"");
        s.rect(0.0, 0.0, 0.0, 5.0, "#000", "mark", "baozi <1>");
        s.rect(0.0, 0.0, 3.0, 5.0, "#000", "", "");
        let out = s.finish();
        assert!(
            out.contains(">a &lt; b &amp; &quot;c&quot;</text>"),
            "{out}"
        );
        assert!(
            out.contains("width=\"0.5\" height=\"5.0\" fill=\"#000\" class=\"mark\"><title>baozi &lt;1&gt;</title></rect>"),
            "{out}"
        );
        assert!(out.contains("fill=\"#000\"/>"), "{out}");
        assert!(out.ends_with("</svg>\n"));
    }

    #[test]
    fn the_time_axis_has_round_ticks_and_reaches_the_end() {
        let mut s = Svg::new(100.0, 50.0);
        s.time_axis(0.0, 100.0, 10.0, 2.5);
        let out = s.finish();
        for label in ["0.0 s", "0.5 s", "2.5 s"] {
            assert!(out.contains(&format!(">{label}</text>")), "{label}: {out}");
        }
        assert!(!out.contains(">3.0 s<"), "{out}");
    }
}
