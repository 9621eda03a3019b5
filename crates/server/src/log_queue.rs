//! The prediction log's bounded queue. A request adds its entry under a
//! short lock and wakes no one unless the queue has reached its wake mark;
//! the writer takes everything at once on its own schedule. A channel would
//! wake the writer for every entry, which under load is one more thread to
//! schedule per request on the cores that serve requests.
//!
//! The bound is in rows (one per predicted key), not entries: an entry
//! holds a request's keys, features and vectors, so a bound in entries
//! bounds nothing when one request carries 1,000 keys.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Why an entry was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The entry's rows do not fit beside those queued (or in the whole queue).
    Full,
    /// The writer has taken its last entries; nothing more will be written.
    Closed,
}

pub struct BoundedQueue<T> {
    state: Mutex<Queued<T>>,
    capacity: usize,
    wake_rows: usize,
}

struct Queued<T> {
    entries: Vec<T>,
    /// Never more than the capacity.
    rows: usize,
    closed: bool,
}

impl<T> BoundedQueue<T> {
    /// Holds at most `capacity` rows (at least one); [`Self::push`] asks
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
            wake_rows: capacity.div_ceil(2).min(wake_rows.max(1)),
        }
    }

    /// The most rows it holds (at least one).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Queued<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `entry` (holding `rows` rows) if they fit beside those queued;
    /// an entry of more rows than the capacity never does. `Ok(true)` when
    /// this entry brought the queue to its wake mark: the caller should
    /// wake the writer. Later entries return `Ok(false)` until the writer
    /// takes them.
    pub fn push(&self, entry: T, rows: usize) -> Result<bool, Refused> {
        let mut queued = self.lock();
        if queued.closed {
            return Err(Refused::Closed);
        }
        if rows > self.capacity - queued.rows {
            return Err(Refused::Full);
        }
        let below = queued.rows < self.wake_rows;
        queued.entries.push(entry);
        queued.rows += rows;
        Ok(below && queued.rows >= self.wake_rows)
    }

    /// Everything queued, in arrival order, and its rows.
    pub fn take(&self) -> (Vec<T>, usize) {
        let mut queued = self.lock();
        (
            std::mem::take(&mut queued.entries),
            std::mem::take(&mut queued.rows),
        )
    }

    /// Everything queued and its rows; later pushes are refused as [`Refused::Closed`].
    pub fn close(&self) -> (Vec<T>, usize) {
        let mut queued = self.lock();
        queued.closed = true;
        (
            std::mem::take(&mut queued.entries),
            std::mem::take(&mut queued.rows),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn wakes_once_at_half_the_rows_and_refuses_rows_beyond_capacity() {
        let queue = BoundedQueue::new(10, 1_000);
        assert_eq!(queue.push('a', 3), Ok(false));
        assert_eq!(
            queue.push('b', 2),
            Ok(true),
            "five rows of ten is the wake mark"
        );
        assert_eq!(
            queue.push('c', 4),
            Ok(false),
            "the writer was already asked for"
        );
        assert_eq!(
            queue.push('d', 2),
            Err(Refused::Full),
            "eleven rows do not fit in ten"
        );
        assert_eq!(queue.push('e', 1), Ok(false), "a smaller entry still fits");
        assert_eq!(queue.push('f', 1), Err(Refused::Full));
        assert_eq!(queue.take(), (vec!['a', 'b', 'c', 'e'], 10));
        assert_eq!(queue.push('g', 4), Ok(false), "taking resets the mark");
        assert_eq!(queue.push('h', 1), Ok(true));
    }

    #[test]
    fn an_entry_larger_than_the_queue_is_refused_even_when_it_is_empty() {
        let queue = BoundedQueue::new(100, 1_000);
        assert_eq!(queue.push("huge", 101), Err(Refused::Full));
        assert_eq!(queue.push("whole", 100), Ok(true));
        assert_eq!(queue.take(), (vec!["whole"], 100));
    }

    #[test]
    fn wakes_at_the_row_mark_before_half_capacity() {
        let queue = BoundedQueue::new(100, 10);
        assert_eq!(queue.push("a", 6), Ok(false));
        assert_eq!(queue.push("b", 6), Ok(true));
        assert_eq!(queue.push("c", 1), Ok(false));
        assert_eq!(queue.take(), (vec!["a", "b", "c"], 13));
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
        queue.push(2, 3).unwrap();
        assert_eq!(queue.close(), (vec![1, 2], 4));
        assert_eq!(queue.push(3, 1), Err(Refused::Closed));
        assert_eq!(queue.take(), (vec![], 0));
    }

    #[test]
    fn a_queue_of_one_row_wakes_on_its_only_entry() {
        let queue = BoundedQueue::new(0, 1_000);
        assert_eq!(queue.capacity(), 1);
        assert_eq!(queue.push('x', 1), Ok(true));
        assert_eq!(queue.push('y', 1), Err(Refused::Full));
    }

    /// Many threads pushing entries of many rows while another takes: no
    /// take ever hands over more rows than the capacity, and every row is
    /// either taken or refused.
    #[test]
    fn concurrent_pushes_never_exceed_the_rows_bound() {
        const CAPACITY: usize = 1_000;
        let queue = Arc::new(BoundedQueue::new(CAPACITY, CAPACITY));
        let pushers: Vec<_> = (0..4)
            .map(|thread| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    let (mut sent, mut refused) = (0, 0);
                    for i in 0..2_000 {
                        let rows = 1 + (i * 7 + thread * 13) % 300;
                        sent += rows;
                        if queue.push(rows, rows).is_err() {
                            refused += rows;
                        }
                    }
                    (sent, refused)
                })
            })
            .collect();
        let mut taken = 0;
        while !pushers.iter().all(std::thread::JoinHandle::is_finished) {
            let (entries, rows) = queue.take();
            assert!(rows <= CAPACITY, "{rows} rows taken at once");
            assert_eq!(entries.iter().sum::<usize>(), rows);
            taken += rows;
        }
        let (entries, rows) = queue.close();
        assert!(rows <= CAPACITY);
        assert_eq!(entries.iter().sum::<usize>(), rows);
        taken += rows;
        let (sent, refused) = pushers
            .into_iter()
            .map(|p| p.join().unwrap())
            .fold((0, 0), |(s, r), (ps, pr)| (s + ps, r + pr));
        assert_eq!(taken + refused, sent);
    }
}
