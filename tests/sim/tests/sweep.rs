//! Bounded seed sweeps: the simulator's checkers over every fault, small enough for CI.

use argent_sim::{run, Driver, Faults, GmsSim, Outcome, Sabotage, Scenario};

fn sweep(sc: &Scenario, seeds: std::ops::Range<u64>) -> Vec<Outcome> {
    sc.validate().expect("valid scenario");
    seeds
        .map(|seed| {
            let o = run(sc, seed);
            assert_eq!(
                o.violations, 0,
                "seed {seed} failed: {:?}\nreplay with argent-sim --seed {seed} --seeds 1 and the same settings",
                o.details
            );
            assert_eq!(o.delivered, o.expected, "seed {seed}");
            o
        })
        .collect()
}

fn faults(list: &str) -> Faults {
    list.parse().expect("known faults")
}

#[test]
fn every_fault_small_cluster() {
    let mut sc = Scenario::new(7, 2, 1500, 600, 0.1);
    sc.faults = faults("dup,reorder,jitter,burst,slow,pause,crash");
    sweep(&sc, 1..201);
}

#[test]
fn view_change_that_changes_the_partition_count() {
    // 10 members form 2 partitions, 9 form 1; 15 form 3, 14 form 2: after the crash every
    // sequence number has a new owning partition, and gaps must still be repaired.
    for nodes in [10, 15] {
        let mut sc = Scenario::new(nodes, 2, 1500, 1000, 0.1);
        sc.faults = faults("crash,reorder");
        sweep(&sc, 800..810);
    }
}

#[test]
fn multi_partition_ring_under_loss() {
    let mut sc = Scenario::new(33, 3, 800, 1000, 0.05);
    sc.faults = faults("dup,reorder");
    sweep(&sc, 100..106);
}

#[test]
fn heavy_loss_with_crash_and_pause() {
    let mut sc = Scenario::new(12, 3, 1000, 1000, 0.25);
    sc.faults = faults("crash,pause,burst");
    sweep(&sc, 200..260);
}

#[test]
fn leader_crash_hands_over_the_ring() {
    // Node 0 (the region leader) is the only receiver, so the crash fault hits it.
    let mut sc = Scenario::new(4, 3, 1500, 1000, 0.05);
    sc.faults = faults("crash");
    let outcomes = sweep(&sc, 300..304);
    assert!(outcomes.iter().all(|o| o.expected == 3 * 3 * 1500), "the leader was the crashed member");
}

#[test]
fn small_messages_are_aggregated() {
    let mut sc = Scenario::new(6, 2, 20_000, 16, 0.02);
    sc.qsm.datagram_size = 1400;
    let o = &sweep(&sc, 400..402)[0];
    assert!(o.rounds > 0);
}

#[test]
fn single_member_region() {
    let sc = Scenario::new(1, 1, 500, 100, 0.0);
    sweep(&sc, 500..501);
}

#[test]
fn token_is_small_and_peers_repair_almost_all_loss() {
    let sc = Scenario::new(25, 1, 3000, 1000, 0.02);
    for o in sweep(&sc, 600..603) {
        assert!(o.max_token_bytes <= 800, "token of {} bytes", o.max_token_bytes);
        assert!(o.lost_datagrams > 0);
        assert!(
            o.sender_retransmissions * 20 <= o.lost_datagrams,
            "sender retransmitted {} of {} lost datagrams",
            o.sender_retransmissions,
            o.lost_datagrams
        );
        assert!(o.peer_repairs > 0);
    }
}

#[test]
fn a_token_does_not_grow_with_the_region() {
    // 25 and 400 members (5 and 80 partitions), one stream: the same token size, well
    // under the 1 000 bytes issue 15 allows at 1 000 members.
    let size = |nodes| {
        let sc = Scenario::new(nodes, 1, 300, 1000, 0.01);
        sweep(&sc, 650..651)[0].max_token_bytes
    };
    let (small, large) = (size(25), size(400));
    assert!(large <= small + 16 && large <= 400, "token of {small} bytes at 25 members, {large} at 400");
}

