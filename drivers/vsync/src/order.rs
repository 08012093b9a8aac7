//! The sequencer's runs and a member's delivery in their order.

use crate::frame::{Run, MAX_RUN_LEN};
use std::collections::{BTreeMap, VecDeque};

/// One datagram of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatagramId {
    pub stream: u32,
    pub seq: u64,
}

/// A datagram delivered in total order, with what the caller held for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordered<M> {
    pub id: DatagramId,
    pub item: M,
}

/// Why the orderer refused an input. Each is an inconsistency of the streams fed to it (QSM
/// hands each stream over exactly once and in order, and the sequencer names each datagram
/// once): the caller counts it and drops the input, the orderer is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("datagram {seq} of stream {stream} is not the next one held ({expected})")]
    NotNextHeld { stream: u32, seq: u64, expected: u64 },
    #[error(
        "order run of stream {stream} from {from} does not come after the last one ordered ({expected} - 1)"
    )]
    NotNextOrdered { stream: u32, from: u64, expected: u64 },
    #[error("the flush needs datagram {seq} of stream {stream}, which is not held")]
    Missing { stream: u32, seq: u64 },
}

/// The sequencer's side: every datagram of the view, in the order it arrived here, as runs.
#[derive(Debug, Default)]
pub struct Sequencer {
    runs: VecDeque<Run>,
    noted: BTreeMap<u32, u64>,
}

impl Sequencer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Note datagram `seq` of `stream`, as QSM delivered it here (the sequencer's own at
    /// seal). Streams are FIFO, so it usually extends the last run.
    pub fn note(&mut self, stream: u32, seq: u64) {
        let last = self.noted.insert(stream, seq);
        // In order; datagrams without application messages in between are not noted.
        debug_assert!(last.is_none_or(|l| l < seq), "QSM hands each stream over in order");
        match self.runs.back_mut() {
            Some(r) if r.stream == stream && r.last() + 1 == seq && r.len < MAX_RUN_LEN => r.len += 1,
            _ => self.runs.push_back(Run { stream, from: seq, len: 1 }),
        }
    }

    /// Up to `max` runs to publish, oldest first.
    pub fn take(&mut self, max: usize) -> Vec<Run> {
        let n = max.min(self.runs.len());
        self.runs.drain(..n).collect()
    }

    /// Runs not taken yet.
    pub fn pending(&self) -> usize {
        self.runs.len()
    }

    /// A new view: what was not published of the old one is dropped (the flush orders it).
    pub fn reset(&mut self) {
        self.runs.clear();
    }
}

/// One stream at a member.
#[derive(Debug)]
struct Stream<M> {
    /// The last datagram held or delivered (streams arrive in order): what reports call
    /// `have`. `None` before the first.
    received: Option<u64>,
    /// The last datagram a run named.
    ordered: Option<u64>,
    held: BTreeMap<u64, M>,
}

impl<M> Default for Stream<M> {
    fn default() -> Self {
        Stream { received: None, ordered: None, held: BTreeMap::new() }
    }
}

/// A member's side: datagrams held per stream, and the sequencer's runs in its order;
/// [`Orderer::poll`] delivers a datagram once the first run not yet delivered names it.
#[derive(Debug)]
pub struct Orderer<M> {
    streams: BTreeMap<u32, Stream<M>>,
    runs: VecDeque<Run>,
    /// How far into the first run delivery got.
    done_in_run: u32,
    held: usize,
}

impl<M> Default for Orderer<M> {
    fn default() -> Self {
        Orderer { streams: BTreeMap::new(), runs: VecDeque::new(), done_in_run: 0, held: 0 }
    }
}

