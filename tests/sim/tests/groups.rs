//! Many groups under churn: nodes join and leave groups while senders publish, and every
//! node gets, per group and sender, exactly what was sent from its join point on.

use argent_sim::{run, GmsSim, Outcome, Sabotage, Scenario, ScenarioError};

fn groups(nodes: u32, groups: u32, faults: &str) -> Scenario {
    let mut sc = Scenario::new(nodes, 3, 600, 400, 0.05);
    sc.groups = Some(groups);
    sc.gms = Some(GmsSim::default());
    sc.faults = faults.parse().expect("known faults");
    sc
}

fn sweep(sc: &Scenario, seeds: std::ops::Range<u64>) -> Vec<Outcome> {
    sc.validate().expect("valid scenario");
    seeds
        .map(|seed| {
            let o = run(sc, seed);
            assert_eq!(o.violations, 0, "seed {seed} failed: {:?}", o.details);
            assert_eq!(o.view_disagreements, 0, "seed {seed}");
            assert_eq!(o.delivered, o.expected, "seed {seed}");
            o
        })
        .collect()
}

#[test]
fn joins_and_leaves_during_traffic_with_churn_and_a_crash_are_exact() {
    let sc = groups(12, 40, "group-churn,churn,crash");
    let runs = sweep(&sc, 1..21);
    let sum = |f: fn(&Outcome) -> u64| runs.iter().map(f).sum::<u64>();
    assert!(sum(|o| o.group_changes) >= 200, "{} group changes", sum(|o| o.group_changes));
    assert!(sum(|o| o.group_joins_checked) >= 40, "{} joins checked", sum(|o| o.group_joins_checked));
    assert!(sum(|o| o.group_leaves) >= 40, "{} leaves", sum(|o| o.group_leaves));
    assert!(sum(|o| o.rejoins) >= 20, "churn restarted nodes");
}

#[test]
fn groups_under_heavy_loss_and_reordering() {
    let mut sc = groups(10, 25, "group-churn,dup,reorder,pause");
    sc.loss = 0.2;
    sweep(&sc, 100..110);
}

#[test]
fn a_groups_run_replays_exactly() {
    let sc = groups(10, 30, "group-churn,churn");
    let (a, b) = (run(&sc, 7), run(&sc, 7));
    assert_eq!(
        (a.deliveries, a.group_deliveries, a.group_changes, a.lost_datagrams, a.virtual_secs),
        (b.deliveries, b.group_deliveries, b.group_changes, b.lost_datagrams, b.virtual_secs)
    );
}

#[test]
fn checker_catches_nodes_that_receive_a_group_without_its_join_point() {
    // The runtime's filter before datagrams carried their view: a node that joins a group of
    // a region it is in already gets the group's messages still in flight from before.
    let mut sc = groups(12, 40, "group-churn");
    sc.sabotage = Sabotage::NoGroupJoinPoint;
    let caught = (1..21).filter(|s| run(&sc, *s).violations > 0).count();
    eprintln!("no join point: caught in {caught} of 20 seeds");
    assert!(caught >= 5, "caught in {caught} of 20 seeds");
}

#[test]
fn group_scenarios_that_cannot_run_say_why() {
    let mut sc = Scenario::new(5, 1, 10, 400, 0.0);
    sc.faults = "group-churn".parse().expect("known");
    sc.gms = Some(GmsSim::default());
    assert_eq!(sc.validate(), Err(ScenarioError::GroupChurnWithoutGroups));
    let mut sc = groups(5, 10, "");
    sc.objects = true;
    sc.qsm.datagram_size = 8192;
    assert!(matches!(sc.validate(), Err(ScenarioError::Groups { groups: 10, .. })));
    let mut sc = groups(5, 10, "");
    sc.size = 16;
    let e = sc.validate().unwrap_err().to_string();
    assert!(e.contains("--size must be at least 20"), "{e}");
}
