//! The prediction log's bounded queue. A request adds its entry under a
//! short lock and wakes no one unless the queue has reached its wake mark;
//! the writer takes everything at once on its own schedule. A channel would
//! wake the writer for every entry, which under load is one more thread to
//! schedule per request on the cores that serve requests.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Why an entry was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds its capacity of entries.
    Full,
    /// The writer has taken its last entries; nothing more will be written.
    Closed,
}

pub struct BoundedQueue<T> {
    state: Mutex<Queued<T>>,
    capacity: usize,
    wake_entries: usize,
    wake_rows: usize,
}

struct Queued<T> {
    entries: Vec<T>,
    rows: usize,
    closed: bool,
}

impl<T> BoundedQueue<T> {
    /// Holds at most `capacity` entries (at least one); [`Self::push`] asks
    /// for the writer once half of them, or `wake_rows` rows, are waiting.
    pub fn new(capacity: usize, wake_rows: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            state: Mutex::new(Queued {
                entries: Vec::new(),
                rows: 0,
                closed: false,
            }),
            capacity,
            wake_entries: capacity.div_ceil(2),
            wake_rows: wake_rows.max(1),
        }
    }

    /// The most entries it holds (at least one).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Queued<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `entry` (holding `rows` rows). `Ok(true)` when this entry
    /// brought the queue to its wake mark: the caller should wake the
    /// writer. Later entries return `Ok(false)` until the writer takes them.
    pub fn push(&self, entry: T, rows: usize) -> Result<bool, Refused> {
        let mut queued = self.lock();
        if queued.closed {
            return Err(Refused::Closed);
        }
        if queued.entries.len() >= self.capacity {
            return Err(Refused::Full);
        }
        let below = queued.entries.len() < self.wake_entries && queued.rows < self.wake_rows;
        queued.entries.push(entry);
        queued.rows += rows;
        let reached = queued.entries.len() >= self.wake_entries || queued.rows >= self.wake_rows;
        Ok(below && reached)
    }

    /// Everything queued, in arrival order.
    pub fn take(&self) -> Vec<T> {
        let mut queued = self.lock();
        queued.rows = 0;
        std::mem::take(&mut queued.entries)
    }

    /// Everything queued; later pushes are refused as [`Refused::Closed`].
    pub fn close(&self) -> Vec<T> {
        let mut queued = self.lock();
        queued.closed = true;
        queued.rows = 0;
        std::mem::take(&mut queued.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_once_at_half_capacity_and_refuses_beyond_capacity() {
        let queue = BoundedQueue::new(4, 1_000);
        assert_eq!(queue.push(1, 1), Ok(false));
        assert_eq!(queue.push(2, 1), Ok(true), "two of four is the wake mark");
        assert_eq!(
            queue.push(3, 1),
            Ok(false),
            "the writer was already asked for"
        );
        assert_eq!(queue.push(4, 1), Ok(false));
        assert_eq!(queue.push(5, 1), Err(Refused::Full));
        assert_eq!(queue.take(), vec![1, 2, 3, 4]);
        assert_eq!(queue.push(6, 1), Ok(false), "taking resets the mark");
        assert_eq!(queue.push(7, 1), Ok(true));
    }

    #[test]
    fn wakes_at_the_row_mark_before_half_capacity() {
        let queue = BoundedQueue::new(100, 10);
        assert_eq!(queue.push("a", 6), Ok(false));
        assert_eq!(queue.push("b", 6), Ok(true));
        assert_eq!(queue.push("c", 1), Ok(false));
        assert_eq!(queue.take(), vec!["a", "b", "c"]);
        assert_eq!(
            queue.push("d", 10),
            Ok(true),
            "one entry can reach the mark"
        );
    }

    #[test]
    fn a_closed_queue_hands_over_its_entries_and_refuses_more() {
        let queue = BoundedQueue::new(10, 10);
        queue.push(1, 1).unwrap();
        queue.push(2, 1).unwrap();
        assert_eq!(queue.close(), vec![1, 2]);
        assert_eq!(queue.push(3, 1), Err(Refused::Closed));
        assert!(queue.take().is_empty());
    }

    #[test]
    fn a_queue_of_one_wakes_on_its_only_entry() {
        let queue = BoundedQueue::new(0, 1_000);
        assert_eq!(queue.capacity(), 1);
        assert_eq!(queue.push('x', 1), Ok(true));
        assert_eq!(queue.push('y', 1), Err(Refused::Full));
    }
}
