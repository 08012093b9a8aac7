//! Sealing and opening datagrams.
//!
//! A sealed datagram is `body | trailer`, the trailer [`TRAILER`] bytes:
//! `version (1) | mode (1) | epoch (2) | sender (4) | channel (4) | counter (8) | tag (16)`,
//! little-endian. The tag is AES-256-GCM's, under the sender's node key of that epoch, with
//! the nonce `channel | counter`. In `aead` mode the body travels encrypted, with the trailer
//! before the tag as associated data. In `mac` mode it travels in the clear and the tag is
//! GMAC's (AES-GCM with nothing to encrypt and the body as associated data) under a key
//! derived for `mac` from the node key; the trailer's fields are bound through the key
//! (epoch, sender, mode, version) and the nonce (channel, counter). Neither side copies the
//! body: a sender can send it as is with the trailer beside it ([`Sealer::trailer`]). Counters count up per sender
//! channel from the time the sealer was made (nanoseconds), so a restarted sender continues
//! above its earlier datagrams and receivers keep one replay window per sender channel.

use crate::key::{KeyRing, KEY_LEN};
use crate::window::{ReplayWindow, Seen};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::collections::{HashMap, HashSet};

/// Bytes a sealed datagram carries beyond its body.
pub const TRAILER: usize = 36;
const HEAD: usize = TRAILER - TAG;
const TAG: usize = 16;
const VERSION: u8 = 1;
/// Most sender channels a receiver keeps replay windows for (about 9 MB at most).
pub const MAX_WINDOWS: usize = 65_536;

/// How datagrams are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Authenticated: a tag over header and body; the body stays readable.
    Mac,
    /// Authenticated and encrypted (AEAD): the body is sealed too.
    Aead,
}

impl Mode {
    fn byte(self) -> u8 {
        match self {
            Mode::Mac => 0,
            Mode::Aead => 1,
        }
    }

    /// The name reports use: `"mac"` or `"aead"`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Mac => "mac",
            Mode::Aead => "aead",
        }
    }
}

/// One sender's key for one epoch, in one mode: the node key itself for `aead`, a key
/// derived from it for `mac` (so the two constructions never share a key, and the mode and
/// format version are bound to the tag through the key).
struct NodeKeys {
    key: LessSafeKey,
}

impl NodeKeys {
    fn new(node_key: [u8; KEY_LEN], mode: Mode) -> Self {
        let key = match mode {
            Mode::Aead => node_key,
            Mode::Mac => crate::key::derive(&node_key, b"gmac v1"),
        };
        NodeKeys { key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("32-byte AES-256 key")) }
    }

    /// The `mac` tag (GMAC) of `body`. The trailer's fields are bound without being in it:
    /// epoch and sender choose the key, channel and counter make the nonce, mode and
    /// version are in the key's derivation.
    fn mac(&self, body: &[u8], nonce: Nonce) -> [u8; TAG] {
        let t = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(body), &mut [])
            .expect("GMAC signs any datagram-sized input");
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(t.as_ref());
        tag
    }

    /// Whether `tag` is the `mac` tag of `body` (compared in constant time by aws-lc).
    fn check_mac(&self, body: &[u8], nonce: Nonce, tag: &[u8; TAG]) -> bool {
        self.key.open_in_place_separate_tag(nonce, Aad::from(body), tag, &mut []).is_ok()
    }
}

fn nonce(channel: u32, counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&channel.to_le_bytes());
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Seals a node's datagrams (one per thread that sends: counters are its own).
pub struct Sealer {
    id: u32,
    mode: Mode,
    epoch: u16,
    keys: NodeKeys,
    start: u64,
    counters: HashMap<u32, u64>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl Sealer {
    /// Node `id`'s sealer under the ring's current key, its counters starting at the time
    /// of day in nanoseconds (above any earlier incarnation's).
    pub fn new(ring: &KeyRing, id: u32, mode: Mode) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self::starting_at(ring, id, mode, start)
    }

    /// As [`Sealer::new`], counters starting above `start` (a simulation's virtual clock).
    pub fn starting_at(ring: &KeyRing, id: u32, mode: Mode, start: u64) -> Self {
        let key = ring.current();
        Sealer {
            id,
            mode,
            epoch: key.epoch,
            keys: NodeKeys::new(key.node_key(id), mode),
            start,
            counters: HashMap::new(),
        }
    }

