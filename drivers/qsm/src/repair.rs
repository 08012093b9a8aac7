//! A receiving member's part of a token visit: compare its gaps with its neighbours',
//! push copies to its predecessor, pull from owning partitions, NAK what a whole partition
//! lacks, and report its contiguous numbers.

use crate::config::Config;
use crate::invariant::invariant;
use crate::io::{forward, Cx, Io};
use crate::layout::RingLayout;
use crate::recv::RecvFeed;
use crate::stream::node_of;
use argent_core::NodeId;
use argent_wire::{SeqRange, TokenEntry, MAX_TOKEN_RANGES};

/// Where a token visit happens: the member, its ring position and the round.
#[derive(Debug)]
pub(crate) struct Spot<'a> {
    pub(crate) cx: Cx<'a>,
    pub(crate) layout: &'a RingLayout,
    pub(crate) region: argent_core::RegionId,
    pub(crate) pos: usize,
    /// The member that passed the token here.
    pub(crate) prev: Option<NodeId>,
    pub(crate) round: u64,
}

/// One receiving member's part of a token visit for one sender's stream. Returns true if
/// the stream, whose sender departed, is to be retired now.
///
/// While the stream's join point is unknown the member cannot tell what it lacks: it
/// reports nothing missing and a contiguous number of 0, which holds the region's
/// acknowledgement of the stream back (it is a minimum), so the sender frees nothing this
/// member may still need.
pub(crate) fn member_visit(
    at: &Spot<'_>,
    feed: &mut RecvFeed,
    entry: &mut TokenEntry,
    missing: &mut Vec<SeqRange>,
    stall_limit: u32,
    io: &mut Io,
) -> bool {
    let Cx { now, cfg, me, .. } = at.cx;
    let region = at.region;
    let sender = NodeId(entry.sender);
    // Bounds against a member that holds the key but reports nonsense: the region's
    // cleanup point never passes this member (it is a minimum over members), and nothing
    // exists beyond one window past it (the sender is flow-controlled by that minimum).
    let cleanup = entry.cleanup.min(feed.contiguous);
    io.stats.clamped += u64::from(cleanup < entry.cleanup && feed.anchored);
    feed.clean(cleanup);
    feed.check(cfg.window_datagrams, true);
    feed.raise_cutoff(entry.cutoff, cfg.window_datagrams, io);
    // Push: the previous holder lacks these; send what we hold.
    if let Some(prev) = at.prev.filter(|p| *p != node_of(sender)) {
        let mut budget = cfg.repair_budget;
        'push: for r in &entry.prev_missing {
            for seq in r.start..=r.end {
                if budget == 0 {
                    break 'push;
                }
                budget -= 1;
                if let Some(copy) = feed.copy_of(seq) {
                    forward(region, me, prev, copy, io);
                }
            }
        }
    }
    if let Some(rate) = feed.sample_rate(now) {
        entry.rate_min = entry.rate_min.min(rate);
        entry.rate_max = entry.rate_max.max(rate);
        entry.rate_sum = entry.rate_sum.saturating_add(u64::from(rate));
        entry.rate_count = entry.rate_count.saturating_add(1);
    }
    entry.max_seen = entry.max_seen.max(feed.max_seen);
    if !feed.anchored {
        entry.min_contiguous = 0;
        entry.part_contiguous = 0;
        entry.prev_missing.clear();
        return false; // the partition's intersection is left to the members that know
    }
    feed.missing(feed.cutoff.max(feed.max_seen), cfg.window_datagrams, MAX_TOKEN_RANGES, missing);
    // A departed sender is not NAKed; its stream is repaired from peers only.
    let departing = feed.departing.is_some();
    if !missing.is_empty() {
        pull(at, sender, missing, departing, io);
    }
    if feed.note_visit(!missing.is_empty(), cfg.nak_escalation_visits) && !departing {
        io.unicast(
            region,
            node_of(sender),
            argent_wire::encode_request(region.0, me.0, true, sender.0, missing),
        );
        io.stats.naks_escalated += 1;
    }
    entry.min_contiguous = entry.min_contiguous.min(feed.contiguous);
    entry.part_contiguous = entry.part_contiguous.min(feed.contiguous);
    // What this member reports never exceeds what it holds, so the region's acknowledged
    // point (a minimum over the reports) never passes a member.
    invariant!(
        entry.min_contiguous <= feed.contiguous && entry.max_seen >= feed.max_seen,
        "token entry reports contiguous {} and seen {} past this member's {} and {}",
        entry.min_contiguous,
        entry.max_seen,
        feed.contiguous,
        feed.max_seen
    );
    let horizon = feed.contiguous.saturating_add(cfg.window_datagrams);
    invariant!(
        missing.iter().all(|r| r.start > feed.contiguous && r.start <= r.end && r.end <= horizon),
        "a reported gap lies outside ({}, {horizon}]",
        feed.contiguous
    );
    entry.prev_missing.clear();
    entry.prev_missing.extend_from_slice(missing);
    entry.isect = Some(match entry.isect.take() {
        None => missing.clone(),
        Some(isect) => intersect(&isect, missing),
    });
    departing && feed.departure_visit(cleanup, entry.max_seen, stall_limit)
}

