//! Cross-kind tests: convergence under every interleaving of per-sender FIFO streams,
//! exact joins from a checkpoint with overlapping deliveries, decoders that never panic.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A kind whose notifications a watcher can replay into a mirror of the state.
trait Watched: LiveObject {
    /// What a watcher rebuilds from notifications alone.
    type Mirror: Default + Debug;
    /// Replay one notification, checking it against the mirror.
    fn watch(mirror: &mut Self::Mirror, change: Self::Change);
    /// Check the mirror against the state.
    fn check(mirror: &Self::Mirror, state: &Self::State);
}

impl Watched for ReplicatedVar<u8> {
    type Mirror = Option<u8>;
    fn watch(mirror: &mut Option<u8>, change: VarChange<u8>) {
        assert_eq!(*mirror, change.old);
        assert_ne!(Some(change.new), change.old, "notified without a change");
        *mirror = Some(change.new);
    }
    fn check(mirror: &Option<u8>, state: &Register<u8>) {
        assert_eq!(mirror.as_ref(), state.get());
    }
}

impl Watched for ReplicatedMap<u8, u8> {
    type Mirror = BTreeMap<u8, u8>;
    fn watch(mirror: &mut BTreeMap<u8, u8>, change: MapChange<u8, u8>) {
        assert_ne!(change.old, change.new, "notified without a change");
        let old = match change.new {
            Some(value) => mirror.insert(change.key, value),
            None => mirror.remove(&change.key),
        };
        assert_eq!(old, change.old);
    }
    fn check(mirror: &BTreeMap<u8, u8>, state: &MapState<u8, u8>) {
        let present: BTreeMap<u8, u8> = state.iter().map(|(&k, &v)| (k, v)).collect();
        assert_eq!(*mirror, present);
        assert_eq!(mirror.len(), state.len());
    }
}

impl Watched for Chat {
    type Mirror = Vec<Post>;
    fn watch(mirror: &mut Vec<Post>, change: ChatChange) {
        assert!(change.index <= mirror.len());
        mirror.insert(change.index, change.post);
    }
    fn check(mirror: &Vec<Post>, state: &History) {
        assert_eq!(mirror.as_slice(), state.posts());
        assert!(state.posts().windows(2).all(|w| w[0].stamp < w[1].stamp));
    }
}

impl Watched for EventStream<u16> {
    type Mirror = Vec<Event<u16>>;
    fn watch(mirror: &mut Vec<Event<u16>>, change: Event<u16>) {
        mirror.push(change);
    }
    fn check(_: &Vec<Event<u16>>, _: &()) {}
}

/// One step of a run; indices are taken modulo the number of proxies.
#[derive(Clone, Debug)]
enum Step<Op> {
    /// Proxy `at` makes an update and sends it.
    Local { at: usize, op: Op },
    /// Proxy `to` receives the next update of sender `from`, if there is one.
    Deliver { to: usize, from: usize },
    /// Proxy `to` receives again an update of `from` that it already has.
    Redeliver { to: usize, from: usize, pick: usize },
}

/// A random run: how many proxies, what they do, and the order the rest is delivered in.
#[derive(Clone, Debug)]
struct Run<Op> {
    proxies: usize,
    steps: Vec<Step<Op>>,
    drain: Vec<usize>,
}

fn run_of<Op: Clone + Debug>(op: impl Strategy<Value = Op>) -> impl Strategy<Value = Run<Op>> {
    let step = prop_oneof![
        3 => (any::<usize>(), op).prop_map(|(at, op)| Step::Local { at, op }),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(to, from)| Step::Deliver { to, from }),
        1 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(to, from, pick)| Step::Redeliver { to, from, pick }),
    ];
    (3..=4usize, prop::collection::vec(step, 0..80), prop::collection::vec(any::<usize>(), 1..32))
        .prop_map(|(proxies, steps, drain)| Run { proxies, steps, drain })
}

/// Proxies connected by a reliable, per-sender FIFO channel that interleaves senders as
/// the run says.
struct Net<O: Watched> {
    proxies: Vec<Proxy<O>>,
    mirrors: Vec<O::Mirror>,
    /// Per sender, every update it sent, in order.
    logs: Vec<Vec<Vec<u8>>>,
    /// `cursors[to][from]`: how many of `from`'s updates `to` has received.
    cursors: Vec<Vec<usize>>,
}

