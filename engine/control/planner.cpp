// The planner: configuration + the ports the runtime opened -> the route snapshot the workers
// read. Plain data in, plain data out: no DPDK, unit-tested directly (test/unit/test_planner.cpp).
#include "engine/control/planner.h"

#include <span>

#include "engine/control/maglev.h"

#include <algorithm>
#include <cstring>

namespace mirrorpipe {

namespace {

// A session's selection, from its filter and options.
SessionSelection selection_of(const EngineConfig& c, const SessionConfig& ses) {
  SessionSelection sel;
  if (const FilterConfig* f = c.filter(ses.filter)) {
    sel.policy.has_filter = true;
    sel.policy.filter = f->filter;
    sel.bpf_expression = f->bpf;
  }
  sel.policy.monitored = ses.monitored;
  sel.policy.egress_default = ses.egress;
  sel.slice = ses.slice;
  sel.sample_flows = ses.sample_flows;
  sel.sample_packets = ses.sample_packets;
  sel.max_pps_per_worker = ses.max_pps / std::max<uint32_t>(1, c.workers);
  sel.dedup_ns = uint64_t{ses.dedup_us} * 1000;
  sel.options = sel.slice >= 0 || sel.sample_flows || sel.sample_packets || sel.max_pps_per_worker > 0 ||
                sel.dedup_ns > 0;
  sel.active = sel.policy.has_filter || !sel.policy.monitored.empty() || sel.policy.egress_default ||
               sel.slice >= 0 || sel.sample_flows || sel.sample_packets || sel.max_pps_per_worker > 0 ||
               sel.dedup_ns > 0;
  return sel;
}

// A target as a sink: its outer template for its output, with the output's MTU and offloads;
// or an output port that takes the frame as it is.
// A mirror session's copies carry its VNI and PacketLength where it sets them.
Sink make_sink(const EngineConfig& c, const PortTopology& topo, const std::string& name, bool live_input,
               const SessionConfig* session = nullptr) {
  Sink sink;
  std::string out_name = name;
  if (const TargetConfig* t = c.target(name)) {
    out_name = t->output;
    sink.encap = true;
    TunnelConfig tunnel = t->tunnel;
    if (session && session->vni && tunnel.kind != TunnelKind::kGwlb) tunnel.vni = *session->vni;
    if (session && session->packet_length) tunnel.packet_length = session->packet_length;
    if (t->resolve_dst_mac) tunnel.dst_mac = topo.next_hop_macs.at(t->output);
    sink.outer = build_outer_template(tunnel);
    if (sink.outer.meta_offset) {
      // A stream per target: its index among the targets with the option.
      int16_t stream = 0;
      for (const TargetConfig& o : c.targets) {
        if (&o == t) break;
        stream = static_cast<int16_t>(stream + (o.tunnel.metadata_option ? 1 : 0));
      }
      sink.meta_stream = stream;
    }
  }
  const PortConfig* out = c.port(out_name);
  const size_t pout = static_cast<size_t>(out - c.ports.data());
  sink.output = static_cast<uint16_t>(topo.output_index[pout]);
  sink.stamp_file_meta = out->is_file() && live_input;
  sink.keeps_meta = out->is_pcapng();
  if (sink.encap) {
    const PortTopology::Output& info = topo.outputs[static_cast<size_t>(topo.output_index[pout])];
    // The output's IP MTU bounds the outer packet: ours where configured, else the port's.
    const uint32_t mtu = out->mtu ? out->mtu : (out->is_file() ? 0 : info.mtu);
    if (mtu) sink.outer.max_ip_length = mtu;
    sink.outer.truncate_to_mtu = out->oversize == Oversize::kTruncate;
    if (!out->is_file()) {
      use_checksum_offload(sink.outer, info.tx_ip_checksum, info.tx_udp_checksum);
      // The offload flags and lengths are set together (set_tx_offloads).
      sink.tx_ip_checksum_offload = sink.outer.ip_checksum_offload || sink.outer.udp_checksum_offload;
      sink.tx_udp_checksum_offload = sink.outer.udp_checksum_offload;
    }
    sink.chain = !out->is_file() && info.multi_seg && sink.outer.kind != TunnelKind::kGwlb &&
                 (!sink.outer.udp_checksum || sink.outer.udp_checksum_offload);
  }
  return sink;
}

// A pool as a sink: a sink per member (as make_sink makes a target's), the Maglev table over the
// members in service, all of them when none is (failing open). Owned by `route`.
Sink make_pool_sink(const EngineConfig& c, const PortTopology& topo, const PoolConfig& pool, bool live_input,
                    const SessionConfig* session, Route& route) {
  auto ps = std::make_shared<PoolSinks>();
  ps->index = static_cast<uint16_t>(&pool - c.pools.data());
  for (const auto& m : pool.members) ps->members.push_back(make_sink(c, topo, m, live_input, session));
  ps->in_place_one_output = std::all_of(ps->members.begin(), ps->members.end(), [&](const Sink& m) {
    return wraps_in_place(m) && m.output == ps->members.front().output;
  });
  std::unique_ptr<bool[]> in_service(new bool[pool.members.size()]);
  const auto state = topo.pool_in_service.find(pool.name);
  bool any = false;
  for (size_t i = 0; i < pool.members.size(); ++i) {
    in_service[i] = state == topo.pool_in_service.end() || i >= state->second.size() || state->second[i];
    any = any || in_service[i];
  }
  if (!any) {
    ps->fail_open = true;
    for (size_t i = 0; i < pool.members.size(); ++i) in_service[i] = true;
  }
  ps->table = build_maglev(pool.members, std::span<const bool>(in_service.get(), pool.members.size()),
                           pool.table_size).entries;
  Sink sink = ps->members.front();  // its output and flags stand for the pool's where one is needed
  sink.pool = ps.get();
  route.pools.push_back(std::move(ps));
  return sink;
}

// A sink by name: an output port, a target or a pool.
Sink make_named_sink(const EngineConfig& c, const PortTopology& topo, const std::string& name, bool live_input,
                     Route& route, const SessionConfig* session = nullptr) {
  if (const PoolConfig* p = c.pool(name)) return make_pool_sink(c, topo, *p, live_input, session, route);
  return make_sink(c, topo, name, live_input, session);
}

}  // namespace

// Routes, by input index; rebuilt from a new configuration on reload.
std::unique_ptr<std::vector<Route>> plan_routes(const EngineConfig& c, const PortTopology& topo,
                                               const std::vector<FlowRule>& blocked) {
  auto routes = std::make_unique<std::vector<Route>>(topo.input_count);
  for (const auto& r : c.routes) {
    const size_t pin = static_cast<size_t>(c.port(r.input) - c.ports.data());
    Route& route = (*routes)[static_cast<size_t>(topo.input_index[pin])];
    std::string out_name = r.output;
    const PoolConfig* pool = c.pool(r.target);
    const TargetConfig* meta_target = c.target(r.target);
    if (meta_target && !meta_target->tunnel.metadata_option) meta_target = nullptr;
    if (pool || meta_target) {
      // A route to a pool, or to a target with the metadata option: a session that takes every
      // packet, with the pool or the target as its one sink (the plain route's writer has
      // neither a member choice nor per-packet option fields).
      MirrorSessionRoute ms;
      ms.config_index = SessionSinks::kNoSessionId;
      const bool live = !topo.input_is_file[static_cast<size_t>(topo.input_index[pin])];
      ms.sinks.push_back(pool ? make_pool_sink(c, topo, *pool, live, nullptr, route)
                              : make_sink(c, topo, r.target, live));
      ms.single = single_sink(ms.sinks);
      route.mirror_sessions.push_back(std::move(ms));
      continue;
    }
    if (!r.target.empty()) {
      const TargetConfig* t = c.target(r.target);
      out_name = t->output;
      route.pipeline.mode = PipelineMode::kEncap;
      const Sink sink = make_sink(c, topo, r.target, false);
      route.pipeline.outer = sink.outer;
      route.tx_ip_checksum_offload = sink.tx_ip_checksum_offload;
      route.tx_udp_checksum_offload = sink.tx_udp_checksum_offload;
      route.nic_flow_hash = topo.nic_flow_hash[static_cast<size_t>(topo.input_index[pin])];
    } else {
      route.pipeline.mode = PipelineMode::kDecap;
      route.pipeline.decap = c.decap;
    }
    const PortConfig* out = c.port(out_name);
    const size_t pout = static_cast<size_t>(out - c.ports.data());
    route.output = static_cast<uint16_t>(topo.output_index[pout]);
    route.stamp_file_meta = out->is_file() && !topo.input_is_file[static_cast<size_t>(topo.input_index[pin])];
    // Allow-lists on a routed tunnel input: the receive path with one session for everything.
    const PortConfig& in = c.ports[pin];
    if (!r.output.empty() && (!in.allow_vnis.empty() || !in.allow_sources.empty() || out->is_pcapng())) {
      route.receive = true;
      route.policy.sessions.push_back(SessionMatch{});
      SessionSinks ss;
      ss.sinks.push_back(make_sink(c, topo, r.output, !topo.input_is_file[static_cast<size_t>(topo.input_index[pin])]));
      ss.any_keeps_meta = ss.sinks.back().keeps_meta;
      route.sessions.push_back(std::move(ss));
    }
  }
  // Sessions, on tunnel inputs and appliances; each input's allow-lists.
  for (size_t pi = 0; pi < c.ports.size(); ++pi) {
    const PortConfig& p = c.ports[pi];
    if (p.role == PortRole::kMirrorInput) {
      // Mirror sessions, tried in ascending number.
      Route& route = (*routes)[static_cast<size_t>(topo.input_index[pi])];
      const bool live = !topo.input_is_file[static_cast<size_t>(topo.input_index[pi])];
      std::vector<size_t> order;
      for (size_t si = 0; si < c.sessions.size(); ++si) {
        if (c.sessions[si].input == p.name) order.push_back(si);
      }
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c.sessions[a].number < c.sessions[b].number; });
      for (size_t si : order) {
        const SessionConfig& ses = c.sessions[si];
        MirrorSessionRoute ms;
        ms.config_index = static_cast<uint16_t>(si);
        ms.select = selection_of(c, ses);
        ms.select.active = true;  // a mirror session always decides (AWS's exclusions, direction)
        route.any_session_filter = route.any_session_filter || ms.select.policy.has_filter;
        for (const auto& name : ses.sinks) ms.sinks.push_back(make_named_sink(c, topo, name, live, route, &ses));
        ms.single = single_sink(ms.sinks);
        if (!ms.sinks.empty()) ms.sinks.back().share_payload = share_payload(ms.sinks);
        ms.shared_one_output = shared_one_output(ms.sinks);
        ms.shared_plain_vxlan4 = ms.shared_one_output && plain_vxlan4_sinks(ms.sinks);
        route.mirror_sessions.push_back(std::move(ms));
      }
      continue;
    }
    if (p.role != PortRole::kTunnelInput && p.role != PortRole::kAppliance) continue;
    Route& route = (*routes)[static_cast<size_t>(topo.input_index[pi])];
    route.pipeline.decap = c.decap;
    route.policy.allow_vnis = p.allow_vnis;
    route.policy.allow_sources = p.allow_sources;
    const bool live = !topo.input_is_file[static_cast<size_t>(topo.input_index[pi])];
    for (size_t si = 0; si < c.sessions.size(); ++si) {
      const SessionConfig& ses = c.sessions[si];
      if (ses.input != p.name) continue;
      route.receive = p.role == PortRole::kTunnelInput;
      route.policy.sessions.push_back(SessionMatch{ses.vnis, ses.sources});
      SessionSinks ss;
      ss.config_index = static_cast<uint16_t>(si);
      ss.select = selection_of(c, ses);
      route.any_receive_selection = route.any_receive_selection || ss.select.active;
      for (const auto& name : ses.sinks) {
        ss.sinks.push_back(make_named_sink(c, topo, name, live, route));
        ss.any_keeps_meta = ss.any_keeps_meta || ss.sinks.back().keeps_meta;
      }
      if (!ss.sinks.empty()) ss.sinks.back().share_payload = share_payload(ss.sinks);
      route.sessions.push_back(std::move(ss));
    }
  }
  // The host's own traffic: answered on the port, or handed to its exception TAP; what the
  // kernel sends on the TAP goes out of the port as it is.
  for (const PortTopology::Host& h : topo.hosts) {
    const PortConfig& p = c.ports[h.port];
    if (!p.ip || p.ip->v6) continue;  // an appliance without an address: it only returns packets
    Route& route = (*routes)[static_cast<size_t>(topo.input_index[h.port])];
    route.host.enabled = true;
    std::memcpy(route.host.ip.data(), p.ip->bytes.data(), 4);
    route.host.mac = h.mac;
    route.host.has_tap = h.tap_output >= 0;
    if (p.also_output && p.next_hop_ip) {
      std::memcpy(route.host.next_hop_ip.data(), p.next_hop_ip->bytes.data(), 4);
      route.host.next_hop_seen = h.next_hop_seen;
    }
    route.reply_output = static_cast<uint16_t>(h.reply_output);
    route.host_output = h.tap_output;
    // UDP to the tunnel ports stays on the data path, for a tunnel input.
    if (p.role == PortRole::kTunnelInput || p.role == PortRole::kAppliance) {
      for (uint8_t k = 0; k < c.decap.vxlan_port_count; ++k) {
        route.host.tunnel_ports[route.host.tunnel_port_count++] = c.decap.vxlan_ports[k];
      }
      for (uint8_t k = 0; k < c.decap.geneve_port_count; ++k) {
        route.host.tunnel_ports[route.host.tunnel_port_count++] = c.decap.geneve_ports[k];
      }
    }
    if (h.tap_input >= 0) {
      Route& back = (*routes)[static_cast<size_t>(h.tap_input)];
      back.pipeline.mode = PipelineMode::kForward;
      back.output = static_cast<uint16_t>(h.reply_output);
    }
  }
  // Appliances: returns on the port itself or on `returns`; injected packets likewise.
  for (size_t pi = 0; pi < c.ports.size(); ++pi) {
    const PortConfig& p = c.ports[pi];
    if (p.role != PortRole::kAppliance) continue;
    Route& route = (*routes)[static_cast<size_t>(topo.input_index[pi])];
    route.appliance = true;
    route.verdicts = VerdictSet(blocked);
    route.appliance_cfg.decap = c.decap;
    route.appliance_cfg.ttl = c.appliance.ttl;
    if (!p.returns.empty()) {
      const PortConfig* o = c.port(p.returns);
      route.return_output = static_cast<uint16_t>(topo.output_index[static_cast<size_t>(o - c.ports.data())]);
    } else {
      for (const PortTopology::Host& h : topo.hosts) {
        if (h.port == pi) route.return_output = static_cast<uint16_t>(h.reply_output);
      }
    }
    // The returns' source MAC: that of the port they leave by (a file has none: a fixed one).
    const PortConfig* by = p.returns.empty() ? &p : c.port(p.returns);
    if (by->is_file()) {
      route.appliance_cfg.mac = {0x02, 0, 0, 0, 0, 0x01};
    } else {
      route.appliance_cfg.mac = topo.outputs[route.return_output].mac;
    }
    if (auto it = topo.inject_input.find(p.name); it != topo.inject_input.end()) {
      Route& inj = (*routes)[static_cast<size_t>(it->second)];
      inj.inject = true;
      inj.return_output = route.return_output;
    }
  }
  for (Route& route : *routes) {
    route.staged_sessions = staged_sessions(route);
    route.staged_appliance = staged_appliance(route);
  }
  return routes;
}

std::vector<FlowRule> blocked_flows(const EngineConfig& c, const std::vector<FlowRule>& live_drops,
                                    const std::vector<FlowRule>& accepted) {
  std::vector<FlowRule> rules = c.appliance.drop_flows;
  for (const auto& r : live_drops) {
    if (std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(r);
  }
  std::erase_if(rules, [&](const FlowRule& r) { return std::find(accepted.begin(), accepted.end(), r) != accepted.end(); });
  return rules;
}

}  // namespace mirrorpipe
