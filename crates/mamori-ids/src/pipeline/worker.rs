//! One inspection worker: decode → defragment → flow → reassemble → app layer → rules,
//! writing EVE lines and handing ended flows and observed names to the detectors.
//!
//! A worker owns its flow table, so every packet of a flow must reach the same worker
//! (the reader dispatches by a hash of the address pair, which also keeps an IP
//! datagram's fragments together). Nothing in here blocks or does I/O: output accumulates
//! in [`Output`] until the caller takes it.

use super::{buffers, classtype, PipelineConfig, Verdict};
use crate::app::{AppEvent, AppProto, AppState, StopReason, TlsProgress};
use crate::decode::{self, Defrag, Defragmenter, Transport};
use crate::detect::{FlowEnd as Conversation, FlowRecord};
use crate::eve::{self, AlertObject, FlowObject, Record, Timestamp};
use crate::flow::{Direction, Flow, FlowEnd, FlowPacket, FlowTable, TcpState};
use crate::stream::{Chunk, StreamContext, TcpReassembly};
use mamori_ids_rules as rules;
use mamori_ids_rules::{Action, Buffer, Buffers, Engine, FlowState, Input, Match, Thresholds};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Per-flow state the worker keeps in the flow table.
pub struct FlowCtx {
    rules: FlowState,
    tcp: Option<Box<TcpReassembly>>,
    app: Option<Box<AppState>>,
    app_proto: Option<AppProto>,
    server_name: Option<String>,
    /// HTTP requests inspected so far (transactions below this id): a request that only
    /// completes when the flow ends is inspected then.
    http_requests_inspected: u64,
    alerted: bool,
    /// Inline mode dropped a packet of this flow: drop the rest too, as Suricata does.
    dropped: bool,
}

/// What a worker produced since the caller last took it.
#[derive(Default)]
pub struct Output {
    /// EVE JSON lines.
    pub eve: Vec<u8>,
    /// Alert lines among them (for the Mamori store).
    pub alert_lines: Vec<String>,
    /// Ended flows, for the detectors.
    pub flows: Vec<FlowRecord>,
    /// DNS queries seen: (time, client, name).
    pub dns: Vec<(u64, IpAddr, String)>,
    /// Server names seen (TLS SNI, HTTP Host): (time, client, server, name).
    pub names: Vec<(u64, IpAddr, IpAddr, String)>,
}

/// Counters a worker keeps (added up over workers for the summary and the `stats` record).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub alerts: u64,
    pub dropped: u64,
    pub app_errors: u64,
    pub anomalies: BTreeMap<&'static str, u64>,
    pub app_flows: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmp += o.icmp;
        self.alerts += o.alerts;
        self.dropped += o.dropped;
        self.app_errors += o.app_errors;
        for (k, v) in &o.anomalies {
            *self.anomalies.entry(k).or_default() += v;
        }
        for (k, v) in &o.app_flows {
            *self.app_flows.entry(k).or_default() += v;
        }
    }
}

/// Everything but the flow table, so that a flow borrowed from the table and the rest of
/// the worker can be used together.
struct Parts {
    engine: Arc<Engine>,
    config: Arc<PipelineConfig>,
    thresholds: Thresholds,
    stream: StreamContext,
    matches: Vec<Match>,
    out: Output,
    counters: Counters,
    iface: Option<String>,
}

pub struct Worker {
    flows: FlowTable<FlowCtx>,
    defrag: Defragmenter,
    scratch: Vec<u8>,
    last_expire_us: u64,
    parts: Parts,
}

const EXPIRE_EVERY_US: u64 = 1_000_000;

fn system_time(ts_us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(ts_us)
}

fn rule_app_proto(p: AppProto) -> Option<rules::AppProto> {
    Some(match p {
        AppProto::Http => rules::AppProto::Http,
        AppProto::Tls => rules::AppProto::Tls,
        AppProto::Dns => rules::AppProto::Dns,
        AppProto::Smtp => rules::AppProto::Smtp,
        AppProto::Ssh => rules::AppProto::Ssh,
        AppProto::Ftp => rules::AppProto::Ftp,
        AppProto::Unknown | AppProto::Failed => return None,
    })
}