impl<O: Watched> Net<O> {
    fn new(n: usize) -> Self {
        Net {
            proxies: (0..n).map(|i| Proxy::new(origin(i))).collect(),
            mirrors: (0..n).map(|_| O::Mirror::default()).collect(),
            logs: vec![Vec::new(); n],
            cursors: vec![vec![0; n]; n],
        }
    }

    fn step(&mut self, step: Step<O::Op>) {
        let n = self.proxies.len();
        match step {
            Step::Local { at, op } => {
                let bytes = self.proxies[at % n].local(op).expect("encodes");
                self.logs[at % n].push(bytes);
            }
            Step::Deliver { to, from } => self.deliver(to % n, from % n),
            Step::Redeliver { to, from, pick } => {
                let (to, from) = (to % n, from % n);
                let received = self.cursors[to][from];
                if received > 0 {
                    let before = self.proxies[to].stats().duplicates;
                    let result = self.proxies[to].deliver(&self.logs[from][pick % received]);
                    assert_eq!(result.map(|c| c.is_some()), Ok(false));
                    assert_eq!(self.proxies[to].stats().duplicates, before + 1);
                }
            }
        }
    }

    fn deliver(&mut self, to: usize, from: usize) {
        let next = self.cursors[to][from];
        let Some(bytes) = self.logs[from].get(next) else { return };
        let change = self.proxies[to].deliver(bytes).expect("a FIFO delivery applies");
        self.cursors[to][from] += 1;
        if let Some(change) = change {
            O::watch(&mut self.mirrors[to], change);
        }
    }

    /// Deliver everything still in flight, choosing the next (receiver, sender) by `choices`.
    fn drain(&mut self, choices: &[usize]) {
        let n = self.proxies.len();
        for turn in 0.. {
            let pending: Vec<(usize, usize)> = (0..n)
                .flat_map(|to| (0..n).map(move |from| (to, from)))
                .filter(|&(to, from)| self.cursors[to][from] < self.logs[from].len())
                .collect();
            if pending.is_empty() {
                break;
            }
            let (to, from) = pending[choices[turn % choices.len()] % pending.len()];
            self.deliver(to, from);
        }
    }

    /// Every proxy has applied every update, and all agree.
    fn assert_converged(&self) {
        let total: usize = self.logs.iter().map(Vec::len).sum();
        let first = self.proxies[0].checkpoint().expect("checkpoint");
        for (proxy, mirror) in self.proxies.iter().zip(&self.mirrors) {
            assert_eq!(proxy.stats().applied, total as u64);
            assert_eq!(proxy.checkpoint().expect("checkpoint"), first, "states diverged");
            assert_eq!(proxy.position(), self.proxies[0].position());
            assert_eq!(proxy.position().total(), total as u64);
            O::check(mirror, proxy.state());
        }
    }
}

fn origin(index: usize) -> u64 {
    0x1000 + index as u64
}

/// (a): run to quiescence and check that every proxy ends in the same state.
fn converges<O: Watched>(run: Run<O::Op>) -> Net<O> {
    let mut net = Net::<O>::new(run.proxies);
    for step in run.steps {
        net.step(step);
    }
    net.drain(&run.drain);
    net.assert_converged();
    net
}

/// Where and how a proxy joins in the middle of a run.
#[derive(Clone, Debug)]
struct Join {
    /// The member that gives the checkpoint.
    member: usize,
    /// After how many steps of the run it takes it.
    at: usize,
    /// Per sender, where the joiner's deliveries start (taken modulo its mark + 1).
    starts: Vec<usize>,
    /// How many deliveries the joiner buffers before the checkpoint arrives.
    buffered: usize,
    /// The order of the joiner's deliveries.
    order: Vec<usize>,
}

fn join_of() -> impl Strategy<Value = Join> {
    (
        any::<usize>(),
        0..90usize,
        prop::collection::vec(any::<usize>(), 4),
        0..40usize,
        prop::collection::vec(any::<usize>(), 1..32),
    )
        .prop_map(|(member, at, starts, buffered, order)| Join { member, at, starts, buffered, order })
}

