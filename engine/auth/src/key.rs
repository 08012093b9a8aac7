//! Cluster keys and their file, and the per-node keys derived from them.
//!
//! A key file holds one or more lines `argent-key v1 epoch=N HEX` (64 hex digits: 32 bytes),
//! with `#` comments. Datagrams are sealed under the highest epoch and accepted under any
//! epoch held. A key is rotated through the membership service (`argent key rotate`: the new
//! epoch [wrapped](ClusterKey::wrap) under the current one travels in the views, and every
//! member adds it), or by hand: add the new epoch to every file, restart, then remove the
//! old one.

use aws_lc_rs::rand::SecureRandom;
use std::fmt::Write as _;
use thiserror::Error;

/// Bytes in a cluster key.
pub const KEY_LEN: usize = 32;
/// Most epochs a key file may hold.
pub const MAX_EPOCHS: usize = 8;
const CONTEXT: &str = "argent 2026-12-04 per-node datagram key v1";
const WRAP_CONTEXT: &str = "argent 2026-12-04 key wrap v1";
/// Bytes of a wrapped key ([`ClusterKey::wrap`]): a random nonce, the encrypted secret and
/// its tag.
pub const WRAPPED_LEN: usize = 12 + KEY_LEN + 16;

/// A secret shared by the members of a cluster, under a key epoch.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// Which key this is: datagrams name the epoch they were sealed under.
    pub epoch: u16,
    secret: [u8; KEY_LEN],
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterKey").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl ClusterKey {
    /// A key from its bytes.
    pub fn from_bytes(epoch: u16, secret: [u8; KEY_LEN]) -> Self {
        ClusterKey { epoch, secret }
    }

    /// A new random key from the operating system's generator.
    pub fn generate(epoch: u16) -> Result<Self, KeyFileError> {
        let mut secret = [0u8; KEY_LEN];
        aws_lc_rs::rand::SystemRandom::new().fill(&mut secret).map_err(|_| KeyFileError::Random)?;
        Ok(ClusterKey { epoch, secret })
    }

    /// The key of node `id`'s datagrams: derived from the cluster key, so every member
    /// computes it, and a datagram sealed under it names its sender.
    pub fn node_key(&self, id: u32) -> [u8; KEY_LEN] {
        let mut input = [0u8; KEY_LEN + 2 + 4];
        input[..KEY_LEN].copy_from_slice(&self.secret);
        input[KEY_LEN..KEY_LEN + 2].copy_from_slice(&self.epoch.to_le_bytes());
        input[KEY_LEN + 2..].copy_from_slice(&id.to_le_bytes());
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, CONTEXT.as_bytes());
        let mut out = [0u8; KEY_LEN];
        salt.extract(&input)
            .expand(&[b"node"], NodeKeyLen)
            .and_then(|okm| okm.fill(&mut out))
            .expect("HKDF-SHA256 yields 32 bytes");
        out
    }

    /// `next` encrypted for the holders of this key, to hand a new epoch to members through
    /// the membership service: AES-256-GCM under a key derived from this one, a random
    /// nonce, both epochs as associated data.
    pub fn wrap(&self, next: &ClusterKey) -> Result<[u8; WRAPPED_LEN], KeyFileError> {
        let mut out = [0u8; WRAPPED_LEN];
        aws_lc_rs::rand::SystemRandom::new().fill(&mut out[..12]).map_err(|_| KeyFileError::Random)?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&out[..12]);
        let (body, tag_out) = out[12..].split_at_mut(KEY_LEN);
        body.copy_from_slice(&next.secret);
        let tag = self
            .wrap_key()
            .seal_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from(wrap_aad(self.epoch, next.epoch)),
                body,
            )
            .map_err(|_| KeyFileError::Random)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The key of epoch `epoch` from what [`ClusterKey::wrap`] made under this key; an error
    /// if it was not made under this key (or was changed).
    pub fn unwrap(&self, epoch: u16, wrapped: &[u8]) -> Result<ClusterKey, KeyFileError> {
        if wrapped.len() != WRAPPED_LEN || epoch == 0 {
            return Err(KeyFileError::Unwrap { epoch, under: self.epoch });
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[..12]);
        let mut body = [0u8; KEY_LEN];
        body.copy_from_slice(&wrapped[12..12 + KEY_LEN]);
        self.wrap_key()
            .open_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from(wrap_aad(self.epoch, epoch)),
                &wrapped[12 + KEY_LEN..],
                &mut body,
            )
            .map_err(|_| KeyFileError::Unwrap { epoch, under: self.epoch })?;
        Ok(ClusterKey { epoch, secret: body })
    }

    fn wrap_key(&self) -> aws_lc_rs::aead::LessSafeKey {
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, WRAP_CONTEXT.as_bytes());
        let mut key = [0u8; KEY_LEN];
        salt.extract(&self.secret)
            .expand(&[b"wrap", &self.epoch.to_le_bytes()], NodeKeyLen)
            .and_then(|okm| okm.fill(&mut key))
            .expect("HKDF-SHA256 yields 32 bytes");
        aws_lc_rs::aead::LessSafeKey::new(
            aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key)
                .expect("32-byte AES-256 key"),
        )
    }

    /// This key as a line of a key file.
    pub fn to_line(&self) -> String {
        let mut s = format!("argent-key v1 epoch={} ", self.epoch);
        for b in self.secret {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

/// A key derived from `secret` for one use (`label`), by HKDF-SHA256.
pub(crate) fn derive(secret: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, CONTEXT.as_bytes());
    let mut out = [0u8; KEY_LEN];
    salt.extract(secret)
        .expand(&[label], NodeKeyLen)
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 yields 32 bytes");
    out
}

fn wrap_aad(under: u16, epoch: u16) -> [u8; 4] {
    let mut aad = [0u8; 4];
    aad[..2].copy_from_slice(&under.to_le_bytes());
    aad[2..].copy_from_slice(&epoch.to_le_bytes());
    aad
}

struct NodeKeyLen;

impl aws_lc_rs::hkdf::KeyType for NodeKeyLen {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

/// The keys of a key file: at least one, epochs distinct, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<ClusterKey>,
}

impl KeyRing {
    /// A ring of one key.
    pub fn single(key: ClusterKey) -> Self {
        KeyRing { keys: vec![key] }
    }

    /// The key datagrams are sealed under: the highest epoch.
    pub fn current(&self) -> &ClusterKey {
        self.keys.last().expect("a key ring holds a key")
    }

    /// The key of `epoch`, if the ring holds it.
    pub fn get(&self, epoch: u16) -> Option<&ClusterKey> {
        self.keys.iter().find(|k| k.epoch == epoch)
    }

    /// Adds `key` if its epoch is new here, dropping the oldest epochs beyond
    /// [`MAX_EPOCHS`]; whether it was added.
    pub fn add(&mut self, key: ClusterKey) -> bool {
        if self.get(key.epoch).is_some() {
            return false;
        }
        self.keys.push(key);
        self.keys.sort_by_key(|k| k.epoch);
        while self.keys.len() > MAX_EPOCHS {
            self.keys.remove(0);
        }
        true
    }

    /// Epochs held, ascending.
    pub fn epochs(&self) -> impl Iterator<Item = u16> + '_ {
        self.keys.iter().map(|k| k.epoch)
    }

    /// A new key file's text: a comment and one fresh key of epoch 1.
    pub fn new_file() -> Result<String, KeyFileError> {
        let key = ClusterKey::generate(1)?;
        Ok(format!(
            "# argent cluster key: every member of the cluster needs this file, nobody else may read it.\n\
             # Rotate with `argent key rotate --key-file FILE --gms ADDRS` while the cluster runs.\n{}\n",
            key.to_line()
        ))
    }

    /// Parses a key file's text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys: Vec<ClusterKey> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let bad = |what: &'static str| KeyFileError::Line { line, what };
            let mut words = l.split_ascii_whitespace();
            if words.next() != Some("argent-key") {
                return Err(bad("a key line starts with `argent-key`"));
            }
            if words.next() != Some("v1") {
                return Err(bad("only version v1 is known"));
            }
            let epoch = words
                .next()
                .and_then(|w| w.strip_prefix("epoch="))
                .and_then(|e| e.parse::<u16>().ok())
                .filter(|e| *e > 0)
                .ok_or(bad("expected epoch=N, N from 1 to 65535"))?;
            let hex = words.next().ok_or(bad("the key's 64 hex digits are missing"))?;
            if words.next().is_some() {
                return Err(bad("unexpected text after the key"));
            }
            let secret = parse_hex(hex).ok_or(bad("the key must be 64 hex digits (32 bytes)"))?;
            if keys.iter().any(|k| k.epoch == epoch) {
                return Err(bad("an epoch appears twice"));
            }
            keys.push(ClusterKey { epoch, secret });
            if keys.len() > MAX_EPOCHS {
                return Err(bad("more than 8 epochs: remove retired keys"));
            }
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        keys.sort_by_key(|k| k.epoch);
        Ok(KeyRing { keys })
    }

    /// Reads and parses a key file.
    pub fn load(path: &std::path::Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyFileError::Read { path: path.display().to_string(), error: e.to_string() })?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }
}

fn parse_hex(s: &str) -> Option<[u8; KEY_LEN]> {
    if s.len() != 2 * KEY_LEN || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A key file that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// A line is malformed.
    #[error("key file line {line}: {what} (make a new file with `argent key new > cluster.key`)")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// No key line.
    #[error("the key file holds no key (make one with `argent key new > cluster.key`)")]
    Empty,
    /// The file could not be read.
    #[error("cannot read key file {path}: {error}")]
    Read {
        /// The path.
        path: String,
        /// The OS error.
        error: String,
    },
    /// The same, naming the file.
    #[error("{path}: {inner}")]
    InFile {
        /// The path.
        path: String,
        /// What is wrong.
        inner: Box<KeyFileError>,
    },
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// A wrapped key that does not open under the key it names.
    #[error("a key of epoch {epoch} handed out under epoch {under} does not open: it was made under another key, or changed")]
    Unwrap {
        /// The wrapped key's epoch.
        epoch: u16,
        /// The epoch it claims to be wrapped under.
        under: u16,
    },
}

impl KeyFileError {
    fn in_file(self, path: &std::path::Path) -> Self {
        KeyFileError::InFile { path: path.display().to_string(), inner: Box::new(self) }
    }
}
