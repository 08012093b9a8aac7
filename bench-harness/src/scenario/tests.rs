use super::*;
use std::path::Path;

fn parse(s: &str) -> anyhow::Result<Scenario> {
    let s: Scenario = toml::from_str(s)?;
    s.validate()?;
    Ok(s)
}

#[test]
fn errors_name_the_field() {
    let e = format!("{:#}", parse("name = \"x\"\n[base]\nsubscriber = 2\n").unwrap_err());
    assert!(e.contains("subscriber"), "{e}");
    let e = format!("{:#}", parse("name = \"x\"\n[[sweep]]\nparam = \"loss\"\nvalues = [1]\n").unwrap_err());
    assert!(e.contains("param") || e.contains("loss"), "{e}");
    let e = format!("{:#}", parse("name = \"x\"\n[base]\nsubscribers = 0\n").unwrap_err());
    assert!(e.contains("base.subscribers"), "{e}");
    let e = format!("{:#}", parse("name = \"x\"\ntopology = \"netns\"\n").unwrap_err());
    assert!(e.contains("[netns]"), "{e}");
}

const NETNS: &str = "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 5\nloss_pct = 1\nlossy_hosts = 2\n";

/// The error of NETNS with `extra` appended (a `[base]` or `[[sweep]]` table).
fn netns_error(extra: &str) -> String {
    format!("{:#}", parse(&format!("{NETNS}{extra}")).expect_err(extra))
}

fn netns_with(hosts: u64, loss_pct: u64, lossy_hosts: u64) -> anyhow::Result<Scenario> {
    parse(&format!(
        "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = {hosts}\nloss_pct = {loss_pct}\nlossy_hosts = {lossy_hosts}\n"
    ))
}

#[test]
fn netns_table_is_checked_field_by_field() {
    let s = parse(NETNS).unwrap();
    assert_eq!(s.netns, Some(Netns { hosts: 5, loss_pct: 1, lossy_hosts: 2, mtu: 1500 }));
    for (hosts, loss, lossy, field) in [
        (1, 0, 0, "netns.hosts"),
        (51, 0, 0, "netns.hosts"),
        (5, 101, 0, "netns.loss_pct"),
        (5, 1, 5, "netns.lossy_hosts"),
    ] {
        let e = format!("{:#}", netns_with(hosts, loss, lossy).unwrap_err());
        assert!(e.contains(field), "{hosts} {loss} {lossy}: {e}");
    }
    for (hosts, loss, lossy) in [(2, 0, 0), (2, 100, 1), (50, 5, 49)] {
        netns_with(hosts, loss, lossy).unwrap();
    }
    // loss_pct and lossy_hosts default to 0; hosts is required; unknown fields are errors.
    let s = parse("name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 3\n").unwrap();
    assert_eq!(s.netns, Some(Netns { hosts: 3, loss_pct: 0, lossy_hosts: 0, mtu: 1500 }));
    let e = format!("{:#}", parse("name = \"x\"\ntopology = \"netns\"\n[netns]\n").unwrap_err());
    assert!(e.contains("hosts"), "{e}");
    let e = format!("{:#}", parse(&format!("{NETNS}loss = 3\n")).unwrap_err());
    assert!(e.contains("loss"), "{e}");
    // The table belongs to netns only.
    let e = format!("{:#}", parse("name = \"x\"\n[netns]\nhosts = 3\n").unwrap_err());
    assert!(e.contains("[netns]") && e.contains("loopback"), "{e}");
}

#[test]
fn netns_settings_match_what_netns_run_accepts() {
    // Several subscribers may share a host.
    parse(&format!("{NETNS}[base]\nsubscribers = 12\n")).unwrap();
    for (extra, field) in [
        ("[base]\npublishers = 2\n", "base.publishers"),
        ("[base]\nsubscribers = 201\n", "base.subscribers"),
        ("[base]\ngroups = 100001\n", "base.groups"),
        ("[base]\nduration = 2.5\n", "base.duration"),
        ("[base]\ntransport = \"std\"\n", "base.transport"),
        ("[base]\ndatagram_size = 9000\n", "base.datagram_size"),
        ("[[sweep]]\nparam = \"publishers\"\nvalues = [1]\n", "sweep[0].param"),
        ("[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 300]\n", "sweep[0].values"),
        ("[[sweep]]\nparam = \"subscribers\"\nvalues = [0]\n", "sweep[0].values"),
        ("[[sweep]]\nparam = \"loss_pct\"\nvalues = [0, 101]\n", "sweep[0].values"),
    ] {
        let e = netns_error(extra);
        assert!(e.contains(field), "{extra}: {e}");
    }
    let no_lossy_host = "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 5\n\
                         [[sweep]]\nparam = \"loss_pct\"\nvalues = [1]\n";
    let e = format!("{:#}", parse(no_lossy_host).unwrap_err());
    assert!(e.contains("netns.lossy_hosts"), "{e}");
}