/// (b): a joiner restored from a checkpoint taken mid-run, fed every sender's stream from
/// a point at or before its mark (some of it buffered before the checkpoint arrives), ends
/// identical to the others, and its own updates then reach everyone.
fn joins<O: Watched>(run: Run<O::Op>, join: Join, extra: Vec<O::Op>) {
    let n = run.proxies;
    let mut net = Net::<O>::new(n);
    let member = join.member % n;
    let mut snapshot = None;
    for (i, step) in run.steps.into_iter().enumerate() {
        if i == join.at {
            snapshot = Some(snapshot_of(&net.proxies[member]));
        }
        net.step(step);
    }
    let (checkpoint, position) = snapshot.unwrap_or_else(|| snapshot_of(&net.proxies[member]));
    net.drain(&run.drain);

    // The joiner's feed: each sender's stream from a start that overlaps the checkpoint.
    let mut cursors: Vec<usize> = (0..n)
        .map(|from| {
            let mark = position.mark(origin(from)).map_or(0, |m| m.seq) as usize;
            join.starts[from] % (mark + 1)
        })
        .collect();
    let mut feed = Vec::new();
    for turn in 0.. {
        let pending: Vec<usize> = (0..n).filter(|&f| cursors[f] < net.logs[f].len()).collect();
        if pending.is_empty() {
            break;
        }
        let from = pending[join.order[turn % join.order.len()] % pending.len()];
        feed.push(net.logs[from][cursors[from]].clone());
        cursors[from] += 1;
    }

    let joiner_origin = origin(n);
    let mut joining = Joining::<O>::new(joiner_origin);
    let buffered = join.buffered.min(feed.len());
    for bytes in &feed[..buffered] {
        joining.deliver(bytes).expect("buffers");
    }
    let joined = joining.complete(&checkpoint, &position).map_err(|(_, e)| e).expect("joins");
    let mut joiner = joined.proxy;
    for bytes in &feed[buffered..] {
        joiner.deliver(bytes).expect("applies");
    }
    // Exactly the updates the checkpoint does not include were applied, each once.
    let total: u64 = net.logs.iter().map(|log| log.len() as u64).sum();
    assert_eq!(joiner.stats().applied, total - position.total());
    assert_eq!(joiner.stats().duplicates, feed.len() as u64 - joiner.stats().applied);
    assert_eq!(joiner.checkpoint(), net.proxies[0].checkpoint(), "joiner diverged");
    assert_eq!(joiner.position(), net.proxies[0].position());

    // The joiner now takes part: its updates follow everything its checkpoint included.
    for op in extra {
        let bytes = joiner.local(op).expect("encodes");
        let update = Update::<O::Op>::decode(&bytes).expect("decodes");
        assert!(update.stamp.lamport > position.latest_lamport());
        joiner.deliver(&bytes).expect("applies own");
        for proxy in &mut net.proxies {
            proxy.deliver(&bytes).expect("applies joiner's");
        }
    }
    for proxy in &net.proxies {
        assert_eq!(proxy.checkpoint(), joiner.checkpoint());
    }
}

fn snapshot_of<O: LiveObject>(proxy: &Proxy<O>) -> (Vec<u8>, Position) {
    let checkpoint = proxy.checkpoint().expect("checkpoint");
    // The position travels encoded, like the checkpoint.
    let position = Position::decode(&proxy.position().encode().expect("encodes")).expect("decodes");
    (checkpoint, position)
}

fn var_op() -> impl Strategy<Value = VarOp<u8>> {
    (0u8..4).prop_map(VarOp::Set)
}

fn map_op() -> impl Strategy<Value = MapOp<u8, u8>> {
    prop_oneof![(0u8..4, 0u8..3).prop_map(|(k, v)| MapOp::Put(k, v)), (0u8..4).prop_map(MapOp::Remove),]
}

fn chat_op() -> impl Strategy<Value = ChatOp> {
    (0u8..3, "[a-c]{0,3}").prop_map(|(author, text)| ChatOp::Post { author: format!("user{author}"), text })
}

