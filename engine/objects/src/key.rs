//! Per-object keys: every frame of an authenticated object (`auth = "key"` in its
//! reference) ends with a 16-byte keyed BLAKE3 MAC over the frame. Refusals never carry one
//! (a joiner with the wrong key must be able to read that it was refused).

use crate::frame::{split, HEADER, TAG_REFUSED};
use crate::reference::ObjectId;

/// Bytes of the MAC that ends every frame of an authenticated object.
pub const MAC_LEN: usize = 16;

/// A per-object key: 32 bytes, written as 64 hexadecimal digits. Every process allowed to
/// join an authenticated object holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectKey([u8; 32]);

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKey(..)") // never in logs
    }
}

impl ObjectKey {
    /// A key from 32 random bytes of the operating system.
    pub fn generate() -> std::io::Result<ObjectKey> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(std::io::Error::from)?;
        Ok(ObjectKey(k))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ObjectKey {
        ObjectKey(bytes)
    }

    /// Parses 64 hexadecimal digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<ObjectKey, String> {
        let t = text.trim();
        let mut k = [0u8; 32];
        hex::decode_to_slice(t, &mut k).map_err(|e| match e {
            hex::FromHexError::InvalidStringLength | hex::FromHexError::OddLength => {
                format!("an object key is 64 hexadecimal digits (got {} characters)", t.chars().count())
            }
            e => format!("an object key is 64 hexadecimal digits: {e}"),
        })?;
        Ok(ObjectKey(k))
    }

    /// The 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The MAC of `bytes` under this key.
    pub fn mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let h = blake3::keyed_hash(&self.0, bytes);
        let mut m = [0u8; MAC_LEN];
        m.copy_from_slice(&h.as_bytes()[..MAC_LEN]);
        m
    }

    /// Whether `mac` is the MAC of `bytes`, compared in constant time.
    pub fn verify(&self, bytes: &[u8], mac: &[u8]) -> bool {
        let expected = self.mac(bytes);
        mac.len() == MAC_LEN && expected.iter().zip(mac).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
    }
}

/// A new object id: 128 random bits from the operating system (ids must be unique among
/// every object anyone creates).
pub fn new_object_id() -> std::io::Result<ObjectId> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(std::io::Error::from)?;
    Ok(ObjectId(u128::from_le_bytes(b)))
}

/// `frame` with its MAC under `key` appended (nothing for refusals, or without a key).
pub fn sign(mut frame: Vec<u8>, key: Option<&ObjectKey>) -> Vec<u8> {
    if let (Some(k), false) = (key, frame.first() == Some(&TAG_REFUSED)) {
        let mac = k.mac(&frame);
        frame.extend_from_slice(&mac);
    }
    frame
}

/// A frame of one object, checked against its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened<'a> {
    /// Authentic (or the object has no key): the tag and the body, MAC removed.
    Authentic(u8, &'a [u8]),
    /// Of this object, but its MAC is wrong or missing: the tag and what follows the header.
    Forged(u8, &'a [u8]),
}

/// The frame `m` if it is object `id`'s, checked against `key`; `None` for another
/// object's frame, or one shorter than a header. Never panics.
pub fn open<'a>(id: ObjectId, key: Option<&ObjectKey>, m: &'a [u8]) -> Option<Opened<'a>> {
    let (tag, object, all) = split(m)?;
    if object != id.0 {
        return None;
    }
    let Some(key) = key.filter(|_| tag != TAG_REFUSED) else { return Some(Opened::Authentic(tag, all)) };
    let Some(signed) = m.len().checked_sub(MAC_LEN).filter(|&n| n >= HEADER) else {
        return Some(Opened::Forged(tag, all));
    };
    let body = &m[HEADER..signed];
    Some(if key.verify(&m[..signed], &m[signed..]) {
        Opened::Authentic(tag, body)
    } else {
        Opened::Forged(tag, body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, TAG_UPDATE};
    use proptest::prelude::*;

    #[test]
    fn keys_round_trip_as_hex_and_refuse_bad_text() {
        let k = ObjectKey::generate().unwrap();
        assert_eq!(ObjectKey::from_hex(&format!("  {}\n", k.to_hex())).unwrap(), k);
        let short = ObjectKey::from_hex("abc").unwrap_err();
        assert!(short.contains("64 hexadecimal digits (got 3"), "{short}");
        let bad = ObjectKey::from_hex(&"zz".repeat(32)).unwrap_err();
        assert!(bad.contains("64 hexadecimal digits"), "{bad}");
        assert_eq!(format!("{k:?}"), "ObjectKey(..)");
    }

    #[test]
    fn a_signed_frame_opens_only_under_its_key() {
        let (id, k, other) = (ObjectId(7), ObjectKey::from_bytes([1; 32]), ObjectKey::from_bytes([2; 32]));
        let f = sign(encode(TAG_UPDATE, id.0, &[b"body"]), Some(&k));
        assert_eq!(open(id, Some(&k), &f), Some(Opened::Authentic(TAG_UPDATE, &b"body"[..])));
        assert!(matches!(open(id, Some(&other), &f), Some(Opened::Forged(TAG_UPDATE, _))));
        assert_eq!(open(ObjectId(8), Some(&k), &f), None, "another object's frame");
        let unsigned = encode(TAG_UPDATE, id.0, &[b"body"]);
        assert!(matches!(open(id, Some(&k), &unsigned), Some(Opened::Forged(..))));
        // Refusals carry no MAC and open as authentic.
        let refusal = sign(encode(TAG_REFUSED, id.0, &[b"x"]), Some(&k));
        assert_eq!(refusal.len(), HEADER + 1);
        assert_eq!(open(id, Some(&k), &refusal), Some(Opened::Authentic(TAG_REFUSED, &b"x"[..])));
    }

    proptest! {
        #[test]
        fn opening_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let k = ObjectKey::from_bytes([3; 32]);
            let _ = open(ObjectId(0), Some(&k), &bytes);
            let _ = open(ObjectId(0), None, &bytes);
        }
    }
}
