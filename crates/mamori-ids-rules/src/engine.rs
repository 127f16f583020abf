//! The detection engine: rules indexed for fast lookup, and [`Engine::inspect`].
//!
//! A rule with a fast pattern is found through its buffer's Aho-Corasick prefilter
//! ([`crate::prefilter`]): one automaton per buffer over every rule's pattern, so each
//! buffer an inspection carries is scanned once. Rules without any content are grouped like
//! Suricata's signature group heads, by transport protocol, the flow's app-layer protocol
//! and direction, and inside a group indexed by their most selective header field, or kept
//! in a small always-evaluated list.
//!
//! Before a candidate is evaluated in full, its [`Gate`] — a few bytes per rule, kept
//! contiguously — rejects it when the input lacks something the rule cannot match without:
//! a buffer it inspects, payload data, the flow direction or state, the protocol. An empty
//! ACK thus costs a handful of header-only rules, and a transaction never evaluates rules
//! that inspect the packet payload.
//!
//! Evaluation order follows Suricata's: by action (pass, drop, reject, alert), then rules
//! that set flowbits before rules that test them, then priority. A matching `pass` rule
//! stops the packet's inspection and marks the flow passed.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bytes::MAX_VARS;
use crate::flowbits::{FlowState, Flowbits};
use crate::header::{Action, Header, IpSet, PortSet, RuleProto};
use crate::input::{AppProto, Input, Proto};
use crate::matcher::{self, Op};
use crate::prefilter::{Prefilter, RangeIndex, ScanScratch};
use crate::rule::{List, Rule, Source, StreamMode};
use crate::threshold::Thresholds;

static ENGINE_IDS: AtomicU64 = AtomicU64::new(1);

/// A rule that matched. At most one per rule per [`Engine::inspect`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index of the rule: [`Engine::rule`].
    pub rule: usize,
    pub action: Action,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
}

/// What a rule cannot match without, checked for every candidate before full evaluation.
/// Each condition is one that [`Engine::inspect`]'s full evaluation would also reject.
#[derive(Debug, Clone, Copy)]
struct Gate {
    /// Buffers the rule's keyword lists inspect: each must be present.
    buffers: u64,
    /// Payload data the rule needs ([`PKT`] and/or [`STREAM`]: either will do), or 0.
    payload: u8,
    to_server: Option<bool>,
    established: Option<bool>,
    proto: RuleProto,
}

/// Non-empty packet payload.
const PKT: u8 = 1;
/// Non-empty stream data.
const STREAM: u8 = 2;

impl Gate {
    fn of(r: &Rule) -> Gate {
        let d = &r.detect;
        // Without byte_extract every variable is 0, so a list's verdict on empty data is
        // known now; with it, a list may depend on another list's values: stay permissive.
        let extracts = d
            .lists
            .iter()
            .flat_map(|l| &l.ops)
            .any(|op| matches!(op, Op::ByteExtract(_)));
        let mut buffers = 0u64;
        let mut payload = 0u8;
        for l in &d.lists {
            match l.source {
                Source::Buffer(b) => buffers |= 1 << b as u32,
                Source::Payload => {
                    if !extracts && !matcher::inspect(&l.ops, b"", b"", &mut [0; MAX_VARS]) {
                        payload = match d.flow.stream {
                            StreamMode::Both => PKT | STREAM,
                            StreamMode::OnlyStream => STREAM,
                            StreamMode::NoStream => PKT,
                        };
                    }
                }
            }
        }
        Gate {
            buffers,
            payload,
            to_server: d.flow.to_server,
            established: d.flow.established,
            proto: r.header.proto,
        }
    }

    fn admits(&self, o: &Offer) -> bool {
        // A rule of packet keywords only (headers, flowbits, no buffer) is a packet rule:
        // a transaction's inspection, which carries buffers, does not evaluate it again.
        (self.buffers != 0 || o.buffers == 0)
            && self.buffers & !o.buffers == 0
            && (self.payload == 0 || self.payload & o.payload != 0)
            && self.to_server.is_none_or(|t| t == o.to_server)
            && self.established.is_none_or(|e| e == o.established)
            && self.proto.matches(o.proto, o.app)
    }
}

/// What an input offers, in the terms of [`Gate`].
struct Offer {
    buffers: u64,
    payload: u8,
    to_server: bool,
    established: bool,
    proto: Proto,
    app: Option<AppProto>,
}

impl Offer {
    fn of(i: &Input<'_>) -> Offer {
        let buffers = crate::buffer::Buffer::ALL
            .iter()
            .filter(|&&b| i.buffers.get(b).is_some())
            .fold(0u64, |m, &b| m | 1 << b as u32);
        let mut payload = 0;
        if !i.packet.is_empty() {
            payload |= PKT;
        }
        if i.stream.is_some_and(|s| !s.is_empty()) {
            payload |= STREAM;
        }
        Offer {
            buffers,
            payload,
            to_server: i.to_server,
            established: i.established,
            proto: i.proto,
            app: i.app_proto,
        }
    }
}

/// Working memory of [`Engine::inspect`], reused from call to call. It lives in
/// [`Thresholds`], which callers already keep per worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    /// Candidate rules, one bit per rank; all-clear between calls.
    cands: Vec<u64>,
    scan: ScanScratch,
    lowered: Lowered,
}

/// Transport classes with their own groups.
const L4: usize = 4;