    /// Seal under `ring`'s current key from now on (a rotation); counters go on, so
    /// receivers' replay windows hold across epochs.
    pub fn rekey(&mut self, ring: &KeyRing) {
        let key = ring.current();
        if key.epoch != self.epoch {
            self.epoch = key.epoch;
            self.keys = NodeKeys::new(key.node_key(self.id), self.mode);
        }
    }

    /// The epoch datagrams are sealed under.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Appends `body` sealed on `channel` to `out`.
    pub fn seal(&mut self, channel: u32, body: &[u8], out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(body);
        out.extend_from_slice(&[0; TRAILER]);
        self.seal_in_place(channel, &mut out[at..]);
    }

    /// Seals in place: `buf` holds the body followed by [`TRAILER`] bytes of room, which
    /// receive the trailer (in `aead` mode the body is encrypted where it is).
    ///
    /// # Panics
    /// If `buf` is shorter than a trailer.
    pub fn seal_in_place(&mut self, channel: u32, buf: &mut [u8]) {
        let len = buf.len().checked_sub(TRAILER).expect("room for the trailer");
        let (head, nonce) = self.next(channel);
        buf[len..len + HEAD].copy_from_slice(&head);
        let tag = match self.mode {
            Mode::Mac => self.keys.mac(&buf[..len], nonce),
            Mode::Aead => {
                let t = self
                    .keys
                    .key
                    .seal_in_place_separate_tag(nonce, Aad::from(&head), &mut buf[..len])
                    .expect("AES-GCM seals any datagram-sized body");
                let mut tag = [0u8; TAG];
                tag.copy_from_slice(t.as_ref());
                tag
            }
        };
        buf[len + HEAD..].copy_from_slice(&tag);
    }

    /// `mac` mode: the trailer that follows `body` on the wire, without copying the body
    /// (send the two together; the body is unchanged). `None` in `aead` mode, where the body
    /// itself is encrypted: use [`Sealer::seal_in_place`].
    pub fn trailer(&mut self, channel: u32, body: &[u8]) -> Option<[u8; TRAILER]> {
        if self.mode != Mode::Mac {
            return None;
        }
        let (head, nonce) = self.next(channel);
        let mut t = [0u8; TRAILER];
        t[..HEAD].copy_from_slice(&head);
        t[HEAD..].copy_from_slice(&self.keys.mac(body, nonce));
        Some(t)
    }

    /// The next counter of `channel`: the trailer's fields and the nonce.
    fn next(&mut self, channel: u32) -> ([u8; HEAD], Nonce) {
        let counter = self.counters.entry(channel).or_insert(self.start);
        *counter += 1;
        let mut head = [0u8; HEAD];
        head[0] = VERSION;
        head[1] = self.mode.byte();
        head[2..4].copy_from_slice(&self.epoch.to_le_bytes());
        head[4..8].copy_from_slice(&self.id.to_le_bytes());
        head[8..12].copy_from_slice(&channel.to_le_bytes());
        head[12..20].copy_from_slice(&counter.to_le_bytes());
        (head, nonce(channel, *counter))
    }
}

/// Why a datagram was refused. Each kind is counted in [`OpenStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Shorter than a trailer.
    Short,
    /// An unknown trailer version.
    Version,
    /// Sealed in the other mode (`mac` where the cluster encrypts, or the reverse).
    Mode,
    /// A key epoch this receiver does not hold.
    Epoch,
    /// From a sender outside the view.
    NotMember,
    /// The tag does not match: forged, corrupted, or sealed under another key.
    Forged,
    /// A counter already accepted from that sender channel.
    Replay,
    /// A counter older than the sender channel's replay window.
    Stale,
    /// No room for another sender channel's replay window.
    Full,
}

/// Datagrams opened and refused, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenStats {
    /// Accepted.
    pub opened: u64,
    /// Shorter than a trailer.
    pub short: u64,
    /// Unknown version.
    pub version: u64,
    /// Other mode.
    pub mode: u64,
    /// Unknown key epoch.
    pub epoch: u64,
    /// Sender outside the view.
    pub not_member: u64,
    /// Bad tag.
    pub forged: u64,
    /// Replayed counter.
    pub replay: u64,
    /// Counter older than the window.
    pub stale: u64,
    /// Window table full.
    pub full: u64,
}

impl OpenStats {
    /// Every refusal.
    pub fn refused(&self) -> u64 {
        self.short
            + self.version
            + self.mode
            + self.epoch
            + self.not_member
            + self.forged
            + self.replay
            + self.stale
            + self.full
    }

