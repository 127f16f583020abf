//! `flowbits`: named booleans kept per flow, set by one rule and tested by later ones.
//!
//! Names are interned to small integers when the [`crate::Engine`] is built, so the state a
//! caller keeps per flow ([`FlowState`]) is a compact bitset. The state also carries the
//! flow's `pass` flag, since a matching `pass` rule exempts the rest of its flow.

use crate::error::{bail, RResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowbitCmd {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
}

/// One `flowbits:cmd,name` option. `isset,a|b` is true when any is set; `isset,a&b` when
/// all are. For set/unset/toggle every listed name is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowbitOp {
    pub cmd: FlowbitCmd,
    pub names: Vec<String>,
    /// `|`-separated: a condition holds when any name satisfies it.
    pub any: bool,
    /// Interned ids of `names`, filled in by the engine.
    pub(crate) ids: Vec<u32>,
}

/// What a `flowbits` option says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flowbits {
    /// `flowbits:noalert`: the rule never alerts (it only sets bits).
    NoAlert,
    Op(FlowbitOp),
}

impl Flowbits {
    pub fn parse(v: &str) -> RResult<Flowbits> {
        const KW: &str = "flowbits";
        let (cmd, rest) = match v.split_once(',') {
            Some((c, r)) => (c.trim(), Some(r.trim())),
            None => (v.trim(), None),
        };
        let cmd = match cmd {
            "noalert" if rest.is_none() => return Ok(Flowbits::NoAlert),
            "set" => FlowbitCmd::Set,
            "unset" => FlowbitCmd::Unset,
            "toggle" => FlowbitCmd::Toggle,
            "isset" => FlowbitCmd::IsSet,
            "isnotset" => FlowbitCmd::IsNotSet,
            other => bail!(KW, "unknown command {other:?}"),
        };
        let Some(rest) = rest.filter(|r| !r.is_empty()) else {
            bail!(KW, "needs a flowbit name");
        };
        if rest.contains('|') && rest.contains('&') {
            bail!(KW, "can't mix '|' and '&' in {rest:?}");
        }
        let any = rest.contains('|');
        if any && !matches!(cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet) {
            bail!(KW, "'|' only works with isset/isnotset");
        }
        let names: Vec<String> = rest
            .split(['|', '&'])
            .map(|n| n.trim().to_string())
            .collect();
        if names
            .iter()
            .any(|n| n.is_empty() || n.contains(char::is_whitespace) || n.contains(','))
        {
            bail!(KW, "invalid flowbit name in {rest:?}");
        }
        Ok(Flowbits::Op(FlowbitOp {
            cmd,
            names,
            any,
            ids: Vec::new(),
        }))
    }

    /// Whether this op reads state (isset/isnotset).
    pub fn is_condition(cmd: FlowbitCmd) -> bool {
        matches!(cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet)
    }
}

/// Per-flow detection state the caller keeps in its flow table; start with `default()`.
///
/// It belongs to the [`crate::Engine`] that used it first: after a rule reload the engine
/// notices the mismatch and starts the flow afresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowState {
    engine: u64,
    bits: Vec<u64>,
    /// A `pass` rule matched on this flow: nothing more is inspected.
    pub passed: bool,
}

impl FlowState {
    pub(crate) fn bind(&mut self, engine: u64, nbits: usize) {
        if self.engine != engine {
            self.engine = engine;
            self.bits.clear();
            self.passed = false;
        }
        let words = nbits.div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
    }

    pub(crate) fn get(&self, id: u32) -> bool {
        self.bits
            .get(id as usize / 64)
            .is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    pub(crate) fn put(&mut self, id: u32, v: bool) {
        if let Some(w) = self.bits.get_mut(id as usize / 64) {
            let m = 1u64 << (id % 64);
            if v {
                *w |= m;
            } else {
                *w &= !m;
            }
        }
    }

    /// Whether any flowbit is set.
    pub fn any_set(&self) -> bool {
        self.bits.iter().any(|&w| w != 0)
    }

    /// Evaluate a condition op.
    pub(crate) fn check(&self, op: &FlowbitOp) -> bool {
        let want = op.cmd == FlowbitCmd::IsSet;
        if op.any {
            op.ids.iter().any(|&i| self.get(i) == want)
        } else {
            op.ids.iter().all(|&i| self.get(i) == want)
        }
    }

    /// Apply a set/unset/toggle op.
    pub(crate) fn apply(&mut self, op: &FlowbitOp) {
        for &i in &op.ids {
            match op.cmd {
                FlowbitCmd::Set => self.put(i, true),
                FlowbitCmd::Unset => self.put(i, false),
                FlowbitCmd::Toggle => {
                    let v = self.get(i);
                    self.put(i, !v);
                }
                FlowbitCmd::IsSet | FlowbitCmd::IsNotSet => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(v: &str, ids: &[u32]) -> FlowbitOp {
        match Flowbits::parse(v).unwrap() {
            Flowbits::Op(mut o) => {
                o.ids = ids.to_vec();
                o
            }
            Flowbits::NoAlert => panic!("noalert"),
        }
    }

    #[test]
    fn parse_commands_and_groups() {
        assert_eq!(Flowbits::parse("noalert").unwrap(), Flowbits::NoAlert);
        let o = op("isset,a|b", &[]);
        assert!(o.any && o.names == ["a", "b"]);
        let o = op("set,a&b", &[]);
        assert!(!o.any && o.names.len() == 2);
        assert!(Flowbits::parse("set,a|b").is_err());
        assert!(Flowbits::parse("bogus,a").is_err());
        assert!(Flowbits::parse("set").is_err());
        assert!(Flowbits::parse("set,").is_err());
    }

    #[test]
    fn state_set_check_toggle() {
        let mut s = FlowState::default();
        s.bind(1, 3);
        assert!(s.check(&op("isnotset,a", &[0])));
        s.apply(&op("set,a", &[0]));
        assert!(s.check(&op("isset,a", &[0])));
        assert!(!s.check(&op("isset,a&b", &[0, 1])));
        assert!(s.check(&op("isset,a|b", &[0, 1])));
        s.apply(&op("toggle,a", &[0]));
        assert!(!s.any_set());
        s.apply(&op("set,c", &[2]));
        s.passed = true;
        s.bind(2, 3);
        assert!(
            !s.any_set() && !s.passed,
            "a new engine starts the flow afresh"
        );
    }
}