impl Worker {
    /// A worker; `thresholds` are shared with the engine's other workers
    /// ([`Thresholds::sharing`]).
    pub fn new(engine: Arc<Engine>, config: Arc<PipelineConfig>, thresholds: Thresholds) -> Worker {
        let mut flow_config = config.flow;
        flow_config.user_size_hint = std::mem::size_of::<FlowCtx>() + 256;
        Worker {
            flows: FlowTable::new(flow_config),
            defrag: Defragmenter::new(config.defrag),
            scratch: Vec::new(),
            last_expire_us: 0,
            parts: Parts {
                engine,
                stream: StreamContext::new(config.stream),
                config,
                thresholds,
                matches: Vec::new(),
                out: Output::default(),
                counters: Counters::default(),
                iface: None,
            },
        }
    }

    /// Names the capture interface in EVE records (`in_iface`).
    pub fn set_interface(&mut self, iface: &str) {
        self.parts.iface = Some(iface.to_string());
    }

    pub fn counters(&self) -> &Counters {
        &self.parts.counters
    }

    pub fn flow_counters(&self) -> crate::flow::FlowCounters {
        self.flows.counters()
    }

    pub fn stream_counters(&self) -> crate::stream::StreamCounters {
        self.parts.stream.counters()
    }

    pub fn defrag_counters(&self) -> crate::decode::DefragCounters {
        self.defrag.counters()
    }

    /// Takes what was produced so far.
    pub fn take_output(&mut self) -> Output {
        std::mem::take(&mut self.parts.out)
    }

    /// Inspects one captured frame. `pcap_cnt` is its number in the capture (from 1).
    pub fn packet(&mut self, pcap_cnt: u64, ts_us: u64, linktype: u32, data: &[u8]) -> Verdict {
        let c = &mut self.parts.counters;
        c.packets += 1;
        c.bytes += data.len() as u64;
        if ts_us >= self.last_expire_us + EXPIRE_EVERY_US {
            self.expire(ts_us);
        }
        let p = decode::decode(linktype, data);
        if p.is_fragment() {
            match self.defrag.insert(&p, ts_us) {
                Defrag::Complete { packet, .. } => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(packet);
                }
                Defrag::NotFragment => return self.ip_packet(pcap_cnt, ts_us, &p),
                Defrag::Held { .. } | Defrag::Dropped { .. } => return Verdict::Accept,
            }
            let whole = std::mem::take(&mut self.scratch);
            let verdict = {
                let q = decode::decode_ip(&whole);
                self.ip_packet(pcap_cnt, ts_us, &q)
            };
            self.scratch = whole;
            return verdict;
        }
        self.ip_packet(pcap_cnt, ts_us, &p)
    }

    fn ip_packet(&mut self, pcap_cnt: u64, ts_us: u64, p: &decode::Packet<'_>) -> Verdict {
        let Worker { flows, parts, .. } = self;
        let c = &mut parts.counters;
        for a in p.anomalies.iter() {
            *c.anomalies.entry(a.name()).or_default() += 1;
        }
        if !p.anomalies.is_empty() && parts.config.eve.anomaly {
            parts.log_decode_anomalies(p, ts_us, pcap_cnt);
        }
        let c = &mut parts.counters;
        let Some(ip) = p.ip else {
            return Verdict::Accept;
        };
        if ip.src().is_ipv4() {
            c.ipv4 += 1;
        } else {
            c.ipv6 += 1;
        }
        match p.transport {
            Transport::Tcp(_) => c.tcp += 1,
            Transport::Udp(_) => c.udp += 1,
            Transport::Icmpv4(_) | Transport::Icmpv6(_) => c.icmp += 1,
            _ => {}
        }
        let Some(fp) = FlowPacket::from_decoded(p, ts_us) else {
            return Verdict::Accept;
        };
        let config = parts.config.clone();
        let Some(tracked) = flows.track(&fp, || FlowCtx::new(&config, &fp)) else {
            // Over the flow memcap: counted by the table; inspect the packet alone.
            return Verdict::Accept;
        };
        let established = tracked.established();
        let dir = tracked.direction;
        let flow = tracked.flow;
        if flow.user.dropped {
            parts.counters.dropped += 1;
            return Verdict::Drop;
        }
        let events = parts.stream_and_app(flow, dir, p, ts_us);
        let verdict = parts.inspect_packet(flow, dir, established, p, ts_us, pcap_cnt);
        parts.app_events(flow, events, ts_us, pcap_cnt);
        if verdict == Verdict::Drop {
            flow.user.dropped = true;
            parts.counters.dropped += 1;
        }
        verdict
    }

    /// Ends flows idle past their timeout (packet time).
    pub fn expire(&mut self, now_us: u64) {
        self.last_expire_us = now_us;
        self.defrag.expire(now_us);
        let mut ended = Vec::new();
        self.flows.expire(now_us, |f, why| ended.push((f, why)));
        for (f, why) in ended {
            self.parts.end_flow(f, why);
        }
    }

    /// Ends every flow (end of capture or shutdown).
    pub fn finish(&mut self) {
        let mut ended = Vec::new();
        self.flows.drain(|f, why| ended.push((f, why)));
        for (f, why) in ended {
            self.parts.end_flow(f, why);
        }
    }
}

