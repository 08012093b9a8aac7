//! The member's side of the GMS: register, heartbeat, change groups, leave, and receive
//! views in order. Sans-IO, like the replica.

use super::msg::GmsMsg;
use super::view::{Member, View};
use crate::groups::GroupId;
use argent_core::{Instant, ViewId};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Timing of a member's GMS client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Heartbeat period (the GMS suspects after its `suspect_after`, evicts after `evict_after`).
    pub heartbeat: Duration,
    /// Requests not yet reflected in a view are sent again after this.
    pub retry: Duration,
    /// With no answer from the replica it talks to for this long, try the next one.
    pub failover_after: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            heartbeat: Duration::from_millis(250),
            retry: Duration::from_millis(300),
            failover_after: Duration::from_secs(1),
        }
    }
}

/// Where the member stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientStatus {
    /// Asking to be admitted.
    Registering,
    /// In the view.
    Member,
    /// Saying goodbye.
    Leaving,
    /// Gone from the view after leaving.
    Left,
    /// Gone from the view without leaving (evicted, or superseded by a newer incarnation):
    /// the process must register again as a new incarnation ([`GmsClient::rejoin`]).
    Evicted,
}

/// A member's connection to the membership service.
#[derive(Debug)]
pub struct GmsClient {
    cfg: ClientConfig,
    member: Member,
    groups: Vec<GroupId>,
    replicas: Vec<u64>,
    target: usize,
    status: ClientStatus,
    installed: Option<Arc<View>>,
    views: VecDeque<Arc<View>>,
    out: VecDeque<(u64, GmsMsg)>,
    next_send: Instant,
    last_answer: Instant,
}

impl GmsClient {
    /// A client for `member` (its `groups_version` is the version of `groups`), talking to
    /// the replicas with these raft ids. Starts registering at once.
    pub fn new(
        member: Member,
        groups: Vec<GroupId>,
        replicas: Vec<u64>,
        cfg: ClientConfig,
        now: Instant,
    ) -> Self {
        assert!(!replicas.is_empty(), "a GMS client needs at least one replica");
        let target = (member.node.0 as usize) % replicas.len();
        GmsClient {
            cfg,
            member,
            groups,
            replicas,
            target,
            status: ClientStatus::Registering,
            installed: None,
            views: VecDeque::new(),
            out: VecDeque::new(),
            next_send: now,
            last_answer: now,
        }
    }

    /// Where the member stands.
    pub fn status(&self) -> ClientStatus {
        self.status
    }

    /// This member as registered.
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The last view handed out by [`GmsClient::poll_view`] or waiting there.
    pub fn view(&self) -> Option<&Arc<View>> {
        self.installed.as_ref()
    }

    /// Change the group set (joins and leaves at once); applied in a later view.
    pub fn set_groups(&mut self, now: Instant, groups: Vec<GroupId>) {
        self.groups = groups;
        self.member.groups_version += 1;
        self.next_send = now;
    }

    /// Leave the membership.
    pub fn leave(&mut self, now: Instant) {
        if matches!(self.status, ClientStatus::Member | ClientStatus::Registering) {
            self.status = ClientStatus::Leaving;
            self.next_send = now;
        }
    }

    /// After eviction: register again as `incarnation` (higher than before), same groups.
    pub fn rejoin(&mut self, now: Instant, incarnation: u64) {
        self.member.incarnation = incarnation;
        self.status = ClientStatus::Registering;
        self.next_send = now;
    }

    /// Next message to send, to the replica with this raft id.
    pub fn poll_transmit(&mut self) -> Option<(u64, GmsMsg)> {
        self.out.pop_front()
    }

    /// Next view to install, in order.
    pub fn poll_view(&mut self) -> Option<Arc<View>> {
        self.views.pop_front()
    }

