//! Timers: retransmissions and timeouts of NOTIFYs (RFC 3261 §17.1.2), completed server transactions forgotten.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    /// Run the timers due at `now`: NOTIFY retransmissions over UDP (timer E), NOTIFY timeouts (timer F,
    /// which end the subscription), and the end of completed server transactions (timer J).
    pub async fn poll(&self, now: Timestamp) -> Vec<Outgoing> {
        let now_ms = now.as_millis();
        // Taken under the queue's lock, removed after it, so requests filing new transactions never wait for
        // the removals.
        let ended = self
            .tx_expiry
            .lock()
            .map(|mut q| q.take_due(now_ms))
            .unwrap_or_default();
        for k in ended {
            self.server_tx.remove(&k);
        }
        let mut out = Vec::new();
        let mut timed_out = Vec::new();
        for mut e in self.client_tx.iter_mut() {
            let (key, tx) = e.pair_mut();
            if now_ms >= tx.deadline_ms {
                timed_out.push((key.clone(), tx.dialog.clone()));
            } else if now_ms >= tx.next_ms {
                out.push(tx.out.clone());
                tx.interval_ms = (tx.interval_ms * 2).min(self.cfg.t2_ms);
                tx.next_ms = now_ms + tx.interval_ms;
            }
        }
        self.stats
            .notify_retransmissions
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        for (branch, dialog) in timed_out {
            self.client_tx.remove(&branch);
            self.stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
            self.end_subscription(now, &dialog).await;
        }
        self.ping_timeouts(now).await;
        // Forget the nonce counts of expired nonces once a minute.
        if let Some(a) = &self.cfg.auth {
            let last = self.last_auth_sweep.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= 60_000
                && self
                    .last_auth_sweep
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                a.sweep(now);
            }
        }
        out
    }
}

/// Completed server transactions in the order they end (timer J is the same for all of them), in chunks of a
/// fixed size: under load the queue holds a million entries, and growing one contiguous buffer would copy
/// them all while requests wait for its lock.
#[derive(Debug, Default)]
pub(super) struct ExpiryQueue {
    pub(super) chunks: VecDeque<VecDeque<(u64, u128)>>,
}

impl ExpiryQueue {
    const CHUNK: usize = 4_096;

    pub(super) fn push(&mut self, until_ms: u64, key: u128) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < Self::CHUNK => c.push_back((until_ms, key)),
            _ => {
                let mut c = VecDeque::with_capacity(Self::CHUNK);
                c.push_back((until_ms, key));
                self.chunks.push_back(c);
            }
        }
    }

    /// The keys due at `now_ms`, from the front.
    pub(super) fn take_due(&mut self, now_ms: u64) -> Vec<u128> {
        let mut due = Vec::new();
        while let Some(front) = self.chunks.front_mut() {
            while front.front().is_some_and(|(t, _)| *t <= now_ms) {
                if let Some((_, k)) = front.pop_front() {
                    due.push(k);
                }
            }
            if front.is_empty() {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_queue_hands_out_what_is_due_in_order_across_chunks() {
        let mut q = ExpiryQueue::default();
        let n = ExpiryQueue::CHUNK * 2 + 10;
        for i in 0..n {
            q.push(i as u64, i as u128);
        }
        assert_eq!(q.chunks.len(), 3);
        assert!(q.take_due(0).len() == 1);
        let due = q.take_due(ExpiryQueue::CHUNK as u64 + 5);
        assert_eq!(due.first(), Some(&1));
        assert_eq!(due.last(), Some(&(ExpiryQueue::CHUNK as u128 + 5)));
        assert_eq!(due.len(), ExpiryQueue::CHUNK + 5);
        assert_eq!(q.chunks.len(), 2);
        assert_eq!(q.take_due(u64::MAX).len(), n - ExpiryQueue::CHUNK - 6);
        assert!(q.chunks.is_empty());
        q.push(7, 7);
        assert_eq!(q.take_due(6), Vec::<u128>::new());
        assert_eq!(q.take_due(7), vec![7]);
    }
}