fn l4_index(p: Proto) -> usize {
    match p {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Icmp => 2,
        Proto::Other(_) => 3,
    }
}

#[derive(Debug, Default)]
struct Group {
    /// Ranks of rules with no fast pattern whose header is too broad to index, sorted.
    always: Vec<u32>,
    /// Rules with no fast pattern, found by their most selective header field.
    by_field: [RangeIndex; FIELDS],
}

/// Header fields rules without a fast pattern are indexed by.
const FIELDS: usize = 6;
const SRC_V4: usize = 0;
const SRC_V6: usize = 1;
const DST_V4: usize = 2;
const DST_V6: usize = 3;
const SPORT: usize = 4;
const DPORT: usize = 5;

/// A rule is indexed by a header field when that field admits at most this share of its
/// key space; otherwise it is evaluated on every packet of its group.
const SELECTIVE: f64 = 1.0 / 256.0;

fn ip_share(s: &IpSet) -> f64 {
    let v4: f64 = s
        .v4_ranges()
        .iter()
        .map(|&(a, b)| f64::from(b - a) + 1.0)
        .sum::<f64>()
        / 4_294_967_296.0;
    let v6: f64 = s
        .v6_ranges()
        .iter()
        .map(|&(a, b)| (b - a) as f64 + 1.0)
        .sum::<f64>()
        / 2f64.powi(128);
    v4.max(v6)
}

fn port_share(p: &PortSet) -> f64 {
    p.ranges()
        .iter()
        .map(|&(a, b)| f64::from(b - a) + 1.0)
        .sum::<f64>()
        / 65_536.0
}

/// Index entries for a rule by its most selective header field, or `None` if all are broad.
fn header_entries(
    h: &Header,
    ports_apply: bool,
    rank: u32,
) -> Option<Vec<(usize, u128, u128, u32)>> {
    let mut best: Option<(f64, u8)> = None;
    let mut consider = |share: f64, which: u8| {
        if share <= SELECTIVE && best.is_none_or(|(s, _)| share < s) {
            best = Some((share, which));
        }
    };
    consider(ip_share(&h.src), 0);
    consider(ip_share(&h.dst), 1);
    if ports_apply {
        consider(port_share(&h.src_ports), 2);
        consider(port_share(&h.dst_ports), 3);
    }
    let (_, which) = best?;
    let mut out = Vec::new();
    // A bidirectional rule can meet its field on either side of the packet.
    let sides: &[bool] = if h.bidirectional {
        &[false, true]
    } else {
        &[false]
    };
    for &swap in sides {
        match which {
            0 | 1 => {
                let set = if which == 0 { &h.src } else { &h.dst };
                let as_src = (which == 0) != swap;
                let (f4, f6) = if as_src {
                    (SRC_V4, SRC_V6)
                } else {
                    (DST_V4, DST_V6)
                };
                out.extend(
                    set.v4_ranges()
                        .iter()
                        .map(|&(a, b)| (f4, u128::from(a), u128::from(b), rank)),
                );
                out.extend(set.v6_ranges().iter().map(|&(a, b)| (f6, a, b, rank)));
            }
            _ => {
                let set = if which == 2 {
                    &h.src_ports
                } else {
                    &h.dst_ports
                };
                let f = if (which == 2) != swap { SPORT } else { DPORT };
                out.extend(
                    set.ranges()
                        .iter()
                        .map(|&(a, b)| (f, u128::from(a), u128::from(b), rank)),
                );
            }
        }
    }
    Some(out)
}

fn ip_key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (true, u128::from(u32::from(v4))),
            None => (false, u128::from(a)),
        },
    }
}

/// Compiled rule set. Shareable across threads (`&Engine` is `Sync`).
#[derive(Debug)]
pub struct Engine {
    id: u64,
    rules: Vec<Rule>,
    /// Rule index for each evaluation rank.
    by_rank: Vec<u32>,
    /// Gate of each rank's rule.
    gates: Vec<Gate>,
    /// Prefilter per source ([`Source::index`]), over the fast patterns of all rules.
    prefilters: Vec<Option<Prefilter>>,
    /// App-layer protocol -> group slot (0: no app rules for it).
    app_slot: Vec<u8>,
    slots: usize,
    /// Rules without a fast pattern, by transport, app slot and direction.
    groups: Vec<Group>,
    flowbits: Vec<String>,
}

fn action_order(a: Action) -> u8 {
    match a {
        Action::Pass => 0,
        Action::Drop => 1,
        Action::Reject => 2,
        Action::Alert => 3,
    }
}