    /// When [`GmsClient::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.status {
            ClientStatus::Left | ClientStatus::Evicted => None,
            _ => Some(self.next_send),
        }
    }

    /// Time passes: heartbeats, retries, failover.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_send {
            return;
        }
        let silent = now.saturating_duration_since(self.last_answer);
        if silent >= self.cfg.failover_after {
            self.target = (self.target + 1) % self.replicas.len();
            self.last_answer = now;
        }
        self.send_now();
        // The replica we talk to has been quiet for two heartbeats (crashed, cut off, or an
        // election is on): heartbeat every replica meanwhile, so whichever leads next hears
        // from us at once and its redirect brings us to it, instead of trying them in turn.
        if self.status == ClientStatus::Member && silent >= self.cfg.heartbeat * 2 && self.replicas.len() > 1
        {
            let m = &self.member;
            let view = self.installed.as_ref().map_or(ViewId(0), |v| v.id);
            let target = self.replicas[self.target];
            for r in self.replicas.iter().filter(|r| **r != target) {
                self.out
                    .push_back((*r, GmsMsg::Heartbeat { node: m.node, incarnation: m.incarnation, view }));
            }
        }
        let period = match self.status {
            ClientStatus::Member => self.cfg.heartbeat,
            _ => self.cfg.retry,
        };
        self.next_send = now + period;
    }

    fn send_now(&mut self) {
        let to = self.replicas[self.target];
        let m = &self.member;
        let view = self.installed.as_ref().map_or(ViewId(0), |v| v.id);
        match self.status {
            ClientStatus::Registering => {
                let msg = GmsMsg::Register { member: m.clone(), groups: self.groups.clone() };
                self.out.push_back((to, msg));
            }
            ClientStatus::Member => {
                self.out
                    .push_back((to, GmsMsg::Heartbeat { node: m.node, incarnation: m.incarnation, view }));
                let applied = self
                    .installed
                    .as_ref()
                    .and_then(|v| v.member(m.node))
                    .filter(|x| x.incarnation == m.incarnation)
                    .map_or(0, |x| x.groups_version);
                if applied < m.groups_version {
                    let msg = GmsMsg::SetGroups {
                        node: m.node,
                        incarnation: m.incarnation,
                        version: m.groups_version,
                        groups: self.groups.clone(),
                    };
                    self.out.push_back((to, msg));
                }
            }
            ClientStatus::Leaving => {
                self.out.push_back((to, GmsMsg::Leave { node: m.node, incarnation: m.incarnation }));
                // Keep acknowledging views so the GMS knows we are alive until we are out.
                self.out
                    .push_back((to, GmsMsg::Heartbeat { node: m.node, incarnation: m.incarnation, view }));
            }
            ClientStatus::Left | ClientStatus::Evicted => {}
        }
    }

    /// A message from the replica with raft id `from`.
    pub fn handle_message(&mut self, now: Instant, from: u64, msg: GmsMsg) {
        if self.replicas.get(self.target) == Some(&from) {
            self.last_answer = now;
        }
        match msg {
            GmsMsg::Views { views, first } => {
                self.last_answer = now;
                if let Some(i) = self.replicas.iter().position(|r| *r == from) {
                    self.target = i;
                }
                for v in views {
                    self.offer(v, first);
                }
            }
            // A redirect from a replica we are no longer talking to is stale.
            GmsMsg::NotLeader { .. } if self.replicas.get(self.target) != Some(&from) => {}
            GmsMsg::NotLeader { leader } => {
                self.last_answer = now;
                match leader.and_then(|l| self.replicas.iter().position(|r| *r == l)) {
                    // A hint to a replica we are not already talking to: go there at once.
                    Some(i) if i != self.target => {
                        self.target = i;
                        self.next_send = now;
                    }
                    // No leader known (an election is on): try the next one at the next retry.
                    _ => self.target = (self.target + 1) % self.replicas.len(),
                }
            }
            GmsMsg::Unknown { node, incarnation }
                if node == self.member.node && incarnation == self.member.incarnation =>
            {
                self.status = match self.status {
                    ClientStatus::Leaving | ClientStatus::Left => ClientStatus::Left,
                    _ => ClientStatus::Evicted,
                };
            }
            GmsMsg::Ping if self.status == ClientStatus::Member => self.next_send = now,
            _ => {}
        }
    }

    fn offer(&mut self, v: Arc<View>, first: bool) {
        let current = self.installed.as_ref().map(|c| c.id);
        let takes = match current {
            None => true,
            // A fresh start: the first view after (re)registering, or so far behind that
            // the GMS no longer has the views in between.
            Some(c) if first => {
                v.id > c
                    && (self.status == ClientStatus::Registering
                        || v.id.0 - c.0 > super::state::VIEW_HISTORY as u64)
            }
            Some(c) => v.id.0 == c.0 + 1,
        };
        if !takes {
            return;
        }
        let me = &self.member;
        let in_view = v.member(me.node).is_some_and(|x| x.incarnation == me.incarnation);
        match (self.status, in_view) {
            (ClientStatus::Evicted | ClientStatus::Left, _) => return,
            (ClientStatus::Registering, false) => return, // not admitted yet: not our view
            (ClientStatus::Registering, true) => self.status = ClientStatus::Member,
            (ClientStatus::Member, false) => self.status = ClientStatus::Evicted,
            (ClientStatus::Leaving, false) => self.status = ClientStatus::Left,
            _ => {}
        }
        self.installed = Some(v.clone());
        self.views.push_back(v);
    }
}
