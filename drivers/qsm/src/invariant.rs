//! Protocol invariants, checked in debug builds and in the simulator (feature `invariants`,
//! which `argent-sim` enables), compiled out of release builds otherwise. Each guards a
//! relation between the protocol's own numbers — never a field from the network, which is
//! bounded where it is decoded and handled instead.

/// Asserts `cond` in debug builds and with the feature `invariants`.
macro_rules! invariant {
    ($cond:expr, $($arg:tt)+) => {
        if cfg!(any(debug_assertions, feature = "invariants")) {
            assert!($cond, $($arg)+);
        }
    };
}

/// Whether the expensive invariants (sums over a window) are checked.
pub(crate) const CHECKED: bool = cfg!(any(debug_assertions, feature = "invariants"));

pub(crate) use invariant;
