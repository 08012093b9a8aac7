//! argent-executor-probe: which executor should host a shard?
//!
//! Receiver A is a glommio `LocalExecutor` pinned with `Placement::Fixed`, reading with
//! `glommio::net::UdpSocket::recv_from` (one `recvmsg` per datagram). Receiver B is a plain
//! std thread pinned with `core_affinity`, reading a non-blocking socket with `recvmmsg`
//! batches and parking in `epoll_wait` when the socket is empty. A third, hybrid receiver
//! (`glommio-mmsg`) runs B's recvmmsg batches inside a glommio executor. The sender is a
//! separate process: a pinned thread issuing `sendmmsg` batches of 32.
//!
//! Modes (run with no arguments for usage):
//!   bench     orchestrates: spawns this binary as receiver and sender processes, repeats,
//!             prints medians with min and max (a markdown table on stdout, runs on stderr)
//!   send      sender process
//!   recv      receiver process (`--via glommio|loop|glommio-mmsg`)
//!   timer     periodic timer wake-ups on one core: glommio `timer::sleep` vs `epoll_pwait2`
//!   pingpong  cross-core wake-up round trip: glommio shared channels vs eventfd + epoll
//!   memlock   starts one default glommio executor and reports what it locked or pinned
//!
//! Every mode is bounded in time: each process stops itself after its `--secs` plus a
//! small grace period, whether or not traffic arrived.

mod args;
mod bench;
mod memlock;
mod mmsg;
mod net;
mod os;
mod pingpong;
mod quiet;
mod recv;
mod send;
mod timer;
mod window;

const USAGE: &str = "argent-executor-probe MODE [--key value]...
  bench    [--sizes 8192,1024] [--secs 3] [--repeats 3] [--via glommio,loop[,glommio-mmsg]] [--dest mcast|unicast]
           [--rate DATAGRAMS_PER_S] [--rx-core 1] [--tx-core 0] [--quiet-wait 60]
  send     --size N --secs S --core C [--dest mcast|unicast] [--rate R]
  recv     --via glommio|loop|glommio-mmsg --size N --secs S --core C [--dest mcast|unicast]
           [--batch 32] [--nap-us 0]   (bench passes --batch and --nap-us through)
  timer    --via glommio|loop [--period-us 100] [--secs 2] [--core 1] [--slack-ns N]
  pingpong --via glommio|loop [--secs 2]
  memlock  start one default glommio executor, report memlock limit and pinned memory";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = argv.first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let a = args::parse_args(&argv[1..]);
    match mode.as_str() {
        "bench" => bench::run(&a),
        "send" => send::run(&a),
        "recv" => recv::run(&a),
        "timer" => timer::run(&a),
        "pingpong" => pingpong::run(&a),
        "memlock" => memlock::run(&a),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