#[test]
fn loss_sweeps_only_on_netns() {
    let sweep = "[[sweep]]\nparam = \"loss_pct\"\nvalues = [0, 1, 5]\n";
    let e = format!("{:#}", parse(&format!("name = \"x\"\n{sweep}")).unwrap_err());
    assert!(e.contains("loss_pct") && e.contains("netns"), "{e}");
    let s = parse(&format!("{NETNS}{sweep}")).unwrap();
    let series = s.series();
    assert_eq!(series[0].0, Some(Param::LossPct));
    let losses: Vec<u64> = series[0].1.iter().map(|p| p.get(Param::LossPct)).collect();
    assert_eq!(losses, [0, 1, 5]);
    assert!(series[0].1.iter().all(|p| p.netns.is_some_and(|n| n.hosts == 5 && n.lossy_hosts == 2)));
    let args = series[0].1[2].args(Path::new("/bin/argent"));
    let pairs: Vec<(&str, &str)> = args.chunks(2).map(|c| (c[0].as_str(), c[1].as_str())).collect();
    for want in [
        ("--hosts", "5"),
        ("--loss", "5"),
        ("--lossy-hosts", "2"),
        ("--subscribers", "3"),
        ("--publishers", "1"),
        ("--groups", "1"),
        ("--duration", "5"),
        ("--argent", "/bin/argent"),
    ] {
        assert!(pairs.contains(&want), "{want:?} in {args:?}");
    }
    // Loopback points still run `argent bench` with its flags.
    let lo = parse("name = \"x\"\n").unwrap().series();
    assert_eq!(lo[0].1[0].args(Path::new("/bin/argent"))[..2], ["bench", "--json"]);
}

#[test]
fn shipped_scenarios_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in ["smoke", "qsm-paper", "qsm-paper-loopback", "peers", "lan", "total-order"] {
        let s = Scenario::load(&dir.join(format!("{name}.toml"))).unwrap();
        assert_eq!(s.name, name);
    }
    let paper = Scenario::load(&dir.join("qsm-paper.toml")).unwrap();
    assert_eq!(paper.topology, Topology::Netns);
    assert_eq!(paper.netns, Some(Netns { hosts: 5, loss_pct: 1, lossy_hosts: 2, mtu: 1500 }));
    let params: Vec<Param> = paper.sweep.iter().map(|s| s.param).collect();
    assert_eq!(
        params,
        [Param::Subscribers, Param::Groups, Param::LossPct, Param::LossPct, Param::Subscribers, Param::Rate]
    );
    let loopback = Scenario::load(&dir.join("qsm-paper-loopback.toml")).unwrap();
    assert_eq!(loopback.topology, Topology::Loopback);
    assert_eq!(loopback.sweep.len(), 6);
}

#[test]
fn peers_scenario_is_a_grid_of_every_system() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::load(&dir.join("peers.toml")).unwrap();
    assert_eq!(
        s.systems,
        [
            System::Argent,
            System::RawUnicast,
            System::RawMulticast,
            System::Zenoh,
            System::Aeron,
            System::AeronTuned
        ]
    );
    let grid: Vec<(u64, u64, &str)> = s
        .series()
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| (p.base.size, p.base.subscribers, p.base.verify.name())))
        .collect();
    let mut want = Vec::new();
    for size in [64, 1024] {
        for verify in ["full", "count"] {
            want.extend([(size, 1, verify), (size, 3, verify)]);
        }
    }
    assert_eq!(grid, want, "both sizes, both fan-outs, both verify modes");
    let counted = &s.series()[1].1[0];
    for args in [counted.args(Path::new("argent")), counted.peer_args(System::Aeron)] {
        assert!(args.windows(2).any(|w| w == ["--verify", "count"]), "{args:?}");
    }
    let p = &s.series()[2].1[1];
    let args = p.peer_args(System::AeronTuned);
    assert_eq!(args[..2], ["aeron", "--json"]);
    assert!(args.windows(2).any(|w| w == ["--profile", "tuned"]), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["--size", "1024"]), "{args:?}");
    let raw = p.peer_args(System::RawMulticast);
    assert!(raw.windows(2).any(|w| w == ["--datagram-size", "65000"]), "{raw:?}");
    assert!(!p.peer_args(System::Zenoh).contains(&"--datagram-size".to_string()));
}

