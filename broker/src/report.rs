//! What the broker tells at the end of a run, or on Ctrl-C: the totals line, the timeline
//! drawn, and the exit. The words are `common::msg::run`'s, the same as on Redis.

use crate::serve::{Broker, State};
use common::cli::Result;
use ipc::units::count;
use std::path::Path;
use std::process::ExitCode;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// On Ctrl-C, how long to wait for waiting consumers to be told before exiting anyway.
const FINISH_IN_FLIGHT: Duration = Duration::from_millis(500);

impl Broker {
    /// The end of the run: the totals, the timeline, and the exit: 0, or an error if an
    /// item died or a producer was cut short.
    pub(crate) fn finish(&self) -> Result<ExitCode> {
        let st = self.lock();
        let totals = st.queue.totals();
        self.tell_full_times(&st);
        ipc::elog!("broker: totals: {totals}");
        self.draw_timeline(&st, "")?;
        drop(st);
        match (totals.dead, totals.cut()) {
            (0, 0) => Ok(ExitCode::SUCCESS),
            (dead, cut) => Err(format!(
                "the run ended with {} set aside (after --max-deliveries {}) and {} cut short",
                count(dead, "dead item"),
                self.max_deliveries,
                count(cut as u64, "producer"),
            )
            .into()),
        }
    }

    /// How many times the queue filled up, when more than the once already said.
    fn tell_full_times(&self, st: &State) {
        if st.full_times > 1 {
            self.log(&format!(
                "the queue filled up {} (--capacity {}); producers waited for consumers each time",
                count(st.full_times, "time"),
                self.capacity
            ));
        }
    }

    /// Ctrl-C's last words: tell the waiting consumers, take nothing more in, print the
    /// numbers so far.
    pub(crate) fn last_words(&self) {
        self.stop.raise();
        let mut st = self.lock();
        st.stopping = true;
        self.changed.notify_all();
        let deadline = Instant::now() + FINISH_IN_FLIGHT;
        while st.answering > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.tell_full_times(&st);
        ipc::elog!(
            "broker: totals: {} (stopped before the end)",
            st.queue.totals()
        );
        if let Err(e) = self.draw_timeline(&st, " (stopped by Ctrl-C before the end)") {
            ipc::elog!("broker: {e}");
        }
    }

    /// Draws the timeline into its file, if there is one.
    fn draw_timeline(&self, st: &State, ending: &str) -> Result<()> {
        let (Some(t), Some(svg)) = (&st.timeline, &self.timeline) else {
            return Ok(());
        };
        let totals = st.queue.totals();
        let title = format!(
            "broker: who ate which baozi; {} put by {}, {} eaten by {}{ending}",
            totals.received,
            count(totals.producers.len() as u64, "producer"),
            totals.eaten,
            count(totals.consumers.len() as u64, "consumer"),
        );
        std::fs::write(svg, t.svg(&title, st.queue.unsure()))
            .map_err(|e| format!("cannot write the timeline {}: {e}", svg.display()))?;
        ipc::elog!("broker: timeline drawn in {}", svg.display());
        Ok(())
    }
}

/// Refuses a --timeline FILE that could not be written at the end, before the run starts:
/// a missing folder, a folder in its place.
pub fn check_writable(svg: &Path) -> Result<()> {
    if svg.is_dir() {
        return Err(format!(
            "--timeline {}: that is a folder; name a file, such as run.svg",
            svg.display()
        )
        .into());
    }
    match svg.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "--timeline {}: there is no folder {}; create it first",
            svg.display(),
            dir.display()
        )
        .into()),
        _ => Ok(()),
    }
}