#[test]
fn a_large_region_delivers_as_fast_per_member_as_a_small_one() {
    // 25 members (5 partitions, the leader starts all four others) and 400 (80 partitions,
    // a tree of depth two), 1% loss: the partitions recover in parallel, so a member of the
    // large region gets its messages about as fast as one of the small (with partitions
    // visited one after another it was 0.19 of it; decision 013).
    let per_member = |nodes: u32| {
        let sc = Scenario::new(nodes, 1, 2000, 1000, 0.01);
        let out = &sweep(&sc, 660..661)[0];
        out.delivered as f64 / out.virtual_secs / f64::from(nodes)
    };
    let (small, large) = (per_member(25), per_member(400));
    assert!(large >= 0.85 * small, "{large:.0} msgs/s per member at 400 members, {small:.0} at 25");
}

#[test]
fn a_seed_replays_exactly() {
    let mut sc = Scenario::new(9, 2, 1000, 500, 0.1);
    sc.faults = faults("dup,reorder,jitter,pause,crash");
    let a = serde_json::to_string(&run(&sc, 77)).expect("json");
    let b = serde_json::to_string(&run(&sc, 77)).expect("json");
    assert_eq!(a, b);
    let c = serde_json::to_string(&run(&sc, 78)).expect("json");
    assert_ne!(a, c, "different seeds give different runs");
}

#[test]
fn slow_receiver_slows_the_sender() {
    let mut paced = Scenario::new(6, 1, 6000, 1000, 0.0);
    paced.faults = faults("slow");
    let mut unpaced = paced.clone();
    unpaced.qsm.min_rate = unpaced.qsm.max_rate;
    unpaced.qsm.initial_rate = unpaced.qsm.max_rate;
    for seed in 700..703 {
        let p = run(&paced, seed);
        let u = run(&unpaced, seed);
        assert_eq!(p.violations, 0, "{:?}", p.details);
        assert_eq!(u.violations, 0, "{:?}", u.details);
        assert!(
            p.overflow_drops * 2 < u.overflow_drops,
            "seed {seed}: paced overflowed {} times, unpaced {}",
            p.overflow_drops,
            u.overflow_drops
        );
    }
}

#[test]
fn checker_catches_a_lost_delivery() {
    let mut sc = Scenario::new(4, 1, 300, 100, 0.0);
    sc.sabotage = Sabotage::DropDelivery { node: 2, nth: 100 };
    let o = run(&sc, 1);
    assert!(o.violations > 0);
    assert!(o.details.iter().any(|d| d.contains("node 2") && d.contains("gap")), "{:?}", o.details);
}

#[test]
fn checker_catches_a_duplicate_delivery() {
    let mut sc = Scenario::new(4, 1, 300, 100, 0.0);
    sc.sabotage = Sabotage::DuplicateDelivery { node: 1, nth: 5 };
    let o = run(&sc, 1);
    assert!(o.details.iter().any(|d| d.contains("node 1: duplicate")), "{:?}", o.details);
}

#[test]
fn checker_catches_a_stall_without_view_change() {
    // A crashed member that is never removed stops token rounds: nothing is acknowledged.
    let mut sc = Scenario::new(5, 1, 3000, 1000, 0.0);
    sc.faults = faults("crash");
    sc.liveness = std::time::Duration::from_secs(1);
    sc.sabotage = Sabotage::NoViewChange;
    let o = run(&sc, 3);
    assert!(o.violations > 0, "a stalled ring must be reported");
    assert!(
        o.details.iter().any(|d| d.contains("liveness")
            || d.contains("not acknowledged")
            || d.contains("published only")),
        "{:?}",
        o.details
    );
}

