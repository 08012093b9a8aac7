//! A state rebuilt from a replica: its base, then its log applied as a proxy applies
//! deliveries.

use crate::object::{Admission, LiveObject, ObjectError, Position, Update};

/// A state rebuilt from a base and a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The state's checkpoint (of the kind rebuilt).
    pub checkpoint: Vec<u8>,
    /// Which updates it includes.
    pub position: Position,
    /// Log records applied on top of the base.
    pub applied: usize,
    /// Log records the base already included (written before a compaction that a crash
    /// interrupted before the log was emptied).
    pub skipped: usize,
    /// Why the log was not applied to its end, if it was not (a record that does not
    /// decode or leaves a gap: the state is what came before it).
    pub stopped: Option<ObjectError>,
}

/// The state of kind `O` that a base (`checkpoint` at `position`) and the `log` records
/// written after it make: every record the position does not include is applied in
/// order, as [`crate::object::Proxy::deliver`] would. Fails only if the base does not
/// restore as `O`; a bad record stops the replay there ([`Rebuilt::stopped`]).
pub fn rebuild<O: LiveObject>(
    checkpoint: &[u8],
    position: &Position,
    log: &[&[u8]],
) -> Result<Rebuilt, ObjectError> {
    let mut state = O::restore(checkpoint)?;
    let mut position = position.clone();
    let (mut applied, mut skipped, mut stopped) = (0, 0, None);
    for body in log {
        let step = Update::<O::Op>::decode(body).and_then(|u| Ok((position.admit(u.stamp, u.seq)?, u)));
        match step {
            Ok((Admission::Duplicate, _)) => skipped += 1,
            Ok((Admission::Next, u)) => {
                position.advance(u.stamp, u.seq);
                O::apply(&mut state, u.stamp, u.op);
                applied += 1;
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    if applied == 0 {
        return Ok(Rebuilt { checkpoint: checkpoint.to_vec(), position, applied, skipped, stopped });
    }
    Ok(Rebuilt { checkpoint: O::checkpoint(&state)?, position, applied, skipped, stopped })
}
