#include "engine/control/pools.h"

#include <memory>
#include <span>

#include "engine/control/maglev.h"

namespace mirrorpipe {

PoolStates::PoolStates(const EngineConfig& config) {
  for (const PoolConfig& pc : config.pools) {
    Pool p;
    p.name = pc.name;
    p.table_size = pc.table_size;
    const HealthCheckSettings h = pc.health.value_or(HealthCheckSettings{});
    for (const auto& m : pc.members) p.members.push_back(Member{m, HealthState(h), false, 0});
    pools_.push_back(std::move(p));
  }
  refresh();
}

std::map<std::string, std::vector<bool>> PoolStates::in_service() const {
  std::map<std::string, std::vector<bool>> out;
  for (const Pool& p : pools_) {
    auto& v = out[p.name];
    for (const Member& m : p.members) v.push_back(m.in_service());
  }
  return out;
}

std::string PoolStates::set_drained(const std::string& pool, const std::string& member, bool drained, bool& changed) {
  changed = false;
  for (Pool& p : pools_) {
    if (p.name != pool) continue;
    for (Member& m : p.members) {
      if (m.name != member) continue;
      changed = m.drained != drained;
      m.drained = drained;
      return "";
    }
    return "pool '" + pool + "' has no member '" + member + "'";
  }
  return "no pool '" + pool + "'";
}

bool PoolStates::record_check(size_t pool, size_t member, bool passed) {
  return pools_.at(pool).members.at(member).health.record(passed);
}

std::vector<PoolStates::FailOpenChange> PoolStates::refresh() {
  std::vector<FailOpenChange> said;
  for (Pool& p : pools_) {
    const size_t n = p.members.size();
    std::unique_ptr<bool[]> in(new bool[n]);
    std::vector<std::string> names;
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      in[i] = p.members[i].in_service();
      any = any || in[i];
      names.push_back(p.members[i].name);
    }
    if (p.fail_open != !any) {
      said.push_back({p.name, !any,
                      "pool " + p.name + (any ? ": members in service again, no longer failing open"
                                              : ": no member in service; failing open (flows spread over every member)")});
    }
    p.fail_open = !any;
    if (!any) {
      for (size_t i = 0; i < n; ++i) in[i] = true;
    }
    const MaglevTable t = build_maglev(names, std::span<const bool>(in.get(), n), p.table_size);
    std::vector<uint32_t> count(n, 0);
    for (uint16_t e : t.entries) ++count[e];
    for (size_t i = 0; i < n; ++i) p.members[i].flow_share = static_cast<double>(count[i]) / t.entries.size();
  }
  return said;
}

}  // namespace mirrorpipe