#[test]
fn bad_scenarios_are_refused_with_the_flag_named() {
    let e = Scenario::new(3, 4, 10, 100, 0.0).validate().unwrap_err().to_string();
    assert!(e.contains("--senders"), "{e}");
    let e = Scenario::new(3, 1, 10, 8, 0.0).validate().unwrap_err().to_string();
    assert!(e.contains("--size"), "{e}");
    let e = Scenario::new(3, 1, 10, (16 << 20) + 1, 0.0).validate().unwrap_err().to_string();
    assert!(e.contains("--size") && e.contains("16777216"), "{e}");
    let e = Scenario::new(3, 1, 10, 100, 1.5).validate().unwrap_err().to_string();
    assert!(e.contains("--loss"), "{e}");
    let e = "dup,wobble".parse::<Faults>().unwrap_err().to_string();
    assert!(e.contains("wobble") && e.contains("crash"), "{e}");
}

#[test]
fn acceptance_shape_every_fault_heavy_loss() {
    // The shape of the fault acceptance run, smaller: 25 members, 3 senders, 20% loss.
    let mut sc = Scenario::new(25, 3, 1500, 1000, 0.2);
    sc.faults = faults("dup,reorder,slow,pause,crash");
    sweep(&sc, 1000..1100);
}

#[test]
fn fifty_members_many_partitions() {
    let mut sc = Scenario::new(50, 4, 600, 1000, 0.05);
    sc.faults = faults("burst,jitter,crash");
    sweep(&sc, 1100..1106);
}

fn with_gms(mut sc: Scenario) -> Scenario {
    sc.gms = Some(GmsSim::default());
    sc
}

#[test]
fn membership_churn_gms_crash_and_partitions() {
    // The shape of issue 4's acceptance run, smaller: receivers leave and join again, the GMS
    // leader crashes, a partition cuts receivers (and maybe a replica) off and heals.
    let mut sc = with_gms(Scenario::new(12, 2, 1500, 1000, 0.05));
    sc.faults = faults("churn,crash,gms-crash,partition");
    let outcomes = sweep(&sc, 2000..2040);
    let joiners: u64 = outcomes.iter().map(|o| o.joiners_checked).sum();
    let rejoins: u64 = outcomes.iter().map(|o| o.rejoins).sum();
    assert!(joiners >= 40 && rejoins >= 40, "churn exercised joins: {joiners} joiners, {rejoins} rejoins");
    assert!(outcomes.iter().all(|o| o.view_disagreements == 0));
    assert!(outcomes.iter().any(|o| o.evictions > 0), "some partition outlasted the eviction timeout");
}

#[test]
fn membership_with_every_data_fault() {
    let mut sc = with_gms(Scenario::new(9, 2, 1000, 800, 0.1));
    sc.faults = faults("dup,reorder,jitter,burst,slow,churn,partition");
    sweep(&sc, 2100..2120);
}

#[test]
fn membership_run_replays_exactly() {
    let mut sc = with_gms(Scenario::new(8, 2, 800, 500, 0.05));
    sc.faults = faults("churn,gms-crash,partition");
    let a = serde_json::to_string(&run(&sc, 9)).expect("json");
    let b = serde_json::to_string(&run(&sc, 9)).expect("json");
    assert_eq!(a, b);
}

#[test]
fn checker_catches_a_skipped_view() {
    // Node 3 is the sender: never churned, so it installs every view; churn makes views
    // after the four registrations.
    let mut sc = with_gms(Scenario::new(4, 1, 3000, 1000, 0.0));
    sc.faults = faults("churn");
    sc.sabotage = Sabotage::SkipView { node: 3, view: 2 };
    let o = run(&sc, 1);
    assert!(o.view_disagreements > 0, "{:?}", o.details);
    assert!(o.details.iter().any(|d| d.contains("node 3") && d.contains("skipped")), "{:?}", o.details);
}

#[test]
fn membership_faults_need_the_gms() {
    let mut sc = Scenario::new(4, 1, 300, 100, 0.0);
    sc.faults = faults("churn");
    let e = sc.validate().unwrap_err().to_string();
    assert!(e.contains("GMS"), "{e}");
}

#[test]
fn membership_under_heavy_loss_with_every_fault() {
    // A fifth of all datagrams lost, GMS traffic included, while members churn, crash and
    // are partitioned and the GMS leader crashes: no live sender may be evicted by mistake.
    let mut sc = with_gms(Scenario::new(12, 2, 1000, 1000, 0.2));
    sc.faults = faults("dup,reorder,jitter,burst,slow,pause,churn,crash,gms-crash,partition");
    sweep(&sc, 9000..9040);
}

