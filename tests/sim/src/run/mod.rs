//! One seeded run: the event loop, the network and CPU model, fault injection and checkers.

mod app;
mod faults;
mod finish;
mod fragments;
mod gms;
mod group_state;
mod groups;
mod limits;
mod network;
mod object_checks;
mod objects;
mod outcome;
mod replicas;
mod sim;
mod to_log;
mod total_order;

pub use outcome::Outcome;
pub use sim::run;
