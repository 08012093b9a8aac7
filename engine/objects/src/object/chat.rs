//! The chat: a history of posts ordered by stamp.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::{Deserialize, Serialize};

/// A chat room: every proxy's history holds the same posts in stamp order; a post
/// delivered late is inserted in its place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chat;

/// An operation on a [`Chat`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatOp {
    /// Add a post to the history.
    Post {
        /// Who wrote it.
        author: String,
        /// What they wrote.
        text: String,
    },
}

/// One post in a [`Chat`]'s history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// When and by which proxy it was posted; orders the history.
    pub stamp: Stamp,
    /// Who wrote it.
    pub author: String,
    /// What they wrote.
    pub text: String,
}

/// The state of a [`Chat`]: its posts, in strictly increasing stamp order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    posts: Vec<Post>,
}

/// A post was added to a [`Chat`]'s history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatChange {
    /// Where it was inserted: the number of earlier posts (less than the history's length
    /// minus one when it arrived late).
    pub index: usize,
    /// The post.
    pub post: Post,
}

impl History {
    /// The posts, oldest first.
    pub fn posts(&self) -> &[Post] {
        &self.posts
    }

    /// How many posts there are.
    pub fn len(&self) -> usize {
        self.posts.len()
    }

    /// Whether nobody has posted.
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }
}

impl LiveObject for Chat {
    type State = History;
    type Op = ChatOp;
    type Change = ChatChange;

    fn initial() -> History {
        History::default()
    }

    /// Insert the post at its stamp's place; a stamp already present is a repeat.
    fn apply(state: &mut History, stamp: Stamp, op: ChatOp) -> Option<ChatChange> {
        let ChatOp::Post { author, text } = op;
        let index = state.posts.binary_search_by_key(&stamp, |p| p.stamp).err()?;
        let post = Post { stamp, author, text };
        state.posts.insert(index, post.clone());
        Some(ChatChange { index, post })
    }

    fn checkpoint(state: &History) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(&state.posts)
    }

    fn restore(bytes: &[u8]) -> Result<History, ObjectError> {
        let posts: Vec<Post> = decode_checkpoint(bytes)?;
        if let Some(i) = posts.windows(2).position(|w| w[0].stamp >= w[1].stamp) {
            return Err(ObjectError::Malformed {
                what: "checkpoint",
                reason: format!("chat posts {i} and {} are not in stamp order", i + 1),
            });
        }
        Ok(History { posts })
    }
}

impl Proxy<Chat> {
    /// The update that posts `text` by `author` once delivered; send it into the driver.
    pub fn post(
        &mut self,
        author: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Vec<u8>, ObjectError> {
        self.local(ChatOp::Post { author: author.into(), text: text.into() })
    }

    /// The posts delivered so far, oldest first.
    pub fn history(&self) -> &[Post] {
        self.state().posts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(lamport: u64, origin: u64, text: &str) -> (Stamp, ChatOp) {
        let op = ChatOp::Post { author: format!("user{origin}"), text: text.into() };
        (Stamp { lamport, origin }, op)
    }

    #[test]
    fn a_late_post_is_inserted_in_place() {
        let mut h = Chat::initial();
        let (s1, a) = post(1, 1, "first");
        let (s3, c) = post(3, 2, "third");
        let (s2, b) = post(2, 1, "second");
        assert_eq!(Chat::apply(&mut h, s1, a).map(|c| c.index), Some(0));
        assert_eq!(Chat::apply(&mut h, s3, c).map(|c| c.index), Some(1));
        assert_eq!(Chat::apply(&mut h, s2, b.clone()).map(|c| c.index), Some(1), "late");
        assert_eq!(Chat::apply(&mut h, s2, b), None, "repeat");
        let texts: Vec<_> = h.posts().iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["first", "second", "third"]);
    }

    #[test]
    fn checkpoint_restores_and_rejects_disorder() {
        let mut h = Chat::initial();
        for (s, op) in [post(1, 1, "a"), post(2, 2, "b")] {
            Chat::apply(&mut h, s, op);
        }
        let bytes = Chat::checkpoint(&h).unwrap();
        assert_eq!(Chat::restore(&bytes), Ok(h.clone()));
        let mut reversed = h.posts.clone();
        reversed.reverse();
        let bad = encode_checkpoint(&reversed).unwrap();
        assert!(matches!(Chat::restore(&bad), Err(ObjectError::Malformed { .. })));
    }

    #[test]
    fn proxy_posts_on_delivery() {
        let mut p = Proxy::<Chat>::new(1);
        let bytes = p.post("ann", "hi").unwrap();
        assert!(p.history().is_empty());
        p.deliver(&bytes).unwrap();
        assert_eq!(p.history()[0].text, "hi");
        assert_eq!(p.history()[0].author, "ann");
    }
}
