//! `broker --timeline FILE.svg`: the queue's run as a picture. Only the broker sees every
//! producer and every consumer, so it keeps the record: when each baozi was put, which
//! consumer held it (leased until acknowledged), when it was eaten, and which were given
//! back because their consumer went away, then redelivered to another.
//!
//! Like [`crate::queue`], this is pure: `serve.rs` tells it what happened and when (a time
//! since the broker started), under the queue's lock, and asks for the SVG at the end.
//! It keeps at most [`LIMIT`] deliveries and puts; a longer run is drawn up to there and
//! says so.

use crate::queue::{ConsumerId, Dead, ProducerId};
use common::msg::queue::Delivery;
use common::svg::{ALARM, PALETTE, Svg};
use ipc::units::{count, count_as};
use std::collections::HashSet;
use std::time::Duration;

/// At most this many deliveries (and as many puts) are kept; the rest are only counted.
pub const LIMIT: usize = 10_000;
/// Up to this many deliveries, a thin line joins each baozi's put to its eating.
const JOIN_UP_TO: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still leased when the picture was drawn.
    Held,
    /// Acknowledged.
    Eaten,
    /// Its consumer went away first; it went back to the queue.
    GivenBack,
    /// Its consumer went away first, and it had had its --max-deliveries: set aside.
    Dead,
}

#[derive(Debug)]
struct Held {
    producer: usize,
    seq: u64,
    attempt: u32,
    tag: u64,
    from: Duration,
    to: Duration,
    end: End,
}

#[derive(Debug, Default)]
struct ProducerLane {
    name: String,
    pid: u32,
    /// When each item was put, by its sequence number (the broker takes them in order).
    puts: Vec<Duration>,
}

#[derive(Debug, Default)]
struct ConsumerLane {
    name: String,
    held: Vec<Held>,
    /// `held[..acked]` are settled: every acknowledgement is cumulative, in tag order.
    settled: usize,
    /// When it went away holding items, and how many it gave back.
    gone: Option<(Duration, usize)>,
}

/// The record of one run.
#[derive(Debug, Default)]
pub struct Timeline {
    producers: Vec<ProducerLane>,
    consumers: Vec<ConsumerLane>,
    kept: usize,
    left_off: u64,
    last: Duration,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    pub fn producer(&mut self, id: ProducerId, name: &str, pid: u32) {
        if self.producers.len() <= id {
            self.producers.resize_with(id + 1, ProducerLane::default);
        }
        self.producers[id].name = name.to_owned();
        self.producers[id].pid = pid;
    }

    pub fn put(&mut self, id: ProducerId, seq: u64, at: Duration) {
        self.last = self.last.max(at);
        let lane = &mut self.producers[id];
        if self.kept < LIMIT && lane.puts.len() as u64 == seq {
            lane.puts.push(at);
            self.kept += 1;
        }
    }

    pub fn consumer(&mut self, id: ConsumerId, name: &str) {
        if self.consumers.len() <= id {
            self.consumers.resize_with(id + 1, ConsumerLane::default);
        }
        self.consumers[id].name = name.to_owned();
    }

    pub fn delivered(&mut self, id: ConsumerId, items: &[Delivery], at: Duration) {
        self.last = self.last.max(at);
        for d in items {
            if self.kept >= LIMIT {
                self.left_off += 1;
                continue;
            }
            let Some(producer) = self
                .producers
                .iter()
                .position(|p| *p.name == *d.producer && p.pid == d.pid)
            else {
                continue;
            };
            self.kept += 1;
            self.consumers[id].held.push(Held {
                producer,
                seq: d.seq,
                attempt: d.attempt,
                tag: d.tag,
                from: at,
                to: at,
                end: End::Held,
            });
        }
    }

    /// The consumer acknowledged every tag up to `ack`.
    pub fn acked(&mut self, id: ConsumerId, ack: u64, at: Duration) {
        self.last = self.last.max(at);
        let lane = &mut self.consumers[id];
        while let Some(h) = lane.held.get_mut(lane.settled).filter(|h| h.tag <= ack) {
            h.to = at;
            h.end = End::Eaten;
            lane.settled += 1;
        }
    }