#[test]
fn lan_scenario_runs_argent_and_raw_gso_on_the_same_lan_at_both_mtus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::load(&dir.join("lan.toml")).unwrap();
    assert_eq!(s.systems, [System::Argent, System::RawGso]);
    assert!(System::RawGso.name().contains("gso"));
    let points: Vec<PointSpec> = s.series().into_iter().flat_map(|(_, pts)| pts).collect();
    let mut grid: Vec<(u64, u64, u64, u64)> = points
        .iter()
        .filter(|p| p.base.rate.is_none())
        .map(|p| (p.base.size, p.base.subscribers, p.get(Param::Mtu), p.get(Param::LossPct)))
        .collect();
    grid.sort();
    for size in [64, 1024] {
        for subs in [1, 4] {
            for mtu in [1500, 9000] {
                assert!(grid.contains(&(size, subs, mtu, 0)), "{size} B 1->{subs} MTU {mtu}: {grid:?}");
            }
        }
    }
    for mtu in [1500, 9000] {
        assert!(grid.contains(&(1024, 4, mtu, 1)), "1% loss at MTU {mtu}: {grid:?}");
    }
    assert!(points.iter().any(|p| p.base.rate.is_some()), "a latency point");
    // Both systems run through netns-run on the same LAN, with its MTU.
    let jumbo = points.iter().find(|p| p.get(Param::Mtu) == 9000).unwrap();
    let argent = jumbo.args(Path::new("/bin/argent"));
    assert!(argent.windows(2).any(|w| w == ["--mtu", "9000"]), "{argent:?}");
    assert!(!argent.contains(&"--system".to_string()), "{argent:?}");
    let raw = jumbo.netns_peer_args(Path::new("/bin/argent"), System::RawGso, Path::new("/bin/argent-peer"));
    for want in [["--mtu", "9000"], ["--system", "raw-gso"], ["--peer", "/bin/argent-peer"]] {
        assert!(raw.windows(2).any(|w| w == want), "{want:?} in {raw:?}");
    }
}

#[test]
fn mtu_and_lan_systems_are_checked() {
    let lan = |systems: &str, netns: &str, extra: &str| {
        parse(&format!(
            "name = \"x\"\ntopology = \"netns\"\nsystems = [{systems}]\n[netns]\nhosts = 5\n{netns}{extra}"
        ))
    };
    for (r, want) in [
        (lan("\"argent\"", "mtu = 100\n", ""), "netns.mtu"),
        (lan("\"argent\"", "", "[[sweep]]\nparam = \"mtu\"\nvalues = [100]\n"), "at least 576"),
        (
            lan("\"argent\"", "", "[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { mtu = 70000 }\n"),
            "set.mtu",
        ),
        (lan("\"argent\", \"aeron\"", "", ""), "loopback only"),
        (parse("name = \"x\"\n[[sweep]]\nparam = \"mtu\"\nvalues = [9000]\n"), "netns"),
        (parse("name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { mtu = 9000 }\n"), "netns"),
        (parse("name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n[base]\nrate = 1000\n"), "unpaced"),
    ] {
        let e = format!("{:#}", r.expect_err(want));
        assert!(e.contains(want), "{want}: {e}");
    }
    // Raw UDP may be paced, on either topology, and runs on the LAN.
    parse("name = \"x\"\nsystems = [\"argent\", \"raw-gso\"]\n[base]\nrate = 1000\n").unwrap();
    let s =
        lan("\"argent\", \"raw-gso\", \"raw-multicast\"", "mtu = 9000\n", "[base]\nrate = 1000\n").unwrap();
    assert_eq!(s.netns.map(|n| n.mtu), Some(9000));
}