fn flowbits_order(r: &Rule) -> u8 {
    let sets = r
        .detect
        .flowbits
        .iter()
        .any(|o| !Flowbits::is_condition(o.cmd));
    let reads = r
        .detect
        .flowbits
        .iter()
        .any(|o| Flowbits::is_condition(o.cmd));
    match (sets, reads) {
        (true, false) => 0,
        (true, true) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

/// Evaluate a rule's keyword lists cheapest first: a list with a pcre goes last, so the
/// regex only runs once every other buffer matched. Lists are independent unless
/// `byte_extract` carries values between them, so only then the written order is kept.
fn order_lists(r: &mut Rule) {
    let lists = &mut r.detect.lists;
    if lists
        .iter()
        .flat_map(|l| &l.ops)
        .any(|op| matches!(op, Op::ByteExtract(_)))
    {
        return;
    }
    lists.sort_by_key(|l| l.ops.iter().any(|op| matches!(op, Op::Pcre(_))));
}

impl Engine {
    /// Compile rules into an engine. Rule indices ([`Match::rule`]) are positions in `rules`.
    pub fn build(mut rules: Vec<Rule>) -> Engine {
        // Intern flowbit names.
        let mut flowbits: Vec<String> = Vec::new();
        let mut ids = std::collections::HashMap::<String, u32>::new();
        for r in &mut rules {
            for op in &mut r.detect.flowbits {
                op.ids = op
                    .names
                    .iter()
                    .map(|n| {
                        *ids.entry(n.clone()).or_insert_with(|| {
                            flowbits.push(n.clone());
                            (flowbits.len() - 1) as u32
                        })
                    })
                    .collect();
            }
            order_lists(r);
        }

        let mut order: Vec<u32> = (0..rules.len() as u32).collect();
        order.sort_by_key(|&i| {
            let r = &rules[i as usize];
            (action_order(r.action), flowbits_order(r), r.priority, i)
        });
        let mut rank_of = vec![0u32; rules.len()];
        for (rank, &i) in order.iter().enumerate() {
            rank_of[i as usize] = rank as u32;
        }
        let gates = order
            .iter()
            .map(|&i| Gate::of(&rules[i as usize]))
            .collect();

        let mut per_source: Vec<Vec<(&[u8], u32)>> = vec![Vec::new(); Source::COUNT];
        for (i, r) in rules.iter().enumerate() {
            if let Some(f) = &r.detect.fast {
                for p in &f.patterns {
                    per_source[f.source.index()].push((p.as_slice(), rank_of[i]));
                }
            }
        }
        let prefilters = per_source
            .iter()
            .enumerate()
            .map(|(s, e)| Prefilter::build(e, s == Source::Payload.index()))
            .collect();

        let mut app_slot = vec![0u8; AppProto::ALL.len()];
        let mut slots = 1usize;
        for r in &rules {
            if let RuleProto::App(a) = r.header.proto {
                let s = &mut app_slot[a as usize];
                if *s == 0 && slots < 255 {
                    *s = slots as u8;
                    slots += 1;
                }
            }
        }

        let mut engine = Engine {
            id: ENGINE_IDS.fetch_add(1, Ordering::Relaxed),
            rules,
            by_rank: order,
            gates,
            prefilters,
            app_slot,
            slots,
            groups: Vec::new(),
            flowbits,
        };
        let n_groups = L4 * engine.slots * 2;
        let mut groups = Vec::with_capacity(n_groups);
        for g in 0..n_groups {
            let (l4, slot, to_server) =
                (g / (engine.slots * 2), (g / 2) % engine.slots, g % 2 == 1);
            groups.push(engine.build_group(l4, slot, to_server, &rank_of));
        }
        engine.groups = groups;
        engine
    }

    fn build_group(&self, l4: usize, slot: usize, to_server: bool, rank_of: &[u32]) -> Group {
        // ICMP and other protocols carry no app layer: only slot 0 is populated.
        if l4 >= 2 && slot != 0 {
            return Group::default();
        }
        let mut always = Vec::new();
        let mut fields: Vec<Vec<(u128, u128, u32)>> = vec![Vec::new(); FIELDS];
        for (i, r) in self.rules.iter().enumerate() {
            if r.detect.fast.is_some() {
                continue;
            }
            let proto_ok = match r.header.proto {
                RuleProto::Ip => true,
                RuleProto::Tcp | RuleProto::TcpPkt | RuleProto::TcpStream => l4 == 0,
                RuleProto::Udp => l4 == 1,
                RuleProto::Icmp => l4 == 2,
                RuleProto::App(a) => {
                    l4 < 2 && slot != 0 && self.app_slot[a as usize] as usize == slot
                }
            };
            let dir_ok = r.detect.flow.to_server.is_none_or(|d| d == to_server);
            if !proto_ok || !dir_ok {
                continue;
            }
            let rank = rank_of[i];
            match header_entries(&r.header, l4 < 2, rank) {
                Some(entries) => entries
                    .into_iter()
                    .for_each(|(f, a, b, rk)| fields[f].push((a, b, rk))),
                None => always.push(rank),
            }
        }
        always.sort_unstable();
        Group {
            always,
            by_field: fields
                .into_iter()
                .map(RangeIndex::build)
                .collect::<Vec<_>>()
                .try_into()
                .unwrap_or_default(),
        }
    }

    /// The rules, indexed as in [`Match::rule`].
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// One rule.
    pub fn rule(&self, index: usize) -> &Rule {
        &self.rules[index]
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Flowbit names in use (their ids are positions here).
    pub fn flowbit_names(&self) -> &[String] {
        &self.flowbits
    }

    /// How many rules are evaluated on every packet of a group (no fast pattern), the
    /// largest over groups: a health figure for rule sets.
    pub fn max_always_evaluated(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.always.len())
            .max()
            .unwrap_or(0)
    }

    /// Heap bytes of the indexes built over the rules (prefilter automata, header indexes,
    /// gates), not counting the rules themselves: a health figure for rule sets.
    pub fn index_memory(&self) -> usize {
        let prefilters: usize = self
            .prefilters
            .iter()
            .flatten()
            .map(Prefilter::memory_usage)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|g| {
                4 * g.always.len()
                    + g.by_field
                        .iter()
                        .map(RangeIndex::memory_usage)
                        .sum::<usize>()
            })
            .sum();
        prefilters + groups + self.gates.len() * std::mem::size_of::<Gate>()
    }

    fn group(&self, i: &Input<'_>) -> &Group {
        let l4 = l4_index(i.proto);
        let slot = if l4 < 2 {
            i.app_proto
                .map_or(0, |a| self.app_slot[a as usize] as usize)
        } else {
            0
        };
        &self.groups[(l4 * self.slots + slot) * 2 + usize::from(i.to_server)]
    }

    /// Inspect one packet or transaction; matches are appended to `out`.
    ///
    /// `flow` is the flow's detection state (flowbits, pass) that the caller keeps in its
    /// flow table; `thresholds` the threshold counters the caller keeps per engine/worker
    /// (they also hold the working memory inspection reuses from call to call).
    /// A `pass` rule that matches is reported with [`Action::Pass`] (not an alert) and no
    /// other matches are reported for the call; the flow is marked passed and later calls
    /// for it return nothing. Rules with `noalert`, or held back by `threshold` or
    /// `detection_filter`, still set flowbits but are not reported.
    ///
    /// Each rule is reported at most once per call. Across calls the caller avoids
    /// duplicates: hand `stream` only the data not inspected before (with the overlap it
    /// wants), and inspect each app-layer transaction's buffers once per direction — on the
    /// request with `to_server = true` and the request buffers, on the response with
    /// `to_server = false` and the buffers of both (as Suricata's to-client inspection of a
    /// transaction also sees its request).
    pub fn inspect(
        &self,
        input: &Input<'_>,
        flow: &mut FlowState,
        thresholds: &mut Thresholds,
        out: &mut Vec<Match>,
    ) {
        flow.bind(self.id, self.flowbits.len());
        if flow.passed {
            return;
        }
        let mut scratch = std::mem::take(&mut thresholds.scratch);
        self.collect_candidates(input, &mut scratch);
        let Scratch { cands, lowered, .. } = &mut scratch;
        lowered.reset();
        let start = out.len();
        for w in 0..cands.len() {
            let mut bits = std::mem::take(&mut cands[w]);
            while bits != 0 {
                let rank = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.evaluate(rank, input, flow, thresholds, lowered, out, start) {
                    cands[w..].fill(0);
                    break;
                }
            }
            if flow.passed {
                break;
            }
        }
        thresholds.scratch = scratch;
    }

    /// [`Engine::inspect`] without prefilters, indexes or gates: every rule is evaluated in
    /// full, in rank order. Same results, far slower; it exists so tests and fuzzing can
    /// check that the fast path finds everything there is to find.
    pub fn inspect_unfiltered(
        &self,
        input: &Input<'_>,
        flow: &mut FlowState,
        thresholds: &mut Thresholds,
        out: &mut Vec<Match>,
    ) {
        flow.bind(self.id, self.flowbits.len());
        if flow.passed {
            return;
        }
        let mut lowered = Lowered::default();
        let start = out.len();
        let transaction = Offer::of(input).buffers != 0;
        for rank in 0..self.by_rank.len() {
            // The one filter that is semantics, not speed: packet rules stay out of
            // transaction inspections (see `Gate::admits`).
            if transaction && self.gates[rank].buffers == 0 {
                continue;
            }
            if self.evaluate(rank, input, flow, thresholds, &mut lowered, out, start) {
                return;
            }
        }
    }

    /// Mark in `scratch.cands` the rules worth evaluating on `input`.
    fn collect_candidates(&self, input: &Input<'_>, scratch: &mut Scratch) {
        let words = self.by_rank.len().div_ceil(64);
        if scratch.cands.len() != words {
            scratch.cands.clear();
            scratch.cands.resize(words, 0);
        }
        let offer = Offer::of(input);
        let Scratch { cands, scan, .. } = scratch;
        let gates = &self.gates;
        let mut add = |rank: u32| {
            if gates[rank as usize].admits(&offer) {
                cands[rank as usize / 64] |= 1 << (rank % 64);
            }
        };

        let group = self.group(input);
        group.always.iter().for_each(|&r| add(r));
        let (src4, src) = ip_key(input.src);
        let (dst4, dst) = ip_key(input.dst);
        let src_field = if src4 { SRC_V4 } else { SRC_V6 };
        let dst_field = if dst4 { DST_V4 } else { DST_V6 };
        group.by_field[src_field]
            .get(src)
            .iter()
            .for_each(|&r| add(r));
        group.by_field[dst_field]
            .get(dst)
            .iter()
            .for_each(|&r| add(r));
        if matches!(input.proto, Proto::Tcp | Proto::Udp) {
            group.by_field[SPORT]
                .get(u128::from(input.sport))
                .iter()
                .for_each(|&r| add(r));
            group.by_field[DPORT]
                .get(u128::from(input.dport))
                .iter()
                .for_each(|&r| add(r));
        }

        if let Some(pf) = &self.prefilters[Source::Payload.index()] {
            if offer.payload & PKT != 0 {
                pf.scan(input.packet, scan, &mut add);
            }
            if let Some(s) = input.stream.filter(|_| offer.payload & STREAM != 0) {
                pf.scan(s, scan, &mut add);
            }
        }
        let mut present = offer.buffers;
        while present != 0 {
            let b = present.trailing_zeros() as usize;
            present &= present - 1;
            let buffer = crate::buffer::Buffer::ALL[b];
            if let (Some(pf), Some(data)) = (
                &self.prefilters[Source::Buffer(buffer).index()],
                input.buffers.get(buffer),
            ) {
                pf.scan(data, scan, &mut add);
            }
        }
    }

    /// Evaluate the rule of `rank` and report it; true when it is a matching `pass` rule,
    /// which ends the inspection.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        rank: usize,
        input: &Input<'_>,
        flow: &mut FlowState,
        thresholds: &mut Thresholds,
        lowered: &mut Lowered,
        out: &mut Vec<Match>,
        start: usize,
    ) -> bool {
        let index = self.by_rank[rank] as usize;
        let rule = &self.rules[index];
        if !self.rule_matches(rule, input, flow, lowered) {
            return false;
        }
        for op in &rule.detect.flowbits {
            flow.apply(op);
        }
        if rule.action == Action::Pass {
            flow.passed = true;
            out.truncate(start);
            out.push(Match {
                rule: index,
                action: Action::Pass,
                gid: rule.gid,
                sid: rule.sid,
                rev: rule.rev,
            });
            return true;
        }
        if rule.detect.noalert {
            return false;
        }
        if let Some(t) = &rule.detect.threshold {
            if !thresholds.allow(index as u32, t, input.src, input.dst, input.time_us) {
                return false;
            }
        }
        out.push(Match {
            rule: index,
            action: rule.action,
            gid: rule.gid,
            sid: rule.sid,
            rev: rule.rev,
        });
        false
    }

    fn rule_matches(
        &self,
        rule: &Rule,
        i: &Input<'_>,
        flow: &FlowState,
        lowered: &mut Lowered,
    ) -> bool {
        let d = &rule.detect;
        if d.flow.to_server.is_some_and(|t| t != i.to_server)
            || d.flow.established.is_some_and(|e| e != i.established)
        {
            return false;
        }
        if !rule.header.proto.matches(i.proto, i.app_proto) {
            return false;
        }
        let ports = matches!(i.proto, Proto::Tcp | Proto::Udp);
        if !rule
            .header
            .matches_endpoints(i.src, i.sport, i.dst, i.dport, ports)
        {
            return false;
        }
        if !d.checks.iter().all(|c| c.test(i)) {
            return false;
        }
        if !d
            .flowbits
            .iter()
            .filter(|o| Flowbits::is_condition(o.cmd))
            .all(|o| flow.check(o))
        {
            return false;
        }
        let mut vars = [0u64; MAX_VARS];
        d.lists
            .iter()
            .all(|l| list_matches(l, i, d.flow.stream, lowered, &mut vars))
    }
}