/// Ask members of the partitions that cache what we lack for copies.
///
/// A member caches what its partition owned in the view it delivered the datagram in; a
/// view change may since have reshuffled the partitions, so the current owners may hold
/// no copy. For a live sender the partition's NAK covers that; a departing stream (its
/// sender is never NAKed) asks one member of every partition, in turn, for everything it
/// lacks, so that within the stall limit every member holding a copy is asked.
pub(crate) fn pull(at: &Spot<'_>, sender: NodeId, missing: &[SeqRange], departing: bool, io: &mut Io) {
    let Cx { cfg, me, .. } = at.cx;
    let layout = at.layout;
    let parts = layout.partitions();
    let mut wanted: Vec<Vec<SeqRange>> = vec![Vec::new(); parts];
    let mut budget = cfg.repair_budget;
    'fill: for r in missing {
        for seq in r.start..=r.end {
            if budget == 0 {
                break 'fill;
            }
            budget -= 1;
            if departing {
                wanted.iter_mut().for_each(|w| push_seq(w, seq));
            } else {
                push_seq(&mut wanted[layout.owner(seq)], seq);
            }
        }
    }
    for (part, ranges) in wanted.iter().enumerate() {
        if ranges.is_empty() {
            continue;
        }
        let candidates: Vec<NodeId> = layout
            .partition_members(part)
            .iter()
            .copied()
            .filter(|m| *m != me && *m != node_of(sender))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let turn = (at.pos as u64).wrapping_add(at.round) % candidates.len() as u64;
        let target = candidates[turn as usize];
        io.unicast(
            at.region,
            target,
            argent_wire::encode_request(at.region.0, me.0, false, sender.0, ranges),
        );
        io.stats.pulls_sent += 1;
    }
}

/// The last member of a partition: close the partition's running numbers, and return what
/// the partition owns but none of its members holds (to NAK to the sender). The partition's
/// contiguous number is not appended to the token: nothing reads a per-partition table, and
/// it made a token grow with the region (8 bytes per partition per stream: 1.8 KB at 1 000
/// members), so tokens stay the same size at any region size (issue 15).
pub(crate) fn end_partition(
    cfg: &Config,
    layout: &RingLayout,
    my_part: usize,
    entry: &mut TokenEntry,
) -> Option<Vec<SeqRange>> {
    entry.part_contiguous = u64::MAX;
    let isect = entry.isect.take()?;
    let mut owned = Vec::new();
    let mut budget = cfg.repair_budget;
    'fill: for r in &isect {
        for seq in r.start..=r.end {
            if budget == 0 {
                break 'fill;
            }
            budget -= 1;
            if layout.owner(seq) == my_part {
                push_seq(&mut owned, seq);
            }
        }
    }
    (!owned.is_empty()).then_some(owned)
}

pub(crate) fn push_seq(ranges: &mut Vec<SeqRange>, seq: u64) {
    match ranges.last_mut() {
        Some(r) if r.end + 1 == seq => r.end = seq,
        _ => ranges.push(SeqRange { start: seq, end: seq }),
    }
}

/// Intersection of two sorted lists of disjoint ranges.
pub(crate) fn intersect(a: &[SeqRange], b: &[SeqRange]) -> Vec<SeqRange> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start <= end {
            out.push(SeqRange { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> SeqRange {
        SeqRange { start, end }
    }

    #[test]
    fn intersection_of_range_lists() {
        assert_eq!(intersect(&[r(1, 5), r(8, 10)], &[r(3, 9)]), vec![r(3, 5), r(8, 9)]);
        assert_eq!(intersect(&[r(1, 2)], &[r(3, 4)]), vec![]);
        assert_eq!(intersect(&[], &[r(3, 4)]), vec![]);
    }

    /// Nodes on a lossless in-memory network, 10 µs steps; datagrams arrive at the next step.

    #[test]
    fn seqs_coalesce_into_ranges() {
        let mut v = Vec::new();
        for s in [1, 2, 3, 5, 7, 8] {
            push_seq(&mut v, s);
        }
        assert_eq!(v, vec![r(1, 3), r(5, 5), r(7, 8)]);
    }
}
