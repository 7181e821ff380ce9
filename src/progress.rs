//! Progress for long jobs (embedding a corpus, training, batch runs): a bar on a terminal,
//! and a log line every few seconds otherwise, so CI logs and `nohup` runs still show life.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    label: Mutex<String>,
    total: u64,
    done: Mutex<(u64, Instant)>,
    started: Instant,
}

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar
        });
        Progress { bar, label: Mutex::new(label.to_string()), total, done: Mutex::new((0, Instant::now())), started: Instant::now() }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        let Ok(mut done) = self.done.lock() else { return };
        done.0 += n;
        if done.1.elapsed() >= LOG_EVERY {
            done.1 = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            let rate = done.0 as f64 / secs;
            let eta = if rate > 0.0 { (self.total.saturating_sub(done.0)) as f64 / rate } else { f64::NAN };
            let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
            tracing::info!("{label}: {}/{} ({rate:.1}/s, eta {eta:.0}s)", done.0, self.total);
        }
    }

    pub fn set_message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.clone());
        }
        if let Ok(mut l) = self.label.lock() {
            *l = msg;
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        } else {
            let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
            tracing::info!("{label}: {} done in {:.1}s", self.total, self.started.elapsed().as_secs_f64());
        }
    }
}
