//! One point of a series: its settings, and the swept setting read and replaced.

use super::types::{Base, Netns, Param};

/// One point: the `argent bench` settings and, on a namespace LAN, the LAN.
#[derive(Debug, Clone)]
pub struct PointSpec {
    pub base: Base,
    pub netns: Option<Netns>,
}

impl PointSpec {
    /// This point with setting `p` replaced by `v`.
    pub fn with(&self, p: Param, v: u64) -> PointSpec {
        let mut s = self.clone();
        match (p, &mut s.netns) {
            (Param::LossPct, Some(n)) => n.loss_pct = v,
            (Param::Mtu, Some(n)) => n.mtu = v,
            (Param::LossPct | Param::Mtu, None) => {} // rejected by validation
            _ => s.base = s.base.with(p, v),
        }
        s
    }

    /// The value of setting `p` at this point.
    pub fn get(&self, p: Param) -> u64 {
        match (p, &self.netns) {
            (Param::LossPct, n) => n.map_or(0, |n| n.loss_pct),
            (Param::Mtu, n) => n.map_or(0, |n| n.mtu),
            _ => self.base.get(p),
        }
    }
}

impl Base {
    fn with(&self, p: Param, v: u64) -> Base {
        let mut b = self.clone();
        *match p {
            Param::Subscribers => &mut b.subscribers,
            Param::Groups => &mut b.groups,
            Param::Size => &mut b.size,
            Param::Publishers => &mut b.publishers,
            Param::Rate => {
                b.rate = Some(v);
                return b;
            }
            Param::LossPct | Param::Mtu => return b, // not Base settings (PointSpec::with)
        } = v;
        b
    }

    fn get(&self, p: Param) -> u64 {
        match p {
            Param::Subscribers => self.subscribers,
            Param::Groups => self.groups,
            Param::Size => self.size,
            Param::Publishers => self.publishers,
            Param::Rate => self.rate.unwrap_or(0),
            Param::LossPct | Param::Mtu => 0,
        }
    }
}