#[test]
fn peers_and_sweep_sets_are_checked() {
    let peers = "name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n";
    parse(&format!("{peers}[base]\ngroups = 1\npublishers = 1\n")).unwrap();
    for (text, want) in [
        (format!("{peers}[base]\ngroups = 10\n"), "groups = 10"),
        (format!("{peers}[[sweep]]\nparam = \"publishers\"\nvalues = [1, 2]\n"), "publishers = 2"),
        (format!("{peers}[base]\nsize = 16\n"), "at least 24 bytes"),
        ("name = \"x\"\nsystems = []\n".to_string(), "at least one system"),
        ("name = \"x\"\nsystems = [\"zenoh\", \"zenoh\"]\n".to_string(), "twice"),
        ("name = \"x\"\nsystems = [\"kafka\"]\n".to_string(), "kafka"),
        (
            "name = \"x\"\ntopology = \"netns\"\nsystems = [\"argent\", \"aeron\"]\n[netns]\nhosts = 3\n"
                .to_string(),
            "loopback only",
        ),
        (
            "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { sizes = 1 }\n".to_string(),
            "sizes",
        ),
        (
            "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { size = 1 }\n".to_string(),
            "cannot also be set",
        ),
        (
            "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { loss_pct = 1 }\n".to_string(),
            "netns",
        ),
    ] {
        let e = format!("{:#}", parse(&text).expect_err(&text));
        assert!(e.contains(want), "{text}: {e}");
    }
    // Without peers, argent alone; systems need not be written.
    assert_eq!(parse("name = \"x\"\n").unwrap().systems, [System::Argent]);
}

#[test]
fn sweep_sets_take_any_base_field_and_perturbations_are_checked() {
    let s = parse(
        "name = \"x\"\n[base]\nsubscribers = 4\nduration = 3.0\n[[sweep]]\nparam = \"subscribers\"\nvalues = [4]\n\
         set = { pause_one_at = 1.0, pause_for = 0.5 }\n[[sweep]]\nparam = \"rate\"\nvalues = [1000, 5000]\n",
    )
    .unwrap();
    let series = s.series();
    let paused = &series[0].1[0];
    assert_eq!((paused.base.pause_one_at, paused.base.pause_for), (Some(1.0), Some(0.5)));
    let args = paused.args(Path::new("argent"));
    assert!(args.windows(2).any(|w| w == ["--pause-one-at", "1"]), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["--pause-for", "0.5"]), "{args:?}");
    // The rate sweep does not inherit the other sweep's pause.
    let paced = &series[1].1[1];
    assert_eq!((paced.base.rate, paced.base.pause_one_at), (Some(5000), None));
    assert!(paced.args(Path::new("argent")).windows(2).any(|w| w == ["--rate", "5000"]));
    for (extra, want) in [
        ("[base]\npause_one_at = 1.0\n", "go together"),
        ("[base]\npause_one_at = 1.0\npause_for = 2.0\n", "base.pause_for"),
        ("[base]\nkill_one_at = 9.0\n", "base.kill_one_at"),
        ("[base]\nrate = 0\n", "base.rate"),
        ("[base]\nsubscribers = 1\nslow_one = 1000\n", "subscribers = 2"),
        ("[base]\nkill_one_at = 1.0\nrestart_one_at = 2.0\n", "at most one"),
        ("[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { pause_for = 1.0 }\n", "sweep[0]"),
        (
            "[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { subscribers = 0 }\n",
            "sweep[0].set.subscribers",
        ),
    ] {
        let e = format!("{:#}", parse(&format!("name = \"x\"\n{extra}")).expect_err(extra));
        assert!(e.contains(want), "{extra}: {e}");
    }
    // On a namespace LAN: pauses up to 2.5 s, no kills.
    let e = netns_error("[base]\nsubscribers = 3\nkill_one_at = 1.0\n");
    assert!(e.contains("kill_one_at"), "{e}");
    let ok =
        parse(&format!("{NETNS}[base]\nsubscribers = 3\npause_one_at = 1.0\npause_for = 2.0\nrate = 1000\n"))
            .unwrap();
    let args = ok.series()[0].1[0].args(Path::new("argent"));
    assert!(
        args.windows(2).any(|w| w == ["--pause-for", "2"])
            && args.windows(2).any(|w| w == ["--rate", "1000"]),
        "{args:?}"
    );
    // Peers run unpaced.
    let e = format!(
        "{:#}",
        parse("name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n[base]\nrate = 1000\n").unwrap_err()
    );
    assert!(e.contains("unpaced"), "{e}");
}

