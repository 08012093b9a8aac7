//! How a shard installs a membership view: addresses, regions new to it, region views and
//! cuts (through the total-order layer where there is one), regions gone, departed nodes.

use super::{routes, share_members, Shard, ShardView};
use argent_core::{RegionId, ViewId};
use argent_qsm::RegionView;
use std::net::SocketAddrV4;

impl Shard {
    /// Install a membership view: addresses first (a joiner must be reachable before the
    /// ring includes it), then regions new to this node, then region views whose membership
    /// changed, then retire the streams of departed nodes and of superseded incarnations.
    pub(super) fn apply_view(&mut self, v: ShardView) {
        let now = self.now();
        let me = self.node.id();
        self.addrs.members = v.members;
        if let Some(g) = &mut self.guard {
            g.set_members(self.addrs.members.keys().map(|n| n.0));
            g.add_keys(&v.keys, now);
        }
        let regions_changed = !v.added.is_empty() || !v.gone.is_empty() || !v.regrouped.is_empty();
        for (region, groups) in v.regrouped {
            if let Some(spec) = self.specs.get_mut(&region) {
                spec.groups = groups;
            }
        }
        for (spec, id, cut) in v.added {
            if self.specs.contains_key(&spec.region) {
                continue; // known already: a view change, below or in a later view
            }
            let view = RegionView { region: spec.region, id, members: spec.members.clone() };
            if let Err(e) = self.node.install_view(now, view.clone()) {
                tracing::error!(region = %spec.region, error = %e, "a new region refused");
                continue;
            }
            self.layers.add(&view, me);
            self.cut(spec.region, cut);
            self.addrs.regions.insert(spec.region, spec.address);
            if spec.members.contains(&me) {
                self.join_address(spec.address);
            }
            tracing::info!(region = %spec.region, address = %spec.address, member = spec.members.contains(&me), "region installed");
            self.views.insert(spec.region, view);
            self.specs.insert(spec.region, spec);
        }
        for (view, cut) in v.regions {
            let changed = self
                .views
                .get(&view.region)
                .is_none_or(|old| old.members != view.members || old.id < view.id);
            if !changed {
                self.cut(view.region, cut);
                continue;
            }
            tracing::info!(region = %view.region, view = view.id.0, members = view.members.len(), "installing region view");
            let was = self.views.get(&view.region).is_some_and(|old| old.members.contains(&me));
            let now_member = view.members.contains(&me);
            let installed = match self.layers.regions.get_mut(&view.region) {
                // A member goes on from its view (a flush closes it)...
                Some(layer) if was => layer.install_view(&mut self.node, now, view.clone()),
                // ... a node that joins starts in this one.
                _ => self.node.install_view(now, view.clone()).map(|()| self.layers.add(&view, me)),
            };
            match installed {
                Ok(()) => {
                    self.cut(view.region, cut);
                    if let Some(spec) = self.specs.get_mut(&view.region) {
                        spec.members.clone_from(&view.members);
                        let address = spec.address;
                        if now_member && !was {
                            self.join_address(address);
                        } else if was && !now_member {
                            self.leave_address(address);
                        }
                    }
                    self.views.insert(view.region, view);
                }
                Err(e) => tracing::error!(error = %e, "view refused"),
            }
        }
        let gone_regions = v.gone.clone();
        for region in v.gone {
            let held = self.node.send_buffered_bytes();
            // Gone from the view: its last member left, and its id is never reused.
            self.node.forget_region(region);
            self.layers.regions.remove(&region);
            let dropped = held.saturating_sub(self.node.send_buffered_bytes());
            if dropped > 0 {
                tracing::warn!(%region, bytes = dropped, "unacknowledged data of a region with no members left dropped");
            }
            self.views.remove(&region);
            self.addrs.regions.remove(&region);
            if let Some(spec) = self.specs.remove(&region) {
                if spec.members.contains(&me) {
                    self.leave_address(spec.address);
                }
            }
            for p in self.publishers.iter_mut().filter(|p| p.blocked_on == Some(region)) {
                p.blocked_on = None;
            }
            for s in &mut self.subscribers {
                s.regions.retain(|r| *r != region);
            }
        }
        if regions_changed {
            (self.routes, self.region_lists) = routes(self.specs.values());
        }
        share_members(&self.members, &self.views, &gone_regions);
        for gone in v.departed {
            self.node.remove_node(gone);
            for (region, layer) in &mut self.layers.regions {
                layer.departed(gone, self.node.streams_of(*region, gone));
            }
        }
        for stream in v.superseded {
            self.node.retire_stream(stream);
            for layer in self.layers.regions.values_mut() {
                layer.departed(argent_qsm::node_of(stream), [stream]);
            }
        }
    }

    /// After the ring view of `region`: install `cut` if it is newer than what the protocol
    /// has installed (a member joined or left one of the region's groups in it).
    fn cut(&mut self, region: RegionId, cut: ViewId) {
        if self.node.installed_view(region).is_some_and(|v| cut > v) {
            let installed = match self.layers.regions.get_mut(&region) {
                Some(layer) => layer.install_cut(&mut self.node, cut),
                None => self.node.install_cut(region, cut),
            };
            if let Err(e) = installed {
                tracing::error!(%region, error = %e, "a view of the region's groups refused");
            }
        }
    }

    /// Receive on `address` (a region this node became a member of).
    fn join_address(&mut self, address: SocketAddrV4) {
        if let Err(e) = self.transport.join(address) {
            tracing::error!(%address, error = %e, "joining a region's multicast address failed: its traffic reaches this node only by repairs");
        }
    }

    /// Stop receiving on `address` unless another region of this shard that this node is a
    /// member of uses it too (shared addresses).
    fn leave_address(&mut self, address: SocketAddrV4) {
        let me = self.node.id();
        if self.specs.values().any(|s| s.address == address && s.members.contains(&me)) {
            return;
        }
        if let Err(e) = self.transport.leave(address) {
            tracing::error!(%address, error = %e, "leaving a region's multicast address failed");
        }
    }
}