fn list_matches(
    l: &List,
    i: &Input<'_>,
    mode: StreamMode,
    lowered: &mut Lowered,
    vars: &mut [u64; MAX_VARS],
) -> bool {
    match l.source {
        Source::Payload => {
            let packet = mode != StreamMode::OnlyStream
                && run_list(l, i.packet, LowKey::Packet, lowered, vars);
            packet
                || (mode != StreamMode::NoStream
                    && i.stream
                        .is_some_and(|s| run_list(l, s, LowKey::Stream, lowered, vars)))
        }
        Source::Buffer(b) => match i.buffers.get(b) {
            Some(data) => run_list(l, data, LowKey::Buffer(b as usize), lowered, vars),
            None => false,
        },
    }
}

fn run_list(
    l: &List,
    data: &[u8],
    key: LowKey,
    lowered: &mut Lowered,
    vars: &mut [u64; MAX_VARS],
) -> bool {
    let lower: &[u8] = if l.needs_lower {
        lowered.get(key, data)
    } else {
        &[]
    };
    matcher::inspect(&l.ops, data, lower, vars)
}

const _: () = assert!(
    2 + crate::buffer::Buffer::COUNT <= 64,
    "Lowered::filled is a u64"
);

#[derive(Clone, Copy)]
enum LowKey {
    Packet,
    Stream,
    Buffer(usize),
}