proptest! {
    #[test]
    fn var_converges(run in run_of(var_op())) {
        converges::<ReplicatedVar<u8>>(run);
    }

    #[test]
    fn map_converges(run in run_of(map_op())) {
        converges::<ReplicatedMap<u8, u8>>(run);
    }

    #[test]
    fn chat_converges(run in run_of(chat_op())) {
        converges::<Chat>(run);
    }

    #[test]
    fn stream_delivers_each_event_once_in_sender_order(run in run_of(any::<u16>())) {
        let net = converges::<EventStream<u16>>(run);
        for events in &net.mirrors {
            for (sender, log) in net.logs.iter().enumerate() {
                let sent: Vec<u16> = log
                    .iter()
                    .map(|bytes| Update::<u16>::decode(bytes).expect("decodes").op)
                    .collect();
                let received: Vec<u16> = events
                    .iter()
                    .filter(|e| e.stamp.origin == origin(sender))
                    .map(|e| e.event)
                    .collect();
                prop_assert_eq!(received, sent);
            }
        }
    }

    #[test]
    fn var_joiner_converges(
        run in run_of(var_op()),
        join in join_of(),
        extra in prop::collection::vec(var_op(), 0..3),
    ) {
        joins::<ReplicatedVar<u8>>(run, join, extra);
    }

    #[test]
    fn map_joiner_converges(
        run in run_of(map_op()),
        join in join_of(),
        extra in prop::collection::vec(map_op(), 0..3),
    ) {
        joins::<ReplicatedMap<u8, u8>>(run, join, extra);
    }

    #[test]
    fn chat_joiner_converges(
        run in run_of(chat_op()),
        join in join_of(),
        extra in prop::collection::vec(chat_op(), 0..3),
    ) {
        joins::<Chat>(run, join, extra);
    }

    #[test]
    fn stream_joiner_converges(
        run in run_of(any::<u16>()),
        join in join_of(),
        extra in prop::collection::vec(any::<u16>(), 0..3),
    ) {
        joins::<EventStream<u16>>(run, join, extra);
    }

    /// (c): arbitrary bytes, with or without a valid version byte.
    #[test]
    fn decoders_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..200), versioned: bool) {
        if versioned && !bytes.is_empty() {
            bytes[0] = UPDATE_VERSION;
        }
        decode_everything(&bytes);
    }

    /// (c): valid encodings with a few bytes changed, to reach deep into the decoders.
    #[test]
    fn mutated_encodings_never_panic(
        run in run_of(map_op()),
        which in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), 1..=255u8), 1..4),
        cut in any::<usize>(),
    ) {
        let net = converges::<ReplicatedMap<u8, u8>>(run);
        let proxy = &net.proxies[0];
        let mut samples = vec![proxy.checkpoint().expect("checkpoint"), proxy.position().encode().expect("encodes")];
        samples.extend(net.logs.iter().flatten().cloned());
        let mut bytes = samples[which % samples.len()].clone();
        for (at, xor) in flips {
            let len = bytes.len();
            bytes[at % len] ^= xor;
        }
        decode_everything(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        decode_everything(&bytes);
    }
}

/// Feed `bytes` to every decoder and to proxies and joiners of every kind.
fn decode_everything(bytes: &[u8]) {
    let _ = Update::<VarOp<String>>::decode(bytes);
    let _ = Update::<MapOp<u8, u8>>::decode(bytes);
    let _ = Update::<ChatOp>::decode(bytes);
    let _ = Update::<Vec<u8>>::decode(bytes);
    let _ = Position::decode(bytes);
    let _ = ReplicatedVar::<String>::restore(bytes);
    let _ = ReplicatedMap::<u8, u8>::restore(bytes);
    let _ = ReplicatedMap::<String, Vec<u64>>::restore(bytes);
    let _ = Chat::restore(bytes);
    let _ = EventStream::<u16>::restore(bytes);
    let _ = Proxy::<ReplicatedMap<u8, u8>>::new(1).deliver(bytes);
    let _ = Proxy::<Chat>::new(1).deliver(bytes);
    let _ = Proxy::<Chat>::join(1, bytes, Position::new());
    let _ = Joining::<ReplicatedMap<u8, u8>>::new(1).deliver(bytes);
    // The kinds that need total order.
    let _ = Update::<LogOp<String>>::decode(bytes);
    let _ = Update::<CounterOp>::decode(bytes);
    let _ = Update::<LockOp>::decode(bytes);
    let _ = ReplicatedLog::<String>::restore(bytes);
    let _ = Counter::restore(bytes);
    let _ = Lock::restore(bytes);
    let _ = Proxy::<Counter>::new(1).deliver(bytes);
    let _ = Proxy::<Lock>::new(1).deliver(bytes);
    let _ = Proxy::<ReplicatedLog<u8>>::join(1, bytes, Position::new());
}