#[test]
fn sweeps_override_one_setting() {
    let s = parse("name = \"x\"\n[base]\nsize = 64\n[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 4]\n")
        .unwrap();
    let series = s.series();
    assert_eq!(series.len(), 1);
    let subs: Vec<u64> = series[0].1.iter().map(|p| p.base.subscribers).collect();
    assert_eq!(subs, [1, 4]);
    assert!(series[0].1.iter().all(|p| p.base.size == 64 && p.netns.is_none()));
    let none = parse("name = \"x\"\n").unwrap().series();
    assert_eq!((none.len(), none[0].0, none[0].1.len()), (1, None, 1));
}

#[test]
fn rate_of_peak_paces_at_a_percentage_of_an_earlier_unpaced_point() {
    let peak_sweep = "[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 4]\nset = { size = 1024 }\n";
    let of_peak =
        "[[sweep]]\nparam = \"rate_of_peak\"\nvalues = [25, 50]\nset = { size = 1024, subscribers = 1 }\n";
    let s = parse(&format!("name = \"x\"\n{peak_sweep}{of_peak}")).unwrap();
    let series = s.series();
    let unpaced = &series[0].1[0];
    let mut half = series[1].1[1].clone();
    assert_eq!(half.get(Param::RateOfPeak), 50);
    assert_eq!(half.peak_point().as_ref(), Some(unpaced), "the same settings, unpaced");
    assert_eq!(unpaced.peak_point(), None, "an ordinary point has no peak to look up");
    half.pace_at_peak(1_150_000.0);
    assert_eq!(half.base.rate, Some(575_000));
    assert!(half.args(Path::new("argent")).windows(2).any(|w| w == ["--rate", "575000"]));

    // The peak must come from an earlier sweep at the very same settings.
    for (scenario, why) in [
        (format!("name = \"x\"\n{of_peak}{peak_sweep}"), "needs argent's peak"),
        (format!("name = \"x\"\n{peak_sweep}{}", of_peak.replace("size = 1024,", "size = 64,")), "size = 64"),
        (format!("name = \"x\"\n{peak_sweep}{}", of_peak.replace("[25, 50]", "[50, 101]")), "1..100"),
        (
            format!("name = \"x\"\nsystems = [\"raw-multicast\"]\n{peak_sweep}{of_peak}"),
            "systems must include argent",
        ),
    ] {
        let e = format!("{:#}", parse(&scenario).unwrap_err());
        assert!(e.contains(why) && e.contains("sweep["), "{why}: {e}");
    }
    // Paced: peers that run unpaced only are refused, as for `rate`.
    let e = format!(
        "{:#}",
        parse(&format!(
            "name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n[base]\nsubscribers = 1\n{peak_sweep}{of_peak}"
        ))
        .unwrap_err()
    );
    assert!(e.contains("unpaced"), "{e}");
}

#[test]
fn lan_scenario_measures_latency_at_half_of_the_peak_it_measured() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::load(&dir.join("lan.toml")).unwrap();
    let series = s.series();
    let half: Vec<&PointSpec> =
        series.iter().flat_map(|(_, p)| p).filter(|p| p.get(Param::RateOfPeak) == 50).collect();
    assert_eq!(half.len(), 1, "one point at 50 % of the peak");
    let peak = half[0].peak_point().unwrap();
    assert_eq!((peak.base.size, peak.base.subscribers, peak.get(Param::Mtu)), (1024, 1, 1500));
    assert!(series[0].1.contains(&peak), "measured by the first sweep");
}