/// Lower-cased copies of the inspected data, made once per call on first need; the
/// allocations are kept for the next call.
#[derive(Debug, Clone, Default)]
struct Lowered {
    slots: Vec<Vec<u8>>,
    /// Bit `k`: `slots[k]` holds this call's copy.
    filled: u64,
}

impl Lowered {
    fn reset(&mut self) {
        self.filled = 0;
    }

    fn get(&mut self, key: LowKey, data: &[u8]) -> &[u8] {
        let k = match key {
            LowKey::Packet => 0,
            LowKey::Stream => 1,
            LowKey::Buffer(b) => 2 + b,
        };
        if self.slots.len() <= k {
            self.slots.resize(k + 1, Vec::new());
        }
        let slot = &mut self.slots[k];
        if self.filled & 1 << k == 0 {
            self.filled |= 1 << k;
            slot.clear();
            slot.extend(data.iter().map(u8::to_ascii_lowercase));
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::{Buffer, Buffers};
    use crate::input::{IcmpFields, TcpFields};
    use crate::parse::parse_rules;
    use crate::vars::Vars;

    const CLIENT: &str = "192.168.1.10";
    const SERVER: &str = "93.184.216.34";

    fn engine(rules: &str) -> Engine {
        let p = parse_rules(rules, "test.rules", &Vars::default());
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        Engine::build(p.rules)
    }

    fn pkt(payload: &[u8]) -> Input<'_> {
        Input::tcp(
            CLIENT.parse().unwrap(),
            40000,
            SERVER.parse().unwrap(),
            80,
            payload,
        )
    }

    fn sids(e: &Engine, i: &Input<'_>, flow: &mut FlowState, th: &mut Thresholds) -> Vec<u32> {
        let mut out = Vec::new();
        e.inspect(i, flow, th, &mut out);
        out.iter().map(|m| m.sid).collect()
    }

    fn fires(rule: &str, i: &Input<'_>) -> bool {
        let e = engine(rule);
        !sids(&e, i, &mut FlowState::default(), &mut Thresholds::default()).is_empty()
    }

    #[test]
    fn content_with_modifiers_end_to_end() {
        let r = r#"alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:"t"; flow:to_server,established; content:"GET"; depth:3; content:"/evil"; distance:1; within:5; nocase; sid:1;)"#;
        assert!(fires(r, &pkt(b"GET /EVIL HTTP/1.1")));
        assert!(!fires(r, &pkt(b"GET  /evil HTTP/1.1")));
        assert!(!fires(r, &pkt(b"PUT /evil")));
        let mut resp = pkt(b"GET /evil");
        resp.to_server = false;
        assert!(!fires(r, &resp), "flow:to_server");
        let mut p = pkt(b"GET /evil");
        p.dport = 8080;
        assert!(!fires(r, &p), "port group");
        let mut p = pkt(b"GET /evil");
        p.established = false;
        assert!(!fires(r, &p), "established");
    }

    #[test]
    fn pcre_only_rules_are_found_through_their_prefix_literals() {
        let r = r#"alert ip any any -> any any (pcre:"/ (30[0-5]\d|36\d{2})\d{10} /"; sid:1;) alert tcp any any -> any any (pcre:"/ (dildo|FREE XXX)\b/i"; sid:2;)"#;
        let e = engine(&r.replace(") alert", ")\nalert"));
        assert!(
            e.rules().iter().all(|r| r.detect.fast.is_some()),
            "both prefiltered"
        );
        let cases: [(&[u8], &[u32]); 5] = [
            (b"card 30012345678901 ok", &[1]),
            (b"card 36123456789012 ok, Free XXX!", &[1, 2]),
            (b"card 3612345678901 (13 digits)", &[]),
            (b"x DILDO.", &[2]),
            (b"no space:36123456789012 ", &[]),
        ];
        for (payload, want) in cases {
            let i = pkt(payload);
            let mut got = sids(
                &e,
                &i,
                &mut FlowState::default(),
                &mut Thresholds::default(),
            );
            got.sort_unstable();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(payload));
            let mut all = Vec::new();
            e.inspect_unfiltered(
                &i,
                &mut FlowState::default(),
                &mut Thresholds::default(),
                &mut all,
            );
            let mut all: Vec<u32> = all.iter().map(|m| m.sid).collect();
            all.sort_unstable();
            assert_eq!(all, want, "the unfiltered engine agrees");
        }
    }

