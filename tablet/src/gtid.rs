//! MariaDB GTID positions as plain data.
//!
//! A MariaDB GTID is `domain-server-seq`: the replication domain, the
//! `server_id` of the server that wrote the transaction, and a sequence number
//! that grows within the domain. A *position* (what `@@gtid_current_pos`,
//! `@@gtid_slave_pos` and `@@gtid_binlog_pos` return) holds at most one GTID
//! per domain: the last transaction applied in that domain. Positions are
//! compared per domain — there is no total order between two positions that
//! advanced in different domains — so reparenting asks "does this replica
//! contain that position?" rather than "which is bigger?".
//!
//! Everything here is pure: no IO, no async, so failover analysis can use it
//! directly and the golden file `tests/golden/gtid.txt` pins its behaviour.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One MariaDB GTID: `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

/// Why a GTID or a position did not parse. The message names the offending
/// text so an operator can find it in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtidParseError {
    #[error("invalid GTID {text:?}: expected domain-server-seq (three numbers separated by '-')")]
    Shape { text: String },
    #[error("invalid GTID {text:?}: {part} {value:?} is not a number in range")]
    Number {
        text: String,
        part: &'static str,
        value: String,
    },
    #[error("invalid GTID position {text:?}: domain {domain} appears more than once")]
    DuplicateDomain { text: String, domain: u32 },
}

impl FromStr for Gtid {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let parts: Vec<&str> = text.split('-').collect();
        if parts.len() != 3 {
            return Err(GtidParseError::Shape { text: text.into() });
        }
        let number = |part: &'static str, value: &str| GtidParseError::Number {
            text: text.into(),
            part,
            value: value.into(),
        };
        // `u32::from_str` accepts a leading '+'; MariaDB never prints one.
        let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        let (d, s, q) = (parts[0], parts[1], parts[2]);
        let domain = digits(d)
            .then(|| d.parse().ok())
            .flatten()
            .ok_or_else(|| number("domain", d))?;
        let server = digits(s)
            .then(|| s.parse().ok())
            .flatten()
            .ok_or_else(|| number("server", s))?;
        let seq = digits(q)
            .then(|| q.parse().ok())
            .flatten()
            .ok_or_else(|| number("seq", q))?;
        Ok(Gtid {
            domain,
            server,
            seq,
        })
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// A GTID position: at most one GTID per domain, kept sorted by domain so the
/// display form is canonical (`0-101-5,1-102-7`). The empty position is the
/// empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GtidPosition {
    by_domain: BTreeMap<u32, Gtid>,
}

/// How two positions relate when compared domain by domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionOrder {
    Equal,
    /// Self contains other and has more.
    Ahead,
    /// Other contains self and has more.
    Behind,
    /// Each has something the other lacks (different domains advanced, or the
    /// same sequence number written by different servers).
    Diverged,
}

impl FromStr for GtidPosition {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut by_domain = BTreeMap::new();
        // MariaDB may wrap long lists with newlines after commas.
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let gtid: Gtid = item.parse()?;
            if by_domain.insert(gtid.domain, gtid).is_some() {
                return Err(GtidParseError::DuplicateDomain {
                    text: s.trim().into(),
                    domain: gtid.domain,
                });
            }
        }
        Ok(GtidPosition { by_domain })
    }
}

impl fmt::Display for GtidPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, gtid) in self.by_domain.values().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{gtid}")?;
        }
        Ok(())
    }
}

impl FromIterator<Gtid> for GtidPosition {
    /// Later GTIDs for the same domain replace earlier ones.
    fn from_iter<T: IntoIterator<Item = Gtid>>(iter: T) -> Self {
        GtidPosition {
            by_domain: iter.into_iter().map(|g| (g.domain, g)).collect(),
        }
    }
}

impl GtidPosition {
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    pub fn gtids(&self) -> impl Iterator<Item = &Gtid> {
        self.by_domain.values()
    }

    pub fn domain(&self, domain: u32) -> Option<&Gtid> {
        self.by_domain.get(&domain)
    }

    /// Self has reached `gtid`: it has the domain at the same or a later
    /// sequence number. The server id is not compared (under
    /// `gtid_strict_mode` sequence numbers only grow within a domain).
    pub fn at_least(&self, gtid: &Gtid) -> bool {
        self.by_domain
            .get(&gtid.domain)
            .is_some_and(|mine| mine.seq >= gtid.seq)
    }

    /// Self is at or past `other` in every domain of `other` — what
    /// `MASTER_GTID_WAIT(other)` waits for. Every position contains the empty
    /// position.
    pub fn contains(&self, other: &GtidPosition) -> bool {
        other.gtids().all(|g| self.at_least(g))
    }

    /// Per-domain maximum of both positions (by sequence number; on a tie the
    /// GTID of `self` is kept).
    pub fn max(&self, other: &GtidPosition) -> GtidPosition {
        let mut by_domain = self.by_domain.clone();
        for g in other.gtids() {
            by_domain
                .entry(g.domain)
                .and_modify(|mine| {
                    if g.seq > mine.seq {
                        *mine = *g;
                    }
                })
                .or_insert(*g);
        }
        GtidPosition { by_domain }
    }

    /// Compare per domain. Equal sequence numbers written by different
    /// servers count as divergence: the two histories cannot both be right.
    pub fn compare(&self, other: &GtidPosition) -> PositionOrder {
        let mut self_more = false;
        let mut other_more = false;
        let domains = self.by_domain.keys().chain(other.by_domain.keys());
        for d in domains {
            match (self.by_domain.get(d), other.by_domain.get(d)) {
                (Some(a), Some(b)) => match a.seq.cmp(&b.seq) {
                    Ordering::Greater => self_more = true,
                    Ordering::Less => other_more = true,
                    Ordering::Equal if a.server != b.server => return PositionOrder::Diverged,
                    Ordering::Equal => {}
                },
                (Some(_), None) => self_more = true,
                (None, Some(_)) => other_more = true,
                (None, None) => {}
            }
        }
        match (self_more, other_more) {
            (false, false) => PositionOrder::Equal,
            (true, false) => PositionOrder::Ahead,
            (false, true) => PositionOrder::Behind,
            (true, true) => PositionOrder::Diverged,
        }
    }

    /// The GTIDs of this (replica) position that the primary's position does
    /// not account for: a domain the primary has never written, a sequence
    /// number beyond the primary's in that domain, or the primary's own
    /// sequence number written by a different server. A replica with errant
    /// GTIDs must not be promoted or re-pointed without repair.
    ///
    /// Positions keep only the last GTID per domain, so an errant transaction
    /// that the replica wrote *before* later replicated ones is invisible
    /// here; catching those needs `@@gtid_binlog_state` (per server).
    pub fn errant_relative_to(&self, primary: &GtidPosition) -> Vec<Gtid> {
        self.gtids()
            .filter(|g| match primary.domain(g.domain) {
                None => true,
                Some(p) => g.seq > p.seq || (g.seq == p.seq && g.server != p.server),
            })
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(s: &str) -> GtidPosition {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_display_sorts_by_domain() {
        assert_eq!(pos(" 1-102-7, 0-101-5 ").to_string(), "0-101-5,1-102-7");
        assert_eq!(pos("").to_string(), "");
    }

    #[test]
    fn empty_is_contained_everywhere() {
        assert!(pos("").contains(&pos("")));
        assert!(pos("0-1-1").contains(&pos("")));
        assert!(!pos("").contains(&pos("0-1-1")));
    }
}
