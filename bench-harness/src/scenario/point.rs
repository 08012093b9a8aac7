//! One point of a series: its settings, and the swept setting read and replaced.

use super::types::{Base, Netns, Param};

/// One point: the `argent bench` settings and, on a namespace LAN, the LAN.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSpec {
    pub base: Base,
    pub netns: Option<Netns>,
    /// A point of a `rate_of_peak` sweep: this percentage of argent's peak, paced at
    /// `base.rate` once [`PointSpec::pace_at_peak`] has computed it (until then `base.rate`
    /// holds the percentage, so that validation treats the point as paced).
    pub of_peak: Option<u64>,
}

impl PointSpec {
    /// A point of the settings of `base` and the LAN `netns`.
    pub fn new(base: Base, netns: Option<Netns>) -> PointSpec {
        PointSpec { base, netns, of_peak: None }
    }

    /// This point with setting `p` replaced by `v`.
    pub fn with(&self, p: Param, v: u64) -> PointSpec {
        let mut s = self.clone();
        if p == Param::RateOfPeak {
            s.of_peak = Some(v);
            s.base.rate = Some(v);
            return s;
        }
        match (p, &mut s.netns) {
            (Param::LossPct, Some(n)) => n.loss_pct = v,
            (Param::Mtu, Some(n)) => n.mtu = v,
            (Param::LossPct | Param::Mtu, None) => {} // rejected by validation
            _ => s.base = s.base.with(p, v),
        }
        s
    }

    /// The unpaced point whose argent peak a `rate_of_peak` point is paced from: the same
    /// settings, no rate (`None` for any other point).
    pub fn peak_point(&self) -> Option<PointSpec> {
        self.of_peak?;
        let mut unpaced = PointSpec { of_peak: None, ..self.clone() };
        unpaced.base.rate = None;
        Some(unpaced)
    }

    /// A `rate_of_peak` point paced at its percentage of `peak` messages/s per subscriber
    /// (at least 1). The peak counts every publisher's messages and `rate` is per
    /// publisher, so each publisher is paced at its share.
    pub fn pace_at_peak(&mut self, peak: f64) {
        if let Some(pct) = self.of_peak {
            let total = peak * pct as f64 / 100.0;
            self.base.rate = Some(((total / self.base.publishers.max(1) as f64).round() as u64).max(1));
        }
    }

    /// The value of setting `p` at this point.
    pub fn get(&self, p: Param) -> u64 {
        if p == Param::RateOfPeak {
            return self.of_peak.unwrap_or(0);
        }
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
            Param::LossPct | Param::Mtu | Param::RateOfPeak => return b, // PointSpec::with
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
            Param::LossPct | Param::Mtu | Param::RateOfPeak => 0,
        }
    }
}