impl FlowCtx {
    fn new(config: &PipelineConfig, p: &FlowPacket) -> FlowCtx {
        let app = match p.proto {
            decode::IPPROTO_TCP => Some(Box::new(AppState::new(config.app.clone(), p.dst_port))),
            decode::IPPROTO_UDP => {
                Some(Box::new(AppState::new_udp(config.app.clone(), p.dst_port)))
            }
            _ => None,
        };
        FlowCtx {
            rules: FlowState::default(),
            tcp: (p.proto == decode::IPPROTO_TCP).then(|| Box::new(TcpReassembly::new())),
            app,
            app_proto: None,
            server_name: None,
            http_requests_inspected: 0,
            alerted: false,
            dropped: false,
        }
    }
}

impl Parts {
    /// Reassembles TCP and feeds the app layer; answers what the parsers reported.
    fn stream_and_app(
        &mut self,
        flow: &mut Flow<FlowCtx>,
        dir: Direction,
        p: &decode::Packet<'_>,
        ts_us: u64,
    ) -> Vec<AppEvent> {
        let mut events = Vec::new();
        let ts = system_time(ts_us);
        let FlowCtx { tcp, app, .. } = &mut flow.user;
        let Some(app) = app.as_deref_mut() else {
            return events;
        };
        match (&p.transport, tcp.as_deref_mut()) {
            (Transport::Tcp(t), Some(reassembly)) => {
                reassembly.packet(&mut self.stream, dir, t, p.payload, |d, chunk| {
                    if !app.is_active() {
                        return;
                    }
                    let more = match chunk {
                        Chunk::Data(bytes) => app.feed(d.is_to_server(), bytes, ts),
                        Chunk::Gap(len) => app.gap(d.is_to_server(), len),
                    };
                    events.extend(more);
                });
            }
            (Transport::Udp(_), _) if !p.payload.is_empty() && app.is_active() => {
                events = app.feed_datagram(dir.is_to_server(), p.payload, ts);
            }
            _ => {}
        }
        events
    }

    /// Runs the rules over one packet's payload and headers.
    fn inspect_packet(
        &mut self,
        flow: &mut Flow<FlowCtx>,
        dir: Direction,
        established: bool,
        p: &decode::Packet<'_>,
        ts_us: u64,
        pcap_cnt: u64,
    ) -> Verdict {
        let Some(ip) = p.ip else {
            return Verdict::Accept;
        };
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        let (proto, tcp, icmp) = match &p.transport {
            Transport::Tcp(t) => (
                rules::Proto::Tcp,
                Some(rules::TcpFields {
                    flags: t.flags.0,
                    seq: t.seq,
                    ack: t.ack,
                    window: t.window,
                }),
                None,
            ),
            Transport::Udp(_) => (rules::Proto::Udp, None, None),
            Transport::Icmpv4(i) | Transport::Icmpv6(i) => (
                rules::Proto::Icmp,
                None,
                Some(rules::IcmpFields {
                    itype: i.kind,
                    icode: i.code,
                    id: matches!(i.kind, 0 | 8 | 13 | 14 | 128 | 129).then_some(i.id),
                    seq: matches!(i.kind, 0 | 8 | 13 | 14 | 128 | 129).then_some(i.seq),
                }),
            ),
            _ => (rules::Proto::Other(ip.protocol()), None, None),
        };
        let ip_fields = match ip {
            decode::IpHeader::V4(h) => rules::IpFields {
                ttl: h.ttl,
                id: h.id,
                reserved: false,
                dont_fragment: h.dont_fragment,
                more_fragments: h.more_fragments,
                frag_offset: h.fragment_offset / 8,
            },
            decode::IpHeader::V6(_) => rules::IpFields {
                ttl: ip.ttl(),
                ..rules::IpFields::default()
            },
        };
        let input = Input {
            time_us: ts_us,
            proto,
            src: ip.src(),
            dst: ip.dst(),
            sport,
            dport,
            to_server: dir.is_to_server(),
            established,
            packet: p.payload,
            stream: None,
            app_proto: flow.user.app_proto.and_then(rule_app_proto),
            buffers: Buffers::new(),
            ip: ip_fields,
            tcp,
            icmp,
        };
        self.matches.clear();
        let mut matches = std::mem::take(&mut self.matches);
        self.engine.inspect(
            &input,
            &mut flow.user.rules,
            &mut self.thresholds,
            &mut matches,
        );
        let mut verdict = Verdict::Accept;
        for m in &matches {
            if m.action == Action::Pass {
                continue;
            }
            let blocked = self.config.inline && matches!(m.action, Action::Drop | Action::Reject);
            if blocked {
                verdict = Verdict::Drop;
            }
            let sides = Sides {
                src: ip.src(),
                sport,
                dst: ip.dst(),
                dport,
                to_server: dir.is_to_server(),
            };
            self.alert(
                flow,
                m,
                &sides,
                ts_us,
                pcap_cnt,
                blocked,
                Evidence::Payload(p.payload),
            );
        }
        self.matches = matches;
        verdict
    }