/// Live objects with joins during heavy traffic and loss: members leave and join again (and
/// are evicted by partitions) while two senders publish map and variable updates at full
/// rate; every joiner joins with state transfer over the region.
fn objects_under_churn() -> Scenario {
    let mut sc = with_gms(Scenario::new(8, 2, 600, 400, 0.08));
    sc.faults = faults("churn,partition");
    sc.objects = true;
    sc
}

#[test]
fn objects_joins_during_heavy_traffic_with_loss_are_exact() {
    let sc = objects_under_churn();
    let outcomes = sweep(&sc, 1..101);
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let joins = sum(|o| o.object_joins);
    assert!(joins >= 200, "{joins} object joins");
    assert!(sum(|o| o.object_joins_during_traffic) >= 50, "joins during traffic");
    assert!(sum(|o| o.object_join_backlog) > 0, "joiners buffered updates while joining");
    assert_eq!(sum(|o| o.object_divergent), 0);
    assert_eq!(sum(|o| o.object_rejected), 0);
}

/// Seeds of `sc` that pass as they are, and of those, how many fail with `sabotage` broken
/// into the shipped object session (each caught as divergent or refused state, or as a
/// counter update decided differently, and as violations).
fn caught_with(sc: &Scenario, sabotage: Sabotage, seeds: std::ops::Range<u64>) -> (u32, u32) {
    let mut broken = sc.clone();
    broken.sabotage = sabotage;
    let (mut clean, mut caught) = (0, 0);
    for seed in seeds {
        if run(sc, seed).violations > 0 {
            continue;
        }
        clean += 1;
        let bad = run(&broken, seed);
        if bad.object_divergent + bad.object_rejected + bad.object_decision_disagreements > 0 {
            assert!(bad.violations > 0, "seed {seed}");
            caught += 1;
        }
    }
    (clean, caught)
}

#[test]
fn objects_checker_catches_a_session_that_answers_before_every_fence() {
    // The shipped session, broken: a member answers a joiner at once, so its checkpoint may
    // lag behind the joiner's join point on some member's stream.
    let (clean, caught) = caught_with(&objects_under_churn(), Sabotage::AnswerBeforeFences, 1..41);
    assert!(clean >= 20 && caught >= 5, "early answers caught in {caught} of {clean} clean seeds");
}

#[test]
fn objects_checker_catches_a_session_that_drops_its_join_backlog() {
    // The shipped session, broken: a joiner restores from the checkpoint alone, dropping
    // what it buffered while joining.
    let (clean, caught) = caught_with(&objects_under_churn(), Sabotage::DropBacklog, 1..41);
    // Rarer: fenced checkpoints overlap most of what a joiner buffers (2 of 40 here).
    assert!(clean >= 20 && caught >= 2, "dropped backlogs caught in {caught} of {clean} clean seeds");
}

#[test]
fn objects_run_replays_exactly() {
    let sc = objects_under_churn();
    let a = serde_json::to_string(&run(&sc, 7)).expect("json");
    let b = serde_json::to_string(&run(&sc, 7)).expect("json");
    assert_eq!(a, b);
    let o = run(&sc, 7);
    assert!(o.object_updates_published == 1200 && o.object_members_checked > 0, "{o:?}");
}

#[test]
fn objects_without_membership_changes_converge() {
    // No joiners: every member starts with the objects and must end with identical state.
    let mut sc = Scenario::new(9, 3, 800, 300, 0.1);
    sc.faults = faults("dup,reorder,jitter,crash");
    sc.objects = true;
    for o in sweep(&sc, 3000..3020) {
        assert_eq!(o.object_divergent, 0);
        assert!(o.object_members_checked >= 8);
    }
}