impl<M> Orderer<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `stream` starts for this member: after datagram `after` (a joiner's join point,
    /// from the state it was given). Without it, a stream starts at the first datagram held
    /// or ordered.
    pub fn start_stream(&mut self, stream: u32, after: u64) {
        let s = self.streams.entry(stream).or_default();
        (s.received, s.ordered) = (Some(after), Some(after));
    }

    /// Hold datagram `id` until the order names it. A stream's datagrams come in order,
    /// from its first one this member receives.
    pub fn hold(&mut self, id: DatagramId, item: M) -> Result<(), OrderError> {
        self.receive(id)?.held.insert(id.seq, item);
        self.held += 1;
        Ok(())
    }

    /// A datagram that is not ordered (it holds no application message): the stream goes
    /// on past it.
    pub fn skip(&mut self, id: DatagramId) -> Result<(), OrderError> {
        self.receive(id).map(|_| ())
    }

    /// The stream moves on to datagram `id`, the next one after what it received.
    fn receive(&mut self, id: DatagramId) -> Result<&mut Stream<M>, OrderError> {
        let s = self.streams.entry(id.stream).or_default();
        if let Some(r) = s.received.filter(|r| id.seq != r + 1) {
            return Err(OrderError::NotNextHeld { stream: id.stream, seq: id.seq, expected: r + 1 });
        }
        s.received = Some(id.seq);
        Ok(s)
    }

    /// Append the sequencer's next runs (from its stream, in order). Each must start after
    /// the last run of its stream (datagrams between them are not ordered: [`Orderer::skip`]);
    /// the first run of a stream may start anywhere.
    pub fn order(&mut self, runs: &[Run]) -> Result<(), OrderError> {
        // Checked as a whole first: a refused frame changes nothing.
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for r in runs {
            let last =
                next.get(&r.stream).copied().or_else(|| self.streams.get(&r.stream).and_then(|s| s.ordered));
            if let Some(l) = last {
                if r.from <= l {
                    return Err(OrderError::NotNextOrdered {
                        stream: r.stream,
                        from: r.from,
                        expected: l + 1,
                    });
                }
            }
            next.insert(r.stream, r.last());
        }
        for (stream, last) in next {
            self.streams.entry(stream).or_default().ordered = Some(last);
        }
        self.runs.extend(runs.iter().copied());
        Ok(())
    }

    /// The next datagram in total order, if the order names it and it is held.
    pub fn poll(&mut self) -> Option<Ordered<M>> {
        let run = *self.runs.front()?;
        let seq = run.from + u64::from(self.done_in_run);
        let item = self.streams.get_mut(&run.stream)?.held.remove(&seq)?;
        self.held -= 1;
        self.done_in_run += 1;
        if self.done_in_run == run.len {
            self.runs.pop_front();
            self.done_in_run = 0;
        }
        Some(Ordered { id: DatagramId { stream: run.stream, seq }, item })
    }

    /// The last datagram of `stream` held or skipped (contiguously), if any.
    pub fn received(&self, stream: u32) -> Option<u64> {
        self.streams.get(&stream).and_then(|s| s.received)
    }

    /// Forget the streams `gone` says are gone (senders no longer in the view), with what they
    /// held; returns how many datagrams that dropped.
    pub fn forget(&mut self, gone: impl Fn(u32) -> bool) -> usize {
        let mut dropped = 0;
        self.streams.retain(|&k, s| {
            let keep = !gone(k);
            if !keep {
                dropped += s.held.len();
            }
            keep
        });
        self.held -= dropped;
        self.runs.retain(|r| !gone(r.stream));
        dropped
    }

    /// How far this member holds each stream (contiguously): its flush report's `have`.
    pub fn have(&self) -> Vec<(u32, u64)> {
        self.streams.iter().filter_map(|(&k, s)| s.received.map(|r| (k, r))).collect()
    }

    /// Datagrams held and not delivered yet.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Runs (or parts of runs) not delivered yet.
    pub fn runs_pending(&self) -> usize {
        self.runs.len()
    }

    /// What this member still lacks of `ends` (each stream up to its end), as `(stream,
    /// from, to)`: the datagrams after the last it received, which a survivor relays.
    pub fn missing(&self, ends: &BTreeMap<u32, u64>) -> Vec<(u32, u64, u64)> {
        ends.iter()
            .filter_map(|(&stream, &end)| {
                let from = self.streams.get(&stream).and_then(|s| s.received).unwrap_or(0) + 1;
                (from <= end).then_some((stream, from, end))
            })
            .collect()
    }

    /// Close the view at `ends` (the last datagram of each stream the view keeps, the same at
    /// every survivor: [`crate::stream_ends`]). Delivers what is left in one order every
    /// survivor computes alike: the runs, up to the first datagram past its stream's end;
    /// then every other held datagram within the ends, by stream and sequence number.
    /// Datagrams past the ends (of departed senders: nobody else has them) are dropped and
    /// counted. Fails, changing nothing, while a datagram the runs name within the ends is
    /// not held (relay it first: [`Orderer::missing`]).
    pub fn finish_view(&mut self, ends: &BTreeMap<u32, u64>) -> Result<ViewEnd<M>, OrderError> {
        let within = |stream: u32, seq: u64| ends.get(&stream).is_some_and(|&e| seq <= e);
        // The ordered part: check first, so that a failure changes nothing.
        let mut ordered = Vec::new();
        let mut skip = self.done_in_run;
        'runs: for run in &self.runs {
            for k in skip..run.len {
                let seq = run.from + u64::from(k);
                if !within(run.stream, seq) {
                    break 'runs;
                }
                if !self.streams.get(&run.stream).is_some_and(|s| s.held.contains_key(&seq)) {
                    return Err(OrderError::Missing { stream: run.stream, seq });
                }
                ordered.push(DatagramId { stream: run.stream, seq });
            }
            skip = 0;
        }
        if let Some((stream, have)) = ends.iter().find_map(|(&s, &e)| {
            let r = self.streams.get(&s).and_then(|st| st.received).unwrap_or(0);
            (r < e).then_some((s, r))
        }) {
            return Err(OrderError::Missing { stream, seq: have + 1 });
        }
        let mut delivered = Vec::with_capacity(self.held);
        for id in ordered {
            let item = self.streams.get_mut(&id.stream).and_then(|s| s.held.remove(&id.seq));
            delivered.extend(item.map(|item| Ordered { id, item }));
        }
        let mut dropped = 0;
        for (&stream, s) in &mut self.streams {
            let Some(&end) = ends.get(&stream) else {
                // No survivor reported it (a sender outside the view): nothing of it is kept.
                dropped += s.held.len();
                s.held.clear();
                continue;
            };
            let rest = s.held.split_off(&(end + 1));
            dropped += rest.len();
            let kept = std::mem::take(&mut s.held);
            delivered
                .extend(kept.into_iter().map(|(seq, item)| Ordered { id: DatagramId { stream, seq }, item }));
            // Checked above: it received up to `end`. The next view continues from there.
            (s.ordered, s.received) = (Some(end), Some(end));
        }
        self.runs.clear();
        self.done_in_run = 0;
        self.held = 0;
        Ok(ViewEnd { delivered, dropped })
    }
}

/// What closing a view delivered, and how many datagrams past the ends it dropped.
#[derive(Debug)]
pub struct ViewEnd<M> {
    pub delivered: Vec<Ordered<M>>,
    pub dropped: usize,
}