    fn count(&mut self, r: Refusal) {
        let c = match r {
            Refusal::Short => &mut self.short,
            Refusal::Version => &mut self.version,
            Refusal::Mode => &mut self.mode,
            Refusal::Epoch => &mut self.epoch,
            Refusal::NotMember => &mut self.not_member,
            Refusal::Forged => &mut self.forged,
            Refusal::Replay => &mut self.replay,
            Refusal::Stale => &mut self.stale,
            Refusal::Full => &mut self.full,
        };
        *c += 1;
    }

    /// Adds `o`'s counts.
    pub fn merge(&mut self, o: &OpenStats) {
        self.opened += o.opened;
        self.short += o.short;
        self.version += o.version;
        self.mode += o.mode;
        self.epoch += o.epoch;
        self.not_member += o.not_member;
        self.forged += o.forged;
        self.replay += o.replay;
        self.stale += o.stale;
        self.full += o.full;
    }
}

/// A datagram that passed: who sealed it, on which channel, and its body's length (the body
/// is the datagram's first `len` bytes, decrypted in `aead` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The sender's node id, proven by the tag.
    pub sender: u32,
    /// The sender's channel.
    pub channel: u32,
    /// Body length.
    pub len: usize,
}

struct Trailer {
    mode: u8,
    epoch: u16,
    sender: u32,
    channel: u32,
    counter: u64,
    tag: [u8; TAG],
}

fn trailer(d: &[u8]) -> Result<(usize, Trailer, [u8; HEAD]), Refusal> {
    let len = d.len().checked_sub(TRAILER).ok_or(Refusal::Short)?;
    let t = &d[len..];
    if t[0] != VERSION {
        return Err(Refusal::Version);
    }
    let mut head = [0u8; HEAD];
    head.copy_from_slice(&t[..HEAD]);
    let u32_at = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&t[12..20]);
    let mut tag = [0u8; TAG];
    tag.copy_from_slice(&t[HEAD..]);
    Ok((
        len,
        Trailer {
            mode: t[1],
            epoch: u16::from_le_bytes([t[2], t[3]]),
            sender: u32_at(4),
            channel: u32_at(8),
            counter: u64::from_le_bytes(counter),
            tag,
        },
        head,
    ))
}

/// Opens the datagrams a node receives: checks the trailer, the sender, the replay window
/// and the tag, in that order, and allocates nothing for a datagram that fails.
pub struct Opener {
    ring: KeyRing,
    mode: Mode,
    members: Option<HashSet<u32>>,
    keys: HashMap<(u16, u32), NodeKeys>,
    windows: HashMap<(u32, u32), ReplayWindow>,
    /// Keys derived for the datagram being checked, cached once it passes.
    pending: Option<((u16, u32), NodeKeys)>,
    stats: OpenStats,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").field("mode", &self.mode).field("windows", &self.windows.len()).finish()
    }
}

impl Opener {
    /// Opens datagrams sealed under any key of `ring` in `mode`, from any sender.
    pub fn new(ring: KeyRing, mode: Mode) -> Self {
        Opener {
            ring,
            mode,
            members: None,
            keys: HashMap::new(),
            windows: HashMap::new(),
            pending: None,
            stats: OpenStats::default(),
        }
    }

    /// Accept only these senders (the view's members), dropping the windows and keys of
    /// others; `None`: any holder of the key.
    pub fn set_members(&mut self, members: Option<HashSet<u32>>) {
        if let Some(m) = &members {
            self.windows.retain(|(s, _), _| m.contains(s));
            self.keys.retain(|(_, s), _| m.contains(s));
        }
        self.members = members;
    }

    /// Also open datagrams sealed under `key` (a new epoch handed out by the membership
    /// service); whether it was new.
    pub fn add_key(&mut self, key: crate::key::ClusterKey) -> bool {
        self.ring.add(key)
    }

    /// The keys datagrams are opened under.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Counts so far.
    pub fn stats(&self) -> OpenStats {
        self.stats
    }

    /// The mode datagrams must be sealed in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Checks a `mac` datagram without changing it (its body is `d[..len]`). An `aead`
    /// opener refuses here with [`Refusal::Mode`]: use [`Opener::open`].
    pub fn verify(&mut self, d: &[u8]) -> Result<Opened, Refusal> {
        let r = self.check(d);
        self.tally(r)
    }

    /// Checks a datagram and, in `aead` mode, decrypts its body in place (`d[..len]`).
    pub fn open(&mut self, d: &mut [u8]) -> Result<Opened, Refusal> {
        let r = self.check_mut(d);
        self.tally(r)
    }

