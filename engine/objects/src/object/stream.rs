//! The event stream: events passed through, no replicated state.

use super::error::ObjectError;
use super::kind::LiveObject;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;

/// A stream of events of type `T`: each delivered event is handed to the application
/// once; there is no state, so the checkpoint is empty and a joiner sees only later events.
pub struct EventStream<T> {
    _events: PhantomData<fn() -> T>,
}

/// One delivered event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event<T> {
    /// When and by which proxy it was published.
    pub stamp: Stamp,
    /// The event.
    pub event: T,
}

impl<T: Serialize + DeserializeOwned> LiveObject for EventStream<T> {
    type State = ();
    type Op = T;
    type Change = Event<T>;

    fn initial() {}

    /// Pass the event through.
    fn apply(_: &mut (), stamp: Stamp, event: T) -> Option<Event<T>> {
        Some(Event { stamp, event })
    }

    fn checkpoint(_: &()) -> Result<Vec<u8>, ObjectError> {
        Ok(Vec::new())
    }

    fn restore(bytes: &[u8]) -> Result<(), ObjectError> {
        if !bytes.is_empty() {
            return Err(ObjectError::Malformed {
                what: "checkpoint",
                reason: format!("an event stream has no state, got {} bytes", bytes.len()),
            });
        }
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned> Proxy<EventStream<T>> {
    /// The update that publishes `event`; send it into the driver.
    pub fn publish(&mut self, event: T) -> Result<Vec<u8>, ObjectError> {
        self.local(event)
    }
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventStream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pass_through_once() {
        let mut p = Proxy::<EventStream<Vec<u8>>>::new(5);
        let bytes = p.publish(b"tick".to_vec()).unwrap();
        let event = p.deliver(&bytes).unwrap().unwrap();
        assert_eq!(event.event, b"tick");
        assert_eq!(event.stamp.origin, 5);
        assert_eq!(p.deliver(&bytes), Ok(None), "exactly once");
        assert_eq!(p.checkpoint(), Ok(Vec::new()));
        assert_eq!(EventStream::<Vec<u8>>::restore(&[]), Ok(()));
        assert!(EventStream::<Vec<u8>>::restore(&[1]).is_err());
    }
}
