#include "engine/control/live_routes.h"

#include <algorithm>
#include <exception>

#include "engine/control/planner.h"

namespace mirrorpipe {

LiveRoutes::LiveRoutes(EngineConfig config, Plan plan) : running_(std::move(config)), plan_(std::move(plan)) {
  auto first = plan_(running_, blocked_flows(running_, live_drops_, accepted_));
  table_.current.store(first.get(), std::memory_order_release);
  versions_.emplace_back(0, std::move(first));
}

void LiveRoutes::publish(const EngineConfig& config) {
  auto next = plan_(config, blocked_flows(config, live_drops_, accepted_));
  // Every snapshot is told apart by its generation (only this thread increments it).
  const auto snapshot = static_cast<uint32_t>(table_.generation.load(std::memory_order_relaxed) + 1);
  for (Route& r : *next) r.snapshot = snapshot;
  // The pointer first, then the generation (see the header).
  table_.current.store(next.get(), std::memory_order_release);
  const uint64_t g = table_.generation.fetch_add(1, std::memory_order_acq_rel) + 1;
  versions_.emplace_back(g, std::move(next));
}

std::string LiveRoutes::reload(EngineConfig next) {
  const std::string refusal = live_change_refusal(running_, next);
  if (!refusal.empty()) return refusal;
  // The new file's rules hold as written: what a live accept lifted comes back.
  std::vector<FlowRule> lifted;
  lifted.swap(accepted_);
  try {
    publish(next);
  } catch (const std::exception& e) {
    accepted_.swap(lifted);
    return e.what();
  }
  running_ = std::move(next);
  return "";
}

LiveRoutes::VerdictState LiveRoutes::apply_verdicts(const std::vector<VerdictRequest>& requests) {
  for (const auto& [verb, rule] : requests) {
    switch (verb) {
      case VerdictVerb::kDrop:
        std::erase(accepted_, rule);
        if (std::find(live_drops_.begin(), live_drops_.end(), rule) == live_drops_.end()) live_drops_.push_back(rule);
        break;
      case VerdictVerb::kAccept:
        std::erase(live_drops_, rule);
        if (std::find(accepted_.begin(), accepted_.end(), rule) == accepted_.end()) accepted_.push_back(rule);
        break;
      case VerdictVerb::kClear:
        live_drops_.clear();
        accepted_.clear();
        break;
    }
  }
  if (!requests.empty()) publish(running_);
  return {requests.size(), live_drops_.size(), accepted_.size()};
}

void LiveRoutes::republish() { publish(running_); }

void LiveRoutes::retire(uint64_t oldest_seen) {
  // The newest snapshot always stays: it is the one published.
  while (versions_.size() > 1 && versions_[1].first <= oldest_seen) versions_.erase(versions_.begin());
}

}  // namespace mirrorpipe
