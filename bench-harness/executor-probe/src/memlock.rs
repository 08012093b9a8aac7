//! What one default glommio executor needs: the memlock limit and the memory it pins.

use crate::args::{arg, Args};
use crate::os::{memlock_limit, vm_locked_pinned};

/// Starts one glommio executor with its defaults (10 MiB of io_memory registered with each of
/// its three io_uring rings) and reports whether it started and what it pinned.
pub fn run(a: &Args) {
    use glommio::{LocalExecutorBuilder, Placement};
    let core: usize = arg(a, "core", 1);
    let uid = unsafe { libc::getuid() };
    let r = LocalExecutorBuilder::new(Placement::Fixed(core)).spawn(|| async move {
        let (lck, pin) = vm_locked_pinned();
        format!("vmlck_kb={lck} vmpin_kb={pin}")
    });
    let outcome = match r {
        Ok(h) => match h.join() {
            Ok(v) => format!("started=yes {v}"),
            Err(e) => format!("started=no error={:?}", e.to_string()),
        },
        Err(e) => format!("started=no error={:?}", e.to_string()),
    };
    println!("RESULT role=memlock uid={uid} memlock={} {outcome}", memlock_limit());
}