    /// Checks a datagram and writes its body, decrypted in `aead` mode, to `out[..len]`:
    /// one pass where [`Opener::open`] would need a copy first (read-only receive buffers).
    ///
    /// # Panics
    /// If `out` is shorter than the body.
    pub fn open_into(&mut self, d: &[u8], out: &mut [u8]) -> Result<Opened, Refusal> {
        let r = self.check_into(d, out);
        self.tally(r)
    }

    fn tally(&mut self, r: Result<Opened, Refusal>) -> Result<Opened, Refusal> {
        match r {
            Ok(_) => self.stats.opened += 1,
            Err(e) => self.stats.count(e),
        }
        r
    }

    fn check_mut(&mut self, d: &mut [u8]) -> Result<Opened, Refusal> {
        if self.mode == Mode::Mac {
            return self.check(d);
        }
        let (len, t, head) = trailer(d)?;
        let aead = &self.keys_for(&t)?.key;
        aead.open_in_place_separate_tag(nonce(t.channel, t.counter), Aad::from(&head), &t.tag, &mut d[..len])
            .map_err(|_| Refusal::Forged)?;
        self.accept(&t)?;
        Ok(Opened { sender: t.sender, channel: t.channel, len })
    }

    fn check_into(&mut self, d: &[u8], out: &mut [u8]) -> Result<Opened, Refusal> {
        if self.mode == Mode::Mac {
            let o = self.check(d)?;
            out[..o.len].copy_from_slice(&d[..o.len]);
            return Ok(o);
        }
        let (len, t, head) = trailer(d)?;
        let aead = &self.keys_for(&t)?.key;
        aead.open_separate_gather(
            nonce(t.channel, t.counter),
            Aad::from(&head),
            &d[..len],
            &t.tag,
            &mut out[..len],
        )
        .map_err(|_| Refusal::Forged)?;
        self.accept(&t)?;
        Ok(Opened { sender: t.sender, channel: t.channel, len })
    }

    fn check(&mut self, d: &[u8]) -> Result<Opened, Refusal> {
        let (len, t, _) = trailer(d)?;
        if self.mode != Mode::Mac {
            return Err(Refusal::Mode);
        }
        if !self.keys_for(&t)?.check_mac(&d[..len], nonce(t.channel, t.counter), &t.tag) {
            return Err(Refusal::Forged);
        }
        self.accept(&t)?;
        Ok(Opened { sender: t.sender, channel: t.channel, len })
    }

    /// The checks before the tag, then the sender's keys: cached, or derived and held in
    /// `pending` until the datagram passes.
    fn keys_for(&mut self, t: &Trailer) -> Result<&NodeKeys, Refusal> {
        self.pending = None;
        self.admit(t)?;
        let id = (t.epoch, t.sender);
        if !self.keys.contains_key(&id) {
            let key = self.ring.get(t.epoch).expect("admitted").node_key(t.sender);
            return Ok(&self.pending.insert((id, NodeKeys::new(key, self.mode))).1);
        }
        Ok(&self.keys[&id])
    }

    /// The checks before the tag: mode, epoch, membership, window.
    fn admit(&self, t: &Trailer) -> Result<(), Refusal> {
        if t.mode != self.mode.byte() {
            return Err(Refusal::Mode);
        }
        if self.ring.get(t.epoch).is_none() {
            return Err(Refusal::Epoch);
        }
        if self.members.as_ref().is_some_and(|m| !m.contains(&t.sender)) {
            return Err(Refusal::NotMember);
        }
        match self.windows.get(&(t.sender, t.channel)).map(|w| w.check(t.counter)) {
            Some(Seen::Replay) => return Err(Refusal::Replay),
            Some(Seen::Stale) => return Err(Refusal::Stale),
            _ => {}
        }
        Ok(())
    }

    /// After the tag held: mark the counter, and cache the sender's keys.
    fn accept(&mut self, t: &Trailer) -> Result<(), Refusal> {
        let k = (t.sender, t.channel);
        if !self.windows.contains_key(&k) && self.windows.len() >= MAX_WINDOWS {
            return Err(Refusal::Full);
        }
        self.windows.entry(k).or_default().mark(t.counter);
        if let Some((id, keys)) = self.pending.take() {
            if self.keys.len() < MAX_WINDOWS {
                self.keys.insert(id, keys);
            }
        }
        Ok(())
    }
}
