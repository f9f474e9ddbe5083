//! Admission checks (transaction envelopes and signatures) on a few low-priority threads.
//!
//! Signature checks of submitted and gossiped transactions are the node's heaviest CPU work.
//! On the default priority they compete with the consensus loop for the same cores, and a
//! flood of submissions delays votes until rounds time out. Here they run on `threads`
//! dedicated threads at a low scheduling priority (niceness 10 on Linux): consensus and
//! block execution come first, admission takes what is left. A full queue is answered `busy`,
//! like a full pool.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tracing::warn;

type Job = Box<dyn FnOnce() + Send>;

/// Checks waiting for a thread; beyond it, submissions are answered busy.
const QUEUE: usize = 4096;

/// The priority of the check threads on `thread_priority`'s 0–99 scale: 22 is niceness 10 on
/// Linux (a tenth of a default thread's CPU share when both want the CPU). Niceness 19 was
/// measured too: saturation throughput alike, but commit latency at a moderate load rose,
/// because gossiped transactions waited too long for their checks.
const PRIORITY: u8 = 22;

/// Why a check could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckPoolError {
    /// Too many checks are waiting.
    #[error("too many admission checks waiting")]
    Busy,
    /// The pool's threads are gone.
    #[error("the admission check threads have stopped")]
    Stopped,
}

/// A pool of low-priority check threads.
#[derive(Clone, Debug)]
pub struct CheckPool {
    tx: SyncSender<Job>,
}

impl CheckPool {
    /// Starts `threads` threads (at least one).
    pub fn start(threads: usize) -> Self {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("custos-admit-{i}")).spawn(move || worker(&rx));
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start an admission check thread");
            }
        }
        CheckPool { tx }
    }

    /// Runs `f` on a check thread and returns its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, CheckPoolError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(CheckPoolError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(CheckPoolError::Stopped),
        }
        result.await.map_err(|_| CheckPoolError::Stopped)
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    let priority = thread_priority::ThreadPriorityValue::try_from(PRIORITY)
        .map(thread_priority::ThreadPriority::Crossplatform)
        .unwrap_or(thread_priority::ThreadPriority::Min);
    if let Err(e) = thread_priority::set_current_thread_priority(priority) {
        warn!(error = ?e, "cannot lower the priority of an admission check thread; it runs at the default priority");
    }
    loop {
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_return_their_results() {
        let pool = CheckPool::start(2);
        let mut sums = Vec::new();
        for i in 0..10u64 {
            sums.push(pool.run(move || (0..=i).sum::<u64>()).await.unwrap());
        }
        assert_eq!(sums, vec![0, 1, 3, 6, 10, 15, 21, 28, 36, 45]);
    }

    #[test]
    fn the_check_threads_run_at_niceness_10() {
        let pool = CheckPool::start(1);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let nice = rt.block_on(pool.run(|| {
            // Field 19 of /proc/thread-self/stat is the niceness.
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let rest = stat.rsplit_once(')').unwrap().1;
            rest.split_whitespace().nth(16).unwrap().parse::<i32>().unwrap()
        }));
        assert_eq!(nice.unwrap(), 10);
    }
}