#[test]
fn static_members_detect_a_crash_themselves() {
    // No oracle and no membership service: the driver's presence evicts the crashed member
    // at every survivor (checked by the run), under loss, slowed and paused receivers.
    let mut sc = Scenario::new(9, 3, 3000, 1000, 0.05);
    sc.faults = faults("dup,reorder,slow,pause,crash");
    sc.qsm.member_timeout = Some(argent_qsm::MIN_MEMBER_TIMEOUT);
    let outcomes = sweep(&sc, 5000..5020);
    assert!(outcomes.iter().all(|o| o.presence_evictions == 8), "every survivor evicted the crashed member");
}

#[test]
#[ignore = "since datagrams wait for their view (decision 009) this sabotage diverges in none of seeds \
            1..1200 of this scenario (it did in 5 of 100 before): the interleaving it needs no longer \
            occurs here; a scenario that provokes it is still to be found (issue 12 closing note)"]
fn objects_checker_catches_a_joiner_that_concludes_it_is_first_from_silence() {
    // The shipped session, broken back to the rule it had before the simulator drove it: a
    // joiner that hears no answer to three requests starts afresh, although the requests were
    // never fenced by every member (a partition, a member that has not anchored it yet).
    let (clean, caught) = caught_with(&objects_under_churn(), Sabotage::UnfencedFirst, 1..21);
    assert!(clean >= 15 && caught >= 2, "unfenced first members caught in {caught} of {clean} clean seeds");
}

#[test]
fn fragmented_messages_under_loss_churn_and_crashes() {
    // Messages of 200 KB, each cut into about 25 fragments: loss, duplication, reordering,
    // members that leave and come back mid-message, and crashes. Every member must get each
    // message whole, exactly once, in order; joiners drop the fragments whose start they
    // never had.
    let mut sc = with_gms(Scenario::new(9, 2, 40, 200_000, 0.1));
    sc.faults = faults("dup,reorder,churn,crash,partition");
    assert!(sc.fragmented());
    let outcomes = sweep(&sc, 3000..3012);
    let reassembled: u64 = outcomes.iter().map(|o| o.reassembled).sum();
    let orphaned: u64 = outcomes.iter().map(|o| o.fragments_orphaned).sum();
    assert!(reassembled > 12 * 2 * 40 * 5, "reassembled {reassembled}");
    assert!(orphaned > 0, "some member joined mid-message");
    let held = outcomes.iter().map(|o| o.max_partials_held).max().unwrap_or(0);
    assert!(held <= 16, "reassembly stays within its bound: {held}");
}

#[test]
fn checker_catches_a_lost_fragment() {
    // One fragment dropped at one receiver: its message never completes, and the next one
    // arrives after a gap.
    let mut sc = Scenario::new(4, 1, 30, 100_000, 0.0);
    sc.sabotage = Sabotage::DropDelivery { node: 1, nth: 40 };
    let o = run(&sc, 1);
    assert!(o.violations > 0, "a lost fragment must be caught");
}

#[test]
fn forged_and_replayed_datagrams_never_reach_the_protocol() {
    // The shape of issue 14's acceptance run, smaller: every fault, and an attacker without
    // the key injecting forged and replayed datagrams of every kind.
    let mut sc = with_gms(Scenario::new(9, 2, 1500, 600, 0.1));
    sc.faults = faults("dup,reorder,crash,churn,gms-crash,partition,forge");
    let outcomes = sweep(&sc, 4000..4020);
    let injected: u64 = outcomes.iter().map(|o| o.forged_injected).sum();
    let refused: u64 = outcomes.iter().map(|o| o.forged_refused).sum();
    assert!(injected > 1000, "the attacker was busy: {injected}");
    assert!(refused * 100 >= injected * 95, "refused {refused} of {injected} (the rest lost on the way)");
}

#[test]
fn checker_catches_forgeries_without_the_guard() {
    let mut sc = Scenario::new(5, 1, 2000, 600, 0.0);
    sc.faults = faults("forge");
    sc.sabotage = Sabotage::NoGuard;
    let caught = (1..6).filter(|s| run(&sc, *s).violations > 0).count();
    assert!(caught >= 3, "forged datagrams reaching the protocol are caught ({caught} of 5 seeds)");
}

