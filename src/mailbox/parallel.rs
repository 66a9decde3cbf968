//! Spreading a one-time batch of message work (indexing a folder seen for the first time,
//! converting it to a retrieval format) across the machine's cores.
//!
//! A client is waiting for its SELECT or its POP3 login while this runs, and the work is
//! reading and parsing files that have nothing to do with each other, so it is split into one
//! chunk per core on scoped threads. Small batches stay on the calling thread: starting
//! threads costs more than they would save.

/// `f` over `items`, dropping `None`s, in order; on several threads once there are at least
/// `min_parallel` items.
pub(crate) fn filter_map<T, R, F>(items: &[T], min_parallel: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Option<R> + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < min_parallel || threads < 2 {
        return items.iter().filter_map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().filter_map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_drops_nones_on_either_path() {
        let items: Vec<u32> = (0..1000).collect();
        let odd_squares = |n: &u32| (n % 2 == 1).then_some(n * n);
        let expected: Vec<u32> = items.iter().filter_map(odd_squares).collect();
        assert_eq!(super::filter_map(&items, 10, odd_squares), expected);
        assert_eq!(super::filter_map(&items, usize::MAX, odd_squares), expected);
    }
}