    /// Logs and inspects what the app layer reported.
    fn app_events(
        &mut self,
        flow: &mut Flow<FlowCtx>,
        events: Vec<AppEvent>,
        ts_us: u64,
        pcap_cnt: u64,
    ) {
        for event in events {
            match event {
                AppEvent::Detected(proto) => {
                    flow.user.app_proto = Some(proto);
                    *self.counters.app_flows.entry(proto.name()).or_default() += 1;
                }
                AppEvent::HttpRequest(tx) => {
                    if let Some(host) = tx.request.as_ref().and_then(|r| r.host.as_deref()) {
                        self.saw_name(flow, ts_us, host);
                    }
                    flow.user.http_requests_inspected = tx.tx_id + 1;
                    let b = buffers::http(&tx, true);
                    self.inspect_tx(flow, true, b, ts_us, pcap_cnt, Evidence::Http(&tx));
                }
                AppEvent::Http(tx) => {
                    if tx.request.is_some() && tx.tx_id >= flow.user.http_requests_inspected {
                        flow.user.http_requests_inspected = tx.tx_id + 1;
                        let b = buffers::http(&tx, true);
                        self.inspect_tx(flow, true, b, ts_us, pcap_cnt, Evidence::Http(&tx));
                    }
                    if tx.response.is_some() {
                        let b = buffers::http(&tx, false);
                        self.inspect_tx(flow, false, b, ts_us, pcap_cnt, Evidence::Http(&tx));
                    }
                    if self.config.eve.http {
                        let value = tx.to_eve(self.config.app.log_http_headers);
                        self.log_app("http", flow, ts_us, true, Some(tx.tx_id), &value);
                    }
                }
                AppEvent::Dns(msg) => {
                    let to_server = !msg.is_response();
                    if to_server {
                        for q in &msg.queries {
                            self.out.dns.push((
                                ts_us,
                                flow.src,
                                String::from_utf8_lossy(&q.name).into_owned(),
                            ));
                        }
                    }
                    for name in msg.buffers().query {
                        let mut b = Buffers::new();
                        b.set(Buffer::DnsQuery, name);
                        self.inspect_tx(flow, to_server, b, ts_us, pcap_cnt, Evidence::Dns(&msg));
                    }
                    if self.config.eve.dns {
                        for value in msg.to_eve() {
                            self.log_app("dns", flow, ts_us, to_server, None, &value);
                        }
                    }
                }
                AppEvent::Tls(session, progress) => match progress {
                    TlsProgress::ClientHello => {
                        if let Some(sni) = session.buffers().sni {
                            let sni = String::from_utf8_lossy(sni).into_owned();
                            self.saw_name(flow, ts_us, sni.as_bytes());
                        }
                        let b = buffers::tls(&session, true);
                        self.inspect_tx(flow, true, b, ts_us, pcap_cnt, Evidence::Tls(&session));
                    }
                    TlsProgress::ServerHello | TlsProgress::Certificate => {
                        let b = buffers::tls(&session, false);
                        self.inspect_tx(flow, false, b, ts_us, pcap_cnt, Evidence::Tls(&session));
                    }
                    TlsProgress::Done => {
                        if self.config.eve.tls {
                            let value = session.to_eve();
                            self.log_app("tls", flow, ts_us, true, None, &value);
                        }
                    }
                },
                AppEvent::Smtp(tx) => {
                    if self.config.eve.smtp {
                        let value = tx.to_eve();
                        self.log_app("smtp", flow, ts_us, true, None, &value);
                    }
                }
                AppEvent::Ssh(session) => {
                    for to_server in [true, false] {
                        let b = buffers::ssh(&session, to_server);
                        self.inspect_tx(flow, to_server, b, ts_us, pcap_cnt, Evidence::None);
                    }
                    if self.config.eve.ssh {
                        let value = session.to_eve();
                        self.log_app("ssh", flow, ts_us, true, None, &value);
                    }
                }
                AppEvent::Ftp(_) => {}
                AppEvent::Stopped(StopReason::Error(e)) => {
                    self.counters.app_errors += 1;
                    if self.config.eve.anomaly {
                        let value = serde_json::json!({
                            "type": "applayer",
                            "event": e.to_string(),
                            "layer": "proto_parser",
                        });
                        self.log_app("anomaly", flow, ts_us, true, None, &value);
                    }
                }
                AppEvent::Stopped(_) => {}
            }
        }
    }