fn total_order(nodes: u32, senders: u32, messages: u64, size: usize, loss: f64) -> Scenario {
    let mut sc = Scenario::new(nodes, senders, messages, size, loss);
    sc.driver = Driver::TotalOrder;
    sc
}

#[test]
fn total_order_under_every_fault_of_static_membership() {
    // Every member delivers the same sequence of all senders' messages (checked position by
    // position against the first member to reach it), each exactly once and in its sender's
    // order, and members that move from view to view begin the next one at the same
    // position (virtual synchrony), under loss, duplication, reordering, jitter, bursts, a
    // slow and a paused member, forged traffic, and a crash; with one partition and with
    // several.
    let mut sc = total_order(10, 5, 400, 600, 0.05);
    sc.faults = faults("crash,dup,reorder,jitter,burst,slow,pause,forge");
    for o in sweep(&sc, 1..41) {
        assert_eq!((o.order_disagreements, o.vsync_violations), (0, 0));
        assert_eq!(o.flushes, 9, "every survivor closed the first view");
    }
    let mut sc = total_order(23, 3, 300, 1000, 0.05);
    sc.faults = faults("crash,dup,reorder");
    sweep(&sc, 1..6);
}

#[test]
fn total_order_survives_its_sequencer() {
    // Node 0, the sequencer, is the only receiver, so the crash fault hits it: survivors
    // that lack some of its order records get them relayed by the lowest survivor holding
    // them all, then close the view alike.
    let mut sc = total_order(5, 4, 500, 600, 0.1);
    sc.faults = faults("crash,dup,reorder,pause");
    let outcomes = sweep(&sc, 1..31);
    assert!(outcomes.iter().all(|o| o.sequencer_flushes == 4), "every survivor flushed after node 0 crashed");
}

#[test]
fn total_order_checker_catches_a_swapped_pair() {
    for (node, nth) in [(0, 10), (4, 300), (9, 998)] {
        let mut sc = total_order(10, 5, 200, 600, 0.0);
        sc.sabotage = Sabotage::SwapOrder { node, nth };
        let o = run(&sc, 1);
        assert!(o.order_disagreements > 0, "node {node}, delivery {nth}: {:?}", o.details);
        assert!(o.details.iter().any(|d| d.contains("in total order")), "{:?}", o.details);
    }
}

#[test]
fn virtual_synchrony_checker_catches_a_view_installed_without_its_flush() {
    // A member that drops what its layer releases between installing the next view and
    // beginning it begins that view at another position than the others.
    let mut caught = 0;
    for seed in 1..11 {
        let mut sc = total_order(10, 5, 400, 600, 0.05);
        sc.faults = faults("crash");
        sc.sabotage = Sabotage::NoFlush { node: 9 };
        let o = run(&sc, seed);
        if o.vsync_violations > 0 {
            assert!(o.details.iter().any(|d| d.contains("began view 2")), "{:?}", o.details);
            caught += 1;
        }
    }
    assert!(caught >= 5, "caught in {caught} of 10 seeds");
}

#[test]
fn total_order_under_membership_changes() {
    // Receivers leave and join again (new incarnations, each a joiner checked from the
    // view its layer began in), one crashes, a partition cuts some off (evicted, back as
    // new incarnations), the GMS leader crashes; views change during flushes. No member
    // delivers out of the common order or begins a view elsewhere than the others, in any
    // seed, and every flush ends: a survivor that leaves before its report reached everyone,
    // or once it reported, is agreed on by the coordinator of the flush (decision 014).
    let mut sc = with_gms(total_order(6, 2, 300, 600, 0.05));
    sc.faults = faults("crash,churn,partition,gms-crash,dup,reorder");
    let mut flushes = 0;
    for seed in 1..41 {
        let o = run(&sc, seed);
        assert_eq!(o.violations, 0, "seed {seed}: {:?}", o.details);
        assert_eq!((o.order_disagreements, o.vsync_violations), (0, 0), "seed {seed}: {:?}", o.details);
        flushes += o.flushes;
    }
    assert!(flushes > 400, "views changed during traffic: {flushes} flushes");
}