#[test]
fn total_order_scenario_runs_argent_and_corosync_with_three_publishers_each() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::load(&dir.join("total-order.toml")).unwrap();
    assert_eq!(s.systems, [System::Argent, System::CorosyncCpg]);
    let series = s.series();
    let points: Vec<&PointSpec> = series.iter().flat_map(|(_, p)| p).collect();
    assert!(points.iter().all(|p| p.base.publishers == 3 && p.base.subscribers == 3), "3 -> 3 everywhere");
    let unpaced: Vec<u64> = points.iter().filter(|p| p.of_peak.is_none()).map(|p| p.base.size).collect();
    assert_eq!(unpaced, [64, 1024]);
    // argent: its total-order driver, with three publishers.
    let argent = points[0].args(Path::new("argent"));
    for want in [["--driver", "total-order"], ["--publishers", "3"], ["--subscribers", "3"], ["--size", "64"]]
    {
        assert!(argent.windows(2).any(|w| w == want), "{want:?} in {argent:?}");
    }
    // CPG: three publishers too, no datagram size or profile.
    let cpg = points[1].peer_args(System::CorosyncCpg);
    assert_eq!(cpg[..2], ["corosync-cpg", "--json"]);
    for want in [["--publishers", "3"], ["--subscribers", "3"], ["--size", "1024"], ["--verify", "full"]] {
        assert!(cpg.windows(2).any(|w| w == want), "{want:?} in {cpg:?}");
    }
    assert!(!cpg.iter().any(|a| a == "--datagram-size" || a == "--profile" || a == "--rate"), "{cpg:?}");
    // p99 at 50 % of argent's peak at each size, measured by the first sweep; each of the
    // three publishers paced at a third of it, argent and CPG alike.
    let half: Vec<&PointSpec> = points.iter().copied().filter(|p| p.of_peak == Some(50)).collect();
    assert_eq!(half.iter().map(|p| p.base.size).collect::<Vec<_>>(), [64, 1024]);
    for h in &half {
        assert!(series[0].1.contains(&h.peak_point().unwrap()), "the peak comes from the size sweep");
        let mut paced = (*h).clone();
        paced.pace_at_peak(600_000.0);
        assert_eq!(paced.base.rate, Some(100_000), "50 % of 600 k over 3 publishers");
        let a = paced.args(Path::new("argent"));
        assert!(a.windows(2).any(|w| w == ["--rate", "100000"]), "{a:?}");
        let c = paced.peer_args(System::CorosyncCpg);
        assert!(c.windows(2).any(|w| w == ["--rate", "100000"]), "{c:?}");
    }
}

#[test]
fn the_driver_reaches_argent_bench_only_when_it_is_not_qsm() {
    let qsm = parse("name = \"x\"\n").unwrap().series()[0].1[0].args(Path::new("argent"));
    assert!(!qsm.contains(&"--driver".to_string()), "{qsm:?}");
    let to = parse("name = \"x\"\n[base]\ndriver = \"total-order\"\n").unwrap();
    assert!(to.series()[0].1[0]
        .args(Path::new("argent"))
        .windows(2)
        .any(|w| w == ["--driver", "total-order"]));
    let e = format!("{:#}", parse("name = \"x\"\n[base]\ndriver = \"paxos\"\n").unwrap_err());
    assert!(e.contains("paxos") && e.contains("total-order"), "{e}");
    // netns-run has no --driver.
    let e = netns_error("[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { driver = \"total-order\" }\n");
    assert!(e.contains("driver") && e.contains("netns"), "{e}");
}

#[test]
fn corosync_runs_several_publishers_and_paced_but_the_other_peers_do_not() {
    let cpg = "name = \"x\"\nsystems = [\"argent\", \"corosync-cpg\"]\n";
    parse(&format!("{cpg}[base]\npublishers = 3\nrate = 1000\n")).unwrap();
    let s = parse(&format!("{cpg}[[sweep]]\nparam = \"publishers\"\nvalues = [1, 2, 4]\n")).unwrap();
    let args = s.series()[0].1[2].peer_args(System::CorosyncCpg);
    assert!(args.windows(2).any(|w| w == ["--publishers", "4"]), "{args:?}");
    for (text, want) in [
        (
            "name = \"x\"\nsystems = [\"argent\", \"corosync-cpg\", \"zenoh\"]\n[base]\npublishers = 2\n",
            "zenoh runs one publisher",
        ),
        ("name = \"x\"\nsystems = [\"corosync-cpg\", \"aeron\"]\n[base]\nrate = 1000\n", "unpaced"),
        ("name = \"x\"\nsystems = [\"corosync-cpg\"]\n[base]\ngroups = 2\n", "one group"),
        (
            "name = \"x\"\nsystems = [\"corosync-cpg\"]\n[base]\npause_one_at = 1.0\npause_for = 1.0\n",
            "unperturbed",
        ),
    ] {
        let e = format!("{:#}", parse(text).expect_err(text));
        assert!(e.contains(want), "{text}: {e}");
    }
    assert_eq!(System::CorosyncCpg.label(), "Corosync CPG (agreed order)");
}