    fn saw_name(&mut self, flow: &mut Flow<FlowCtx>, ts_us: u64, name: &[u8]) {
        let name = String::from_utf8_lossy(name).into_owned();
        self.out
            .names
            .push((ts_us, flow.src, flow.dst, name.clone()));
        flow.user.server_name.get_or_insert(name);
    }

    /// Runs the rules over one transaction's buffers, in the direction given.
    fn inspect_tx(
        &mut self,
        flow: &mut Flow<FlowCtx>,
        to_server: bool,
        buffers: Buffers<'_>,
        ts_us: u64,
        pcap_cnt: u64,
        evidence: Evidence<'_>,
    ) {
        let sides = Sides::of(flow, to_server);
        let input = Input {
            time_us: ts_us,
            proto: match flow.proto {
                decode::IPPROTO_TCP => rules::Proto::Tcp,
                decode::IPPROTO_UDP => rules::Proto::Udp,
                other => rules::Proto::Other(other),
            },
            src: sides.src,
            dst: sides.dst,
            sport: sides.sport,
            dport: sides.dport,
            to_server,
            established: flow.is_established(),
            packet: &[],
            stream: None,
            app_proto: flow.user.app_proto.and_then(rule_app_proto),
            buffers,
            ip: rules::IpFields::default(),
            tcp: None,
            icmp: None,
        };
        self.matches.clear();
        let mut matches = std::mem::take(&mut self.matches);
        self.engine.inspect(
            &input,
            &mut flow.user.rules,
            &mut self.thresholds,
            &mut matches,
        );
        for m in &matches {
            if m.action != Action::Pass {
                self.alert(flow, m, &sides, ts_us, pcap_cnt, false, evidence);
            }
        }
        self.matches = matches;
    }

    #[allow(clippy::too_many_arguments)]
    fn alert(
        &mut self,
        flow: &mut Flow<FlowCtx>,
        m: &Match,
        sides: &Sides,
        ts_us: u64,
        pcap_cnt: u64,
        blocked: bool,
        evidence: Evidence<'_>,
    ) {
        let rule = self.engine.rule(m.rule);
        let category = rule
            .classtype
            .as_deref()
            .map(classtype::description)
            .unwrap_or("")
            .to_string();
        let metadata = metadata_object(&rule.metadata);
        let alert = AlertObject {
            action: if blocked { "blocked" } else { "allowed" },
            gid: m.gid,
            signature_id: m.sid,
            rev: m.rev,
            signature: rule.msg.clone(),
            category,
            severity: rule.priority,
            metadata,
        };
        flow.user.alerted = true;
        self.counters.alerts += 1;
        let mut r = Record::new("alert", Timestamp(ts_us));
        r.flow_id = Some(flow.id);
        r.in_iface = self.iface.as_deref();
        r.pcap_cnt = (pcap_cnt > 0).then_some(pcap_cnt);
        r.src_ip = Some(sides.src);
        r.src_port = Some(sides.sport);
        r.dest_ip = Some(sides.dst);
        r.dest_port = Some(sides.dport);
        r.proto = Some(eve::proto_name(flow.proto));
        r.app_proto = flow.user.app_proto.map(|p| p.name());
        r.direction = Some(if sides.to_server {
            "to_server"
        } else {
            "to_client"
        });
        r.alert = Some(&alert);
        let app_value;
        match evidence {
            Evidence::Payload(bytes) if !bytes.is_empty() => {
                let excerpt = &bytes[..bytes.len().min(self.config.payload_max)];
                r.payload = Some(eve::base64(excerpt));
                r.payload_printable = Some(eve::printable(excerpt));
            }
            Evidence::Http(tx) => {
                r.tx_id = Some(tx.tx_id);
                app_value = tx.to_eve(false);
                r.http = Some(&app_value);
            }
            Evidence::Dns(msg) => {
                r.tx_id = Some(msg.tx_id);
                app_value = msg.to_eve().into_iter().next().unwrap_or_default();
                r.dns = Some(&app_value);
            }
            Evidence::Tls(session) => {
                app_value = session.to_eve();
                r.tls = Some(&app_value);
            }
            Evidence::Payload(_) | Evidence::None => {}
        }
        let flow_value = flow_object(flow, None);
        r.flow = Some(&flow_value);
        let line = serialize(&r);
        self.push_line(line, true);
    }