// ---- Proxies and joins, step by step. ----

type Var = ReplicatedVar<u8>;

fn sent(proxy: &mut Proxy<Var>, values: &[u8]) -> Vec<Vec<u8>> {
    values.iter().map(|&v| proxy.set(v).expect("encodes")).collect()
}

#[test]
fn a_joiner_skips_what_its_checkpoint_includes() {
    let mut a = Proxy::<Var>::new(1);
    let updates = sent(&mut a, &[1, 2, 3]);
    a.deliver(&updates[0]).unwrap();
    a.deliver(&updates[1]).unwrap();
    let mut joiner = Proxy::<Var>::join(2, &a.checkpoint().unwrap(), a.position().clone()).unwrap();
    assert_eq!(joiner.get(), Some(&2));
    for bytes in &updates {
        joiner.deliver(bytes).unwrap();
    }
    assert_eq!(joiner.get(), Some(&3));
    assert_eq!((joiner.stats().applied, joiner.stats().duplicates), (1, 2));
    assert_eq!(joiner.clock().latest(), 3);
}

#[test]
fn deliver_refuses_gaps_stale_stamps_and_impostors() {
    let mut a = Proxy::<Var>::new(1);
    let updates = sent(&mut a, &[1, 2]);
    let mut b = Proxy::<Var>::new(2);
    assert_eq!(b.deliver(&updates[1]), Err(ObjectError::Gap { origin: 1, expected: 1, found: 2 }));
    assert_eq!(b.get(), None, "nothing applied");
    b.deliver(&updates[0]).unwrap();
    b.deliver(&updates[1]).unwrap();
    let stale = Update { stamp: Stamp { lamport: 1, origin: 1 }, seq: 3, op: VarOp::Set(9u8) };
    assert!(matches!(b.deliver(&stale.encode().unwrap()), Err(ObjectError::StaleStamp { .. })));
    let impostor = Update { stamp: Stamp { lamport: 9, origin: 2 }, seq: 1, op: VarOp::Set(9u8) };
    assert_eq!(b.deliver(&impostor.encode().unwrap()), Err(ObjectError::OriginInUse(2)));
    assert_eq!(b.get(), Some(&2));
}

/// A member holding the key but broken sends a write stamped near `u64::MAX`: taking it
/// would make it win every later conflict and exhaust every clock. It is refused (and
/// counted), and the object goes on taking writes from everyone, the broken sender's next
/// sane update included once it follows its last applied one.
#[test]
fn a_stamp_far_ahead_is_refused_and_the_object_keeps_taking_writes() {
    let mut a = Proxy::<Var>::new(1);
    let mut b = Proxy::<Var>::new(2);
    let first = sent(&mut a, &[1]);
    a.deliver(&first[0]).unwrap();
    b.deliver(&first[0]).unwrap();
    for lamport in [u64::MAX, 2 + MAX_LAMPORT_LEAP] {
        let bad = Update { stamp: Stamp { lamport, origin: 1 }, seq: 2, op: VarOp::Set(66u8) };
        let e = b.deliver(&bad.encode().unwrap()).unwrap_err();
        assert!(matches!(e, ObjectError::StampAhead { origin: 1, seq: 2, latest: 1, .. }), "{e}");
    }
    // Just within the bound: taken (a clock may legitimately be far behind).
    let far =
        Update { stamp: Stamp { lamport: 1 + MAX_LAMPORT_LEAP, origin: 1 }, seq: 2, op: VarOp::Set(7u8) };
    b.deliver(&far.encode().unwrap()).unwrap();
    assert_eq!(b.stats().refused_ahead, 2);
    // b still writes, and its write wins over what came before.
    let mine = b.set(8).unwrap();
    b.deliver(&mine).unwrap();
    assert_eq!(b.get(), Some(&8));
    assert_eq!(b.clock().latest(), 2 + MAX_LAMPORT_LEAP);
}