#[test]
fn total_order_refuses_what_it_does_not_run_yet() {
    let mut sc = with_gms(total_order(5, 2, 10, 100, 0.0));
    sc.groups = Some(4);
    let e = sc.validate().unwrap_err().to_string();
    assert!(
        e.contains("--driver total-order") && e.contains("--groups") && e.contains("decision 014"),
        "{e}"
    );
    let sc = total_order(5, 2, 10, 8192, 0.0);
    assert!(sc.validate().unwrap_err().to_string().contains("--size"));
}

/// Live objects on the total-order driver: the map and the variable, and a counter whose
/// withdrawals the order decides, while receivers leave and join again (with state transfer
/// through the layer) under loss, duplication and reordering. A small send buffer keeps the
/// senders publishing through the churn, so joins happen with updates in flight (with the
/// default buffer every update is in the stream at once and the joins come after it).
fn ordered_objects_under_churn() -> Scenario {
    let mut sc = with_gms(total_order(6, 2, 1000, 400, 0.05));
    sc.faults = faults("churn,dup,reorder");
    sc.objects = true;
    sc.qsm.send_buffer_bytes = 32 << 10;
    sc
}

/// Seeds of [`ordered_objects_under_churn`] (all of 1..1201 pass).
const ORDERED_OBJECT_SEEDS: std::ops::Range<u64> = 1..41;

#[test]
fn ordered_objects_flushes_get_what_departed_members_sent() {
    // Seeds whose flushes waited for good for a departed member's datagrams that no survivor
    // kept to relay: the relayers had dropped them once QSM's stable point of the stream
    // passed them, yet that point counted only the members still winding the stream down
    // (not a joiner that retired it before its join point was known: 54, 678, 954, 1040),
    // and once a leader's own join point (1122). The sessions of the members waiting behind
    // such a flush never finished joining.
    let sc = ordered_objects_under_churn();
    for seed in [54, 678, 954, 1040, 1122] {
        let o = run(&sc, seed);
        assert_eq!(o.violations, 0, "seed {seed}: {:?}", o.details);
    }
}

#[test]
fn ordered_objects_joins_during_traffic_are_exact() {
    // Every member that stayed ends with the same checkpoints of all three objects, holding
    // every update; every joiner's state is the members' at its join point plus every
    // update after it, so every counter withdrawal decided alike at every member that
    // applied it, the joiners included.
    let sc = ordered_objects_under_churn();
    let outcomes = sweep(&sc, ORDERED_OBJECT_SEEDS);
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    assert_eq!(sum(|o| o.order_disagreements + o.vsync_violations), 0);
    assert_eq!(sum(|o| o.object_divergent + o.object_rejected + o.object_decision_disagreements), 0);
    let joins = sum(|o| o.object_joins);
    assert!(joins >= 200, "{joins} object joins");
    assert!(sum(|o| o.object_joins_during_traffic) >= 100, "joins during traffic");
    assert!(sum(|o| o.object_join_backlog) > 0, "joiners buffered updates while joining");
    let (updates, refused) = (sum(|o| o.object_counter_updates), sum(|o| o.object_counter_refused));
    assert!(refused * 20 >= updates, "the order decided withdrawals: {refused} of {updates} refused");
    assert!(sum(|o| o.object_decisions_compared) >= updates, "decisions compared across members");
    let a = serde_json::to_string(&run(&sc, ORDERED_OBJECT_SEEDS.start)).expect("json");
    let b = serde_json::to_string(&outcomes[0]).expect("json");
    assert_eq!(a, b, "a seed replays exactly");
}

#[test]
fn ordered_objects_checker_catches_a_session_that_drops_its_join_backlog() {
    // The shipped session, broken: a joiner restores from the checkpoint alone, dropping the
    // updates ordered between the answering member's checkpoint and the answer. Caught as a
    // counter decision that differs, a refused update or a state that differs.
    let (clean, caught) =
        caught_with(&ordered_objects_under_churn(), Sabotage::DropBacklog, ORDERED_OBJECT_SEEDS);
    assert!(clean >= 25 && caught >= 8, "dropped backlogs caught in {caught} of {clean} clean seeds");
}