    #[test]
    fn stream_data_is_inspected_unless_no_stream() {
        let r = r#"alert tcp any any -> any any (content:"split-pattern"; sid:1;)"#;
        let mut p = pkt(b"pattern");
        p.stream = Some(b"xx split-pattern");
        assert!(fires(r, &p));
        let r2 =
            r#"alert tcp any any -> any any (flow:no_stream; content:"split-pattern"; sid:1;)"#;
        assert!(!fires(r2, &p));
        let r3 = r#"alert tcp any any -> any any (flow:only_stream; content:"pattern"; sid:1;)"#;
        let mut p2 = pkt(b"pattern");
        p2.stream = None;
        assert!(!fires(r3, &p2));
    }

    #[test]
    fn http_buffers_modifier_and_sticky_forms_agree() {
        let modifier = r#"alert http any any -> any any (content:"POST"; http_method; content:"/upload.php"; http_uri; content:"evil-agent"; http_user_agent; sid:1;)"#;
        let sticky = r#"alert http any any -> any any (http.method; content:"POST"; http.uri; content:"/upload.php"; http.user_agent; content:"evil-agent"; sid:2;)"#;
        let uricontent = r#"alert http any any -> any any (content:"POST"; http_method; uricontent:"/upload.php"; content:"evil-agent"; http_user_agent; sid:3;)"#;
        let mut i = pkt(b"");
        i.app_proto = Some(AppProto::Http);
        i.buffers = Buffers::new()
            .with(Buffer::HttpMethod, b"POST")
            .with(Buffer::HttpUri, b"/upload.php?x=1")
            .with(Buffer::HttpUserAgent, b"evil-agent/1.0");
        for r in [modifier, sticky, uricontent] {
            assert!(fires(r, &i), "{r}");
        }
        let mut no_ua = i;
        no_ua.buffers.clear(Buffer::HttpUserAgent);
        assert!(!fires(sticky, &no_ua), "absent buffer never matches");
        let mut not_http = i;
        not_http.app_proto = Some(AppProto::Tls);
        assert!(!fires(sticky, &not_http), "app-layer protocol header");
    }