    /// The consumer went away: what it still held was given back, or set aside (`dead`).
    pub fn gone(&mut self, id: ConsumerId, dead: &[Dead], at: Duration) {
        self.last = self.last.max(at);
        let producers = &self.producers;
        let lane = &mut self.consumers[id];
        let mut back = 0;
        for h in &mut lane.held[lane.settled..] {
            h.to = at;
            let name = &producers[h.producer].name;
            h.end = if dead.iter().any(|d| &d.producer == name && d.seq == h.seq) {
                End::Dead
            } else {
                back += 1;
                End::GivenBack
            };
        }
        lane.settled = lane.held.len();
        lane.gone = Some((at, back));
    }

    /// The picture, `title` on top.
    /// `unsure`: items given back by consumers that went away without saying what they
    /// ate: the broker counts acknowledgements, so each of these may have been eaten twice.
    pub fn svg(&self, title: &str, unsure: u64) -> String {
        let (left, width, prow, crow) = (150.0, 760.0, 16.0, 30.0);
        let first = self
            .producers
            .iter()
            .flat_map(|p| p.puts.first())
            .chain(
                self.consumers
                    .iter()
                    .flat_map(|c| c.held.first().map(|h| &h.from)),
            )
            .min()
            .copied()
            .unwrap_or_default();
        let span = self.last.saturating_sub(first).as_secs_f64().max(1e-3);
        let x = |t: Duration| left + t.saturating_sub(first).as_secs_f64() / span * width;
        let colour = |p: usize| PALETTE[p % PALETTE.len()];
        let ptop = 62.0;
        let ctop = ptop + prow * self.producers.len() as f64 + 16.0;
        let bottom = ctop + crow * self.consumers.len() as f64;
        let mut s = Svg::new(left + width + 40.0, bottom + 64.0);
        s.text(left, 20.0, "start", "font-size=\"14\"", title);
        s.text(
            left,
            38.0,
            "start",
            "fill=\"#555555\"",
            "tick: put by its producer · bar: held by a consumer (leased until acknowledged) · \
             dot: eaten (acknowledged), its producer's colour",
        );
        s.text(
            left,
            52.0,
            "start",
            "fill=\"#555555\"",
            "red ring: eaten on a redelivery · red ✕: given back when its consumer went away · \
             black square: dead (--max-deliveries)",
        );

        for (i, p) in self.producers.iter().enumerate() {
            let y = ptop + prow * i as f64;
            let label = format!("{}: {} put", p.name, p.puts.len());
            s.text(left - 8.0, y + prow - 4.0, "end", "", &label);
            for (seq, at) in p.puts.iter().enumerate() {
                let tip = format!("{} put baozi {seq}", p.name);
                s.rect(x(*at), y + 2.0, 1.2, prow - 4.0, colour(i), "put", &tip);
            }
        }

        // Three layers, so that nothing hides a mark: the lanes and what was held, then
        // the lines from each put to its eating, then the marks.
        let lane_mid = |i: usize| ctop + crow * i as f64 + crow / 2.0;
        for (i, c) in self.consumers.iter().enumerate() {
            let (y, mid) = (ctop + crow * i as f64, lane_mid(i));
            let ate = c.held.iter().filter(|h| h.end == End::Eaten).count();
            let label = format!("{}: {} eaten", c.name, ate);
            s.text(left - 8.0, mid + 4.0, "end", "", &label);
            s.line((left, y + crow), (left + width, y + crow), "#eeeeee", "");
            for h in &c.held {
                let (x0, x1) = (x(h.from), x(h.to.max(h.from)));
                let bar = format!(
                    "rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{}\" \
                     fill-opacity=\"0.3\"",
                    mid - 5.0,
                    (x1 - x0).max(0.5),
                    colour(h.producer)
                );
                s.shape(&bar, "held", "");
            }
            if let Some((at, back)) = c.gone {
                let gx = x(at);
                s.line(
                    (gx, y + 1.0),
                    (gx, y + crow - 1.0),
                    ALARM,
                    "stroke-width=\"2\"",
                );
                let note = if back > 0 {
                    format!("{} went away, gave back {back}", c.name)
                } else {
                    format!("{} went away", c.name)
                };
                let attrs = format!("fill=\"{ALARM}\" class=\"gone\"");
                // On the side of the line where it fits.
                if gx < left + width * 0.6 {
                    s.text(gx + 8.0, y + 9.0, "start", &attrs, &note);
                } else {
                    s.text(gx - 8.0, y + 9.0, "end", &attrs, &note);
                }
            }
        }
        let eaten_ones = || {
            self.consumers.iter().enumerate().flat_map(|(i, c)| {
                c.held
                    .iter()
                    .filter(|h| h.end == End::Eaten)
                    .map(move |h| (i, h))
            })
        };
        if self.consumers.iter().map(|c| c.held.len()).sum::<usize>() <= JOIN_UP_TO {
            for (i, h) in eaten_ones() {
                let seq = usize::try_from(h.seq).unwrap_or(usize::MAX);
                if let Some(put) = self.producers[h.producer].puts.get(seq) {
                    let from = (x(*put), ptop + prow * h.producer as f64 + prow - 2.0);
                    let to = (x(h.to), lane_mid(i));
                    s.line(from, to, colour(h.producer), "stroke-opacity=\"0.3\"");
                }
            }
        }
        let (mut redelivered, mut dead) = (0usize, 0usize);
        let mut distinct = HashSet::new();
        for (i, c) in self.consumers.iter().enumerate() {
            let mid = lane_mid(i);
            for h in &c.held {
                let x1 = x(h.to.max(h.from));
                let what = format!("baozi {} from {}", h.seq, self.producers[h.producer].name);
                let attempt = if h.attempt > 1 {
                    format!(" (attempt {})", h.attempt)
                } else {
                    String::new()
                };
                match h.end {
                    End::Held => {}
                    End::Eaten => {
                        distinct.insert((h.producer, h.seq));
                        let (class, ring) = if h.attempt > 1 {
                            redelivered += 1;
                            let ring = format!(" stroke=\"{ALARM}\" stroke-width=\"2.5\"");
                            ("eaten redelivered", ring)
                        } else {
                            ("eaten", " stroke=\"white\" stroke-width=\"0.8\"".to_owned())
                        };
                        let dot = format!(
                            "circle cx=\"{x1:.1}\" cy=\"{mid:.1}\" r=\"4\" fill=\"{}\"{ring}",
                            colour(h.producer)
                        );
                        s.shape(&dot, class, &format!("{what} eaten by {}{attempt}", c.name));
                    }
                    End::GivenBack => {
                        let cross = format!(
                            "path d=\"M{a:.1},{b:.1} L{c:.1},{d:.1} M{a:.1},{d:.1} L{c:.1},{b:.1}\" \
                             stroke=\"{ALARM}\" stroke-width=\"2\"",
                            a = x1 - 4.0,
                            b = mid - 4.0,
                            c = x1 + 4.0,
                            d = mid + 4.0
                        );
                        let tip = format!("{what}{attempt}: given back, {} went away", c.name);
                        s.shape(&cross, "given-back", &tip);
                    }
                    End::Dead => {
                        dead += 1;
                        let tip = format!("{what}: dead{attempt}");
                        s.rect(x1 - 4.0, mid - 4.0, 8.0, 8.0, "black", "dead", &tip);
                    }
                }
            }
        }
        s.time_axis(left, left + width, bottom + 6.0, span);
        // Acknowledgements are cumulative and counted once: that is what the broker knows.
        let mut summary = format!(
            "{} eaten by {}: acknowledged once each",
            count_as(distinct.len() as u64, "baozi", "baozi"),
            count(self.consumers.len() as u64, "consumer"),
        );
        if unsure > 0 {
            summary.push_str(&format!(
                "; up to {unsure} may also have been eaten by a consumer that went away"
            ));
        }
        summary.push_str(&format!(
            "; {redelivered} eaten on a redelivery; {dead} dead"
        ));
        if self.left_off > 0 {
            summary.push_str(&format!(
                "; drawn up to the first {LIMIT} events, {} left off",
                count_as(self.left_off, "delivery", "deliveries")
            ));
        }
        s.text(left, bottom + 46.0, "start", "", &summary);
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delivery(tag: u64, producer: &str, seq: u64, attempt: u32) -> Delivery {
        Delivery {
            tag,
            producer: producer.into(),
            pid: 7,
            seq,
            attempt,
            payload: Vec::new(),
        }
    }

    /// Two producers, two consumers; c0 goes away holding p1's item 1, which c1 then eats.
    fn run() -> Timeline {
        let mut t = Timeline::new();
        t.producer(0, "p0", 7);
        t.producer(1, "p1", 7);
        t.consumer(0, "c0");
        t.consumer(1, "c1");
        t.put(0, 0, ms(1));
        t.put(1, 0, ms(2));
        t.put(1, 1, ms(3));
        t.delivered(
            0,
            &[delivery(1, "p0", 0, 1), delivery(2, "p1", 0, 1)],
            ms(4),
        );
        t.delivered(1, &[delivery(1, "p1", 1, 1)], ms(4));
        t.acked(0, 1, ms(10));
        t.gone(1, &[], ms(12));
        t.delivered(0, &[delivery(3, "p1", 1, 2)], ms(13));
        t.acked(0, 3, ms(20));
        t
    }

    #[test]
    fn every_item_is_drawn_once_where_it_was_eaten_and_redeliveries_are_ringed() {
        let svg = run().svg("a run", 0);
        assert_eq!(svg.matches("class=\"eaten\"").count(), 2, "{svg}");
        assert_eq!(
            svg.matches("class=\"eaten redelivered\"").count(),
            1,
            "{svg}"
        );
        assert_eq!(svg.matches("class=\"given-back\"").count(), 1, "{svg}");
        assert!(
            svg.contains("baozi 1 from p1 eaten by c0 (attempt 2)"),
            "{svg}"
        );
        assert!(svg.contains("c1 went away, gave back 1"), "{svg}");
        assert!(svg.contains(">c0: 3 eaten</text>"), "{svg}");
        assert!(svg.contains(">c1: 0 eaten</text>"), "{svg}");
        assert!(
            svg.contains(
                "3 baozi eaten by 2 consumers: acknowledged once each; 1 eaten on a redelivery; 0 dead"
            ),
            "{svg}"
        );
        assert_eq!(svg.matches("class=\"put\"").count(), 3, "{svg}");
    }

    #[test]
    fn an_item_past_its_max_deliveries_is_drawn_dead() {
        let mut t = run();
        t.put(0, 1, ms(21));
        t.delivered(1, &[delivery(2, "p0", 1, 5)], ms(22));
        let dead = Dead {
            producer: "p0".into(),
            seq: 1,
            deliveries: 5,
        };
        t.gone(1, &[dead], ms(23));
        let svg = t.svg("a run", 1);
        assert_eq!(svg.matches("class=\"dead\"").count(), 1, "{svg}");
        assert!(svg.contains("; 1 dead"), "{svg}");
        assert!(
            svg.contains("up to 1 may also have been eaten by a consumer that went away"),
            "{svg}"
        );
    }

    #[test]
    fn a_long_run_is_drawn_up_to_the_limit_and_says_so() {
        let mut t = Timeline::new();
        t.producer(0, "p0", 7);
        t.consumer(0, "c0");
        for seq in 0..LIMIT as u64 {
            t.put(0, seq, ms(seq));
        }
        t.delivered(
            0,
            &[delivery(1, "p0", 0, 1), delivery(2, "p0", 1, 1)],
            ms(5),
        );
        t.acked(0, 2, ms(6));
        let svg = t.svg("a long run", 0);
        assert!(svg.contains("2 deliveries left off"), "{svg}");
        assert_eq!(svg.matches("class=\"eaten\"").count(), 0, "{svg}");
    }
}
