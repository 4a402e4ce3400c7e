// The appliance's verdict hook: flows an inspection engine (or the configuration) has blocked.
//
// A blocked flow's packets are not returned to GWLB nor copied to the sinks: each ends as
// filtered. Every other flow is forwarded (the default). Rules name a flow as GWLB keys it
// (decap/appliance.h: 5-tuple for TCP/UDP/SCTP, 3-tuple otherwise, both directions alike), from
// one GWLB endpoint or from any.
//
// The set is part of the route snapshot: immutable while workers read it; a change (the
// configuration, a reload, or `mirrorpipe verdict` through telemetry) publishes a new snapshot
// the way a reload does. Lookups allocate nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "decap/appliance.h"

namespace mirrorpipe {

struct FlowRule {
  InnerFlowKey key;
  bool any_endpoint = true;  // key.endpoint_id ignored

  bool operator==(const FlowRule& o) const noexcept {
    return any_endpoint == o.any_endpoint && (any_endpoint ? key.same_tuple(o.key) : key == o.key);
  }
};

class VerdictSet {
 public:
  VerdictSet() = default;
  explicit VerdictSet(const std::vector<FlowRule>& drops) {
    for (const auto& r : drops) entries_.push_back({r.key.tuple_hash(), r});
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.hash < b.hash; });
  }

  bool empty() const noexcept { return entries_.empty(); }
  size_t size() const noexcept { return entries_.size(); }

  // True when a rule blocks the flow `key` (its endpoint_id is the packet's endpoint).
  bool blocks(const InnerFlowKey& key) const noexcept {
    const uint32_t h = key.tuple_hash();
    auto it = std::lower_bound(entries_.begin(), entries_.end(), h,
                               [](const Entry& e, uint32_t v) { return e.hash < v; });
    for (; it != entries_.end() && it->hash == h; ++it) {
      if (it->rule.key.same_tuple(key) && (it->rule.any_endpoint || it->rule.key.endpoint_id == key.endpoint_id)) {
        return true;
      }
    }
    return false;
  }

 private:
  struct Entry {
    uint32_t hash;
    FlowRule rule;
  };
  std::vector<Entry> entries_;
};

}  // namespace mirrorpipe