    #[test]
    fn pcre_buffer_flags_and_urilen() {
        let r = r#"alert http any any -> any any (content:"/a"; http_uri; pcre:"/^\/a\/[0-9]{3}$/U"; urilen:<10; sid:1;)"#;
        let mut i = pkt(b"");
        i.app_proto = Some(AppProto::Http);
        i.buffers = Buffers::new().with(Buffer::HttpUri, b"/a/123");
        assert!(fires(r, &i));
        i.buffers = Buffers::new().with(Buffer::HttpUri, b"/a/1234");
        assert!(!fires(r, &i));
    }

    #[test]
    fn dns_tls_ssh_sticky_buffers() {
        let mut i = Input::udp(
            CLIENT.parse().unwrap(),
            5353,
            "8.8.8.8".parse().unwrap(),
            53,
            b"",
        );
        i.app_proto = Some(AppProto::Dns);
        i.buffers = Buffers::new().with(Buffer::DnsQuery, b"bad.example.com");
        assert!(fires(
            r#"alert dns any any -> any any (dns_query; content:"bad.example"; nocase; sid:1;)"#,
            &i
        ));
        assert!(fires(
            r#"alert dns any any -> any any (dns.query; content:".com"; endswith; bsize:15; sid:1;)"#,
            &i
        ));
        assert!(!fires(
            r#"alert dns any any -> any any (dns.query; bsize:>20; sid:1;)"#,
            &i
        ));
        let mut t = pkt(b"");
        t.app_proto = Some(AppProto::Tls);
        t.buffers = Buffers::new()
            .with(Buffer::TlsSni, b"c2.example.net")
            .with(Buffer::TlsCertFingerprint, b"ab:cd:ef");
        assert!(fires(
            r#"alert tls any any -> any any (tls.sni; content:"c2.example.net"; startswith; sid:1;)"#,
            &t
        ));
        assert!(fires(
            r#"alert tls any any -> any any (tls.fingerprint:"AB:CD:EF"; sid:1;)"#,
            &t
        ));
        let mut s = pkt(b"");
        s.app_proto = Some(AppProto::Ssh);
        s.buffers = Buffers::new().with(Buffer::SshSoftware, b"libssh2_1.8.0");
        assert!(fires(
            r#"alert ssh any any -> any any (ssh.softwareversion:"libssh2_"; sid:1;)"#,
            &s
        ));
        assert!(!fires(
            r#"alert ssh any any -> any any (ssh.softwareversion:"OpenSSH"; sid:1;)"#,
            &s
        ));
    }

    #[test]
    fn packet_header_keywords() {
        let mut syn = pkt(b"");
        syn.tcp = Some(TcpFields {
            flags: 0x02,
            seq: 0,
            ack: 0,
            window: 2048,
        });
        assert!(fires(
            "alert tcp any any -> any any (flags:S,12; window:2048; ack:0; sid:1;)",
            &syn
        ));
        assert!(!fires(
            "alert tcp any any -> any any (flags:SA; sid:1;)",
            &syn
        ));
        assert!(fires(
            "alert tcp any any -> any any (dsize:0; sid:1;)",
            &syn
        ));
        assert!(!fires(
            "alert tcp any any -> any any (dsize:>0; sid:1;)",
            &syn
        ));
        let mut icmp = pkt(b"ping");
        icmp.proto = Proto::Icmp;
        icmp.tcp = None;
        icmp.icmp = Some(IcmpFields {
            itype: 8,
            icode: 0,
            id: Some(666),
            seq: Some(1),
        });
        assert!(fires(
            "alert icmp any any -> any any (itype:8; icode:0; icmp_id:666; icmp_seq:1; sid:1;)",
            &icmp
        ));
        assert!(!fires(
            "alert icmp any any -> any any (itype:0; sid:1;)",
            &icmp
        ));
        assert!(
            !fires("alert tcp any any -> any any (sid:1;)", &icmp),
            "tcp rule on icmp packet"
        );
        assert!(fires(
            "alert ip any any -> any any (ip_proto:1; ttl:64; sid:1;)",
            &icmp
        ));
    }

    #[test]
    fn bidirectional_rule_matches_both_directions() {
        let r = "alert tcp 192.168.1.10 any <> 93.184.216.34 80 (content:\"x\"; sid:1;)";
        let fwd = pkt(b"x");
        let mut back = Input::tcp(
            SERVER.parse().unwrap(),
            80,
            CLIENT.parse().unwrap(),
            40000,
            b"x",
        );
        back.to_server = false;
        assert!(fires(r, &fwd) && fires(r, &back));
        let uni = "alert tcp 192.168.1.10 any -> 93.184.216.34 80 (content:\"x\"; sid:1;)";
        assert!(fires(uni, &fwd) && !fires(uni, &back));
    }

    #[test]
    fn header_only_rules_are_found_through_the_address_index() {
        let e = engine("alert ip [1.2.3.4,5.6.7.8] any -> $HOME_NET any (sid:1;)\nalert tcp any any -> any 4444 (flags:S; sid:2;)\nalert ip any any <> [9.9.9.9] any (sid:3;)");
        let (mut f, mut t) = (FlowState::default(), Thresholds::default());
        let mut i = Input::tcp(
            "5.6.7.8".parse().unwrap(),
            1,
            CLIENT.parse().unwrap(),
            4444,
            b"",
        );
        i.tcp = Some(TcpFields {
            flags: 0x02,
            ..TcpFields::default()
        });
        assert_eq!(sids(&e, &i, &mut f, &mut t), [1, 2]);
        let mut j = Input::tcp(
            CLIENT.parse().unwrap(),
            1,
            "9.9.9.9".parse().unwrap(),
            80,
            b"",
        );
        assert_eq!(sids(&e, &j, &mut f, &mut t), [3]);
        j.src = "9.9.9.9".parse().unwrap();
        j.dst = CLIENT.parse().unwrap();
        assert_eq!(
            sids(&e, &j, &mut f, &mut t),
            [3],
            "bidirectional, other way round"
        );
    }