    /// A record of `event_type` for a flow, oriented client → server (or the reverse).
    fn flow_record<'a>(
        &'a self,
        event_type: &'static str,
        flow: &Flow<FlowCtx>,
        ts_us: u64,
        to_server: bool,
    ) -> Record<'a> {
        let sides = Sides::of(flow, to_server);
        let mut r = Record::new(event_type, Timestamp(ts_us));
        r.flow_id = Some(flow.id);
        r.in_iface = self.iface.as_deref();
        r.src_ip = Some(sides.src);
        r.src_port = Some(sides.sport);
        r.dest_ip = Some(sides.dst);
        r.dest_port = Some(sides.dport);
        r.proto = Some(eve::proto_name(flow.proto));
        r
    }

    /// One EVE `anomaly` record (type `decode`) per malformation the decoder found in a
    /// packet, with the addresses it could read.
    fn log_decode_anomalies(&mut self, p: &decode::Packet<'_>, ts_us: u64, pcap_cnt: u64) {
        let (sport, dport) = p.ports().map_or((None, None), |(s, d)| (Some(s), Some(d)));
        for a in p.anomalies.iter() {
            let value = serde_json::json!({ "type": "decode", "event": a.name() });
            let line = {
                let mut r = Record::new("anomaly", Timestamp(ts_us));
                r.in_iface = self.iface.as_deref();
                r.pcap_cnt = (pcap_cnt > 0).then_some(pcap_cnt);
                r.src_ip = p.src_ip();
                r.dest_ip = p.dst_ip();
                r.src_port = sport;
                r.dest_port = dport;
                r.proto = p.ip.map(|ip| eve::proto_name(ip.protocol()));
                r.anomaly = Some(&value);
                serialize(&r)
            };
            self.push_line(line, false);
        }
    }

    /// Logs an app-layer (or anomaly) record: `value` goes under the key `event_type`.
    fn log_app(
        &mut self,
        event_type: &'static str,
        flow: &Flow<FlowCtx>,
        ts_us: u64,
        to_server: bool,
        tx_id: Option<u64>,
        value: &serde_json::Value,
    ) {
        let line = {
            let mut r = self.flow_record(event_type, flow, ts_us, to_server);
            r.tx_id = tx_id;
            let slot = match event_type {
                "http" => &mut r.http,
                "dns" => &mut r.dns,
                "tls" => &mut r.tls,
                "smtp" => &mut r.smtp,
                "ssh" => &mut r.ssh,
                _ => &mut r.anomaly,
            };
            *slot = Some(value);
            serialize(&r)
        };
        self.push_line(line, false);
    }

    fn push_line(&mut self, line: Vec<u8>, is_alert: bool) {
        if is_alert {
            self.out
                .alert_lines
                .push(String::from_utf8_lossy(&line).into_owned());
        }
        self.out.eve.extend_from_slice(&line);
        self.out.eve.push(b'\n');
    }

    /// A flow left the table: flush its streams and parsers, log it, hand it to the
    /// detectors.
    fn end_flow(&mut self, mut flow: Flow<FlowCtx>, why: FlowEnd) {
        let ts_us = flow.last_ts_us;
        let mut events = Vec::new();
        {
            let ts = system_time(ts_us);
            let FlowCtx { tcp, app, .. } = &mut flow.user;
            if let Some(reassembly) = tcp.as_deref_mut() {
                reassembly.close(&mut self.stream, |d, chunk| {
                    if let Some(app) = app.as_deref_mut().filter(|a| a.is_active()) {
                        events.extend(match chunk {
                            Chunk::Data(bytes) => app.feed(d.is_to_server(), bytes, ts),
                            Chunk::Gap(len) => app.gap(d.is_to_server(), len),
                        });
                    }
                });
            }
            if let Some(app) = app.as_deref_mut() {
                events.extend(app.finish());
            }
        }
        self.app_events(&mut flow, events, ts_us, 0);
        if self.config.eve.flow {
            let value = flow_object(&flow, Some(why));
            let mut r = self.flow_record("flow", &flow, flow.first_ts_us, true);
            r.app_proto = flow.user.app_proto.map(|p| p.name());
            r.flow = Some(&value);
            let line = serialize(&r);
            self.push_line(line, false);
        }
        let syn_ack = flow
            .tcp_flags_toclient
            .contains(decode::TcpFlags::SYN | decode::TcpFlags::ACK);
        let reset = flow.tcp_flags_toclient.contains(decode::TcpFlags::RST);
        self.out.flows.push(FlowRecord {
            flow_id: flow.id,
            start_us: flow.first_ts_us,
            end_us: flow.last_ts_us,
            proto: flow.proto,
            src: flow.src,
            sport: flow.src_port,
            dst: flow.dst,
            dport: flow.dst_port,
            pkts_to_server: flow.pkts_toserver,
            bytes_to_server: flow.bytes_toserver,
            pkts_to_client: flow.pkts_toclient,
            bytes_to_client: flow.bytes_toclient,
            state: Conversation::classify(
                flow.proto,
                flow.is_established(),
                syn_ack,
                reset,
                flow.pkts_toclient,
            ),
            server_name: flow.user.server_name.take(),
        });
    }
}