#[test]
fn a_joiner_needs_a_fresh_origin() {
    let mut a = Proxy::<Var>::new(1);
    let bytes = a.set(1).unwrap();
    a.deliver(&bytes).unwrap();
    let result = Proxy::<Var>::join(1, &a.checkpoint().unwrap(), a.position().clone());
    assert_eq!(result.err(), Some(ObjectError::OriginInUse(1)));
}

#[test]
fn a_checkpoint_that_misses_updates_is_refused_and_a_newer_one_accepted() {
    let mut a = Proxy::<Var>::new(1);
    let updates = sent(&mut a, &[1, 2, 3]);
    a.deliver(&updates[0]).unwrap();
    let old = (a.checkpoint().unwrap(), a.position().clone());
    // The joiner subscribed late: its first delivery from `a` is update 3.
    let mut joining = Joining::<Var>::new(2);
    joining.deliver(&updates[2]).unwrap();
    let (joining, error) = joining.complete(&old.0, &old.1).unwrap_err();
    assert_eq!(error, ObjectError::Gap { origin: 1, expected: 2, found: 3 });
    assert_eq!(joining.backlog(), 1, "the backlog survives a refused checkpoint");
    a.deliver(&updates[1]).unwrap();
    let joined = joining.complete(&a.checkpoint().unwrap(), a.position()).unwrap();
    assert_eq!(joined.proxy.get(), Some(&3));
    assert_eq!(joined.changes.len(), 1);
    assert_eq!(joined.changes[0].new, 3);
}

#[test]
fn a_refused_checkpoint_keeps_the_joiner() {
    let mut joining = Joining::<Var>::new(2);
    let mut a = Proxy::<Var>::new(1);
    joining.deliver(&a.set(1).unwrap()).unwrap();
    let (joining, error) = joining.complete(b"garbage", &Position::new()).unwrap_err();
    assert!(matches!(error, ObjectError::Version { what: "checkpoint", .. }));
    assert_eq!(joining.backlog(), 1);
}

#[test]
fn the_join_backlog_is_bounded() {
    let mut a = Proxy::<Var>::new(1);
    let first = a.set(1).unwrap();
    let limit = first.len() + std::mem::size_of::<Update<VarOp<u8>>>();
    let mut joining = Joining::<Var>::with_limit(2, limit);
    joining.deliver(&first).unwrap();
    assert_eq!(joining.backlog_bytes(), limit);
    let second = a.set(2).unwrap();
    assert_eq!(joining.deliver(&second), Err(ObjectError::BacklogFull { limit }));
    assert_eq!(joining.backlog(), 1);
    let mut own = Proxy::<Var>::new(2);
    assert_eq!(joining.deliver(&own.set(5).unwrap()), Err(ObjectError::OriginInUse(2)));
}

/// A value whose serialisation fails on demand.
#[derive(Debug, serde::Deserialize)]
struct Flaky(bool);

impl serde::Serialize for Flaky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 {
            return Err(serde::ser::Error::custom("refused"));
        }
        s.serialize_newtype_struct("Flaky", &self.0)
    }
}

#[test]
fn a_failed_encoding_consumes_no_sequence_number() {
    let mut a = Proxy::<EventStream<Flaky>>::new(1);
    assert!(matches!(a.publish(Flaky(true)), Err(ObjectError::Encode { what: "update", .. })));
    assert_eq!(a.stats().sent, 0);
    let bytes = a.publish(Flaky(false)).unwrap();
    let update = Update::<Flaky>::decode(&bytes).unwrap();
    assert_eq!((update.seq, update.stamp.lamport), (1, 1));
    assert!(a.deliver(&bytes).unwrap().is_some());
}