    #[test]
    fn flowbits_carry_across_calls_and_noalert_hides_setter() {
        let e = engine(
            "alert tcp any any -> any any (flow:to_server; content:\"login\"; flowbits:set,seen.login; flowbits:noalert; sid:1;)\n\
             alert tcp any any -> any any (flow:to_client; content:\"welcome\"; flowbits:isset,seen.login; sid:2;)\n\
             alert tcp any any -> any any (flow:to_client; content:\"welcome\"; flowbits:isnotset,seen.login; sid:3;)",
        );
        let (mut flow, mut th) = (FlowState::default(), Thresholds::default());
        let mut resp = Input::tcp(
            SERVER.parse().unwrap(),
            80,
            CLIENT.parse().unwrap(),
            40000,
            b"welcome",
        );
        resp.to_server = false;
        assert_eq!(sids(&e, &resp, &mut flow, &mut th), [3], "bit not yet set");
        assert!(
            sids(&e, &pkt(b"login"), &mut flow, &mut th).is_empty(),
            "noalert"
        );
        assert_eq!(sids(&e, &resp, &mut flow, &mut th), [2]);
        assert_eq!(
            sids(&e, &resp, &mut FlowState::default(), &mut th),
            [3],
            "other flow, own bits"
        );
        assert_eq!(e.flowbit_names(), ["seen.login"]);
    }

    #[test]
    fn setter_runs_before_reader_within_one_packet() {
        // The reader comes first in the file; Suricata orders setters before readers.
        let e = engine("alert tcp any any -> any any (content:\"b\"; flowbits:isset,x; sid:2;)\nalert tcp any any -> any any (content:\"a\"; flowbits:set,x; sid:1;)");
        let mut got = sids(
            &e,
            &pkt(b"ab"),
            &mut FlowState::default(),
            &mut Thresholds::default(),
        );
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn pass_rule_suppresses_alerts_and_rest_of_flow() {
        let e = engine("alert tcp any any -> any any (content:\"bad\"; sid:1;)\npass tcp any any -> any any (content:\"trusted\"; sid:2;)");
        let (mut flow, mut th) = (FlowState::default(), Thresholds::default());
        let mut out = Vec::new();
        e.inspect(&pkt(b"bad trusted"), &mut flow, &mut th, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].sid, out[0].action), (2, Action::Pass));
        assert!(flow.passed);
        assert!(
            sids(&e, &pkt(b"bad"), &mut flow, &mut th).is_empty(),
            "rest of the flow passed"
        );
        assert_eq!(
            sids(&e, &pkt(b"bad"), &mut FlowState::default(), &mut th),
            [1]
        );
    }

    #[test]
    fn threshold_and_detection_filter_use_packet_time() {
        let e = engine("alert tcp any any -> any any (content:\"x\"; threshold:type limit, track by_src, count 1, seconds 60; sid:1;)\nalert tcp any any -> any any (content:\"y\"; detection_filter:track by_dst, count 2, seconds 10; sid:2;)");
        let mut th = Thresholds::default();
        let at = |payload: &'static [u8], s: u64, th: &mut Thresholds| {
            let mut i = pkt(payload);
            i.time_us = s * 1_000_000;
            sids(&e, &i, &mut FlowState::default(), th)
        };
        assert_eq!(at(b"x", 0, &mut th), [1]);
        assert!(at(b"x", 30, &mut th).is_empty());
        assert_eq!(at(b"x", 61, &mut th), [1]);
        assert!(at(b"y", 0, &mut th).is_empty());
        assert!(at(b"y", 1, &mut th).is_empty());
        assert_eq!(at(b"y", 2, &mut th), [2]);
    }

    #[test]
    fn at_most_one_match_per_rule_per_call() {
        let e = engine("alert tcp any any -> any any (content:\"a\"; sid:1;)");
        let mut p = pkt(b"a a a");
        p.stream = Some(b"a a");
        assert_eq!(
            sids(
                &e,
                &p,
                &mut FlowState::default(),
                &mut Thresholds::default()
            ),
            [1]
        );
    }

    #[test]
    fn byte_keywords_end_to_end() {
        let r = "alert udp any any -> any any (content:\"|ff|\"; depth:1; byte_extract:1,0,len,relative; byte_test:1,=,len,0,relative; byte_jump:1,0,relative; content:\"END\"; within:3; sid:1;)";
        let mut i = Input::udp(
            CLIENT.parse().unwrap(),
            1,
            SERVER.parse().unwrap(),
            2,
            b"\xff\x02\x02xyEND",
        );
        assert!(fires(r, &i));
        i.packet = b"\xff\x02\x03xyEND";
        assert!(!fires(r, &i));
    }

    #[test]
    fn app_layer_protocol_keyword() {
        let r = "alert tcp any any -> any 80 (app-layer-protocol:!http; content:\"x\"; sid:1;)";
        let mut i = pkt(b"x");
        assert!(fires(r, &i));
        i.app_proto = Some(AppProto::Http);
        assert!(!fires(r, &i));
    }
}