/// Who sent what an alert is about.
struct Sides {
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    to_server: bool,
}

impl Sides {
    fn of(flow: &Flow<FlowCtx>, to_server: bool) -> Sides {
        if to_server {
            Sides {
                src: flow.src,
                sport: flow.src_port,
                dst: flow.dst,
                dport: flow.dst_port,
                to_server,
            }
        } else {
            Sides {
                src: flow.dst,
                sport: flow.dst_port,
                dst: flow.src,
                dport: flow.src_port,
                to_server,
            }
        }
    }
}

/// What an alert shows as its evidence.
#[derive(Clone, Copy)]
enum Evidence<'a> {
    Payload(&'a [u8]),
    Http(&'a crate::app::http::HttpTransaction),
    Dns(&'a crate::app::dns::DnsMessage),
    Tls(&'a crate::app::tls::TlsSession),
    None,
}

fn serialize(r: &Record) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

/// Rule `metadata` (`key value, key value`) as EVE writes it: each key with a list of values.
fn metadata_object(metadata: &[String]) -> Option<serde_json::Value> {
    if metadata.is_empty() {
        return None;
    }
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in metadata {
        let item = item.trim();
        let (k, v) = item.split_once(' ').unwrap_or((item, ""));
        map.entry(k.to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    serde_json::to_value(map).ok()
}

fn flow_object(flow: &Flow<FlowCtx>, why: Option<FlowEnd>) -> FlowObject {
    FlowObject {
        pkts_toserver: flow.pkts_toserver,
        pkts_toclient: flow.pkts_toclient,
        bytes_toserver: flow.bytes_toserver,
        bytes_toclient: flow.bytes_toclient,
        start: Timestamp(flow.first_ts_us),
        end: why.map(|_| Timestamp(flow.last_ts_us)),
        age: why.map(|_| flow.last_ts_us.saturating_sub(flow.first_ts_us) / 1_000_000),
        state: why.map(|_| match flow.tcp_state {
            TcpState::Closed => "closed",
            TcpState::Established | TcpState::FinWait | TcpState::Closing => "established",
            _ if flow.proto != decode::IPPROTO_TCP && flow.is_established() => "established",
            _ => "new",
        }),
        reason: why.map(|w| w.eve_reason()),
        alerted: why.map(|_| flow.user.alerted),
    }
}
