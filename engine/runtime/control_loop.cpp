#include "engine/runtime/control_loop.h"

#include <rte_ethdev.h>
#include <rte_launch.h>

#include <cstdio>
#include <thread>

#include "engine/runtime/arp.h"
#include "engine/runtime/file_port.h"
#include "engine/runtime/health.h"

namespace mirrorpipe {

namespace {

std::string rate(double v, const char* unit) {
  char buf[64];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2f G%s", v / 1e9, unit);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M%s", v / 1e6, unit);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.2f k%s", v / 1e3, unit);
  else std::snprintf(buf, sizeof buf, "%.0f %s", v, unit);
  return buf;
}

void say(const char* line) {
  std::puts(line);
  std::fflush(stdout);
}

}  // namespace

void ControlLoop::run() {
  stats_interval_s_ = routes->running().stats_interval_s;
  start_ = last_arp_ = last_summary_ = std::chrono::steady_clock::now();
  next_summary_s_ = stats_interval_s_;
  write_error_logged_.assign(writers.size(), false);
  for (;;) {
    bool any_running = false;
    for (unsigned lc : lcores) any_running = any_running || rte_eal_get_lcore_state(lc) == RUNNING;
    if (!any_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log_write_errors();
    // A worker that failed is never left dead while the others run: stop them all.
    for (const WorkerSlot* w : workers) {
      if (w->failed.load(std::memory_order_acquire) && !stop->load()) {
        say("a worker stopped on an error; stopping the engine");
        stop->store(true, std::memory_order_relaxed);
      }
    }
    if (opts->reload && opts->reload->exchange(false)) reload();
    refresh_next_hops();
    apply_verdicts();
    apply_pool_requests();
    run_health_checks();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (opts->stop_after_s > 0 && elapsed >= opts->stop_after_s) stop->store(true, std::memory_order_relaxed);
    retire_snapshots();
    if (opts->periodic_summary && stats_interval_s_ > 0 && elapsed >= next_summary_s_) {
      next_summary_s_ = elapsed + stats_interval_s_;
      print_summary(elapsed);
    }
  }
}

// SIGHUP: a new configuration, if it changes only what may change live, is planned into a new
// route snapshot and published.
void ControlLoop::reload() {
  std::string refusal;
  try {
    refusal = routes->reload(load_config(config_path));
  } catch (const std::exception& e) {
    refusal = e.what();
  }
  if (refusal.empty()) {
    stats_interval_s_ = routes->running().stats_interval_s;
    std::printf("reloaded %s (generation %llu)\n", config_path.c_str(),
                static_cast<unsigned long long>(routes->generation()));
  } else {
    std::printf("reload refused: %s; still running the previous configuration\n", refusal.c_str());
  }
  std::fflush(stdout);
}

// Next hops: replies read as they come, a new request every 30 s; a next hop that moved to
// another MAC is published like a reload.
void ControlLoop::refresh_next_hops() {
  const auto now = std::chrono::steady_clock::now();
  const bool ask = now - last_arp_ >= std::chrono::seconds(30);
  if (ask) last_arp_ = now;
  bool moved = false;
  for (ArpResolver* r : resolvers) {
    if (ask) r->request();
    const auto mac = r->poll();
    if (!mac || *mac == (*next_hop_macs)[r->port_name()]) continue;
    (*next_hop_macs)[r->port_name()] = *mac;
    moved = true;
    std::printf("port %s: next hop %s moved to %02x:%02x:%02x:%02x:%02x:%02x\n", r->port_name().c_str(),
                r->next_hop_text().c_str(), (*mac)[0], (*mac)[1], (*mac)[2], (*mac)[3], (*mac)[4], (*mac)[5]);
    std::fflush(stdout);
  }
  if (moved) routes->republish();
}

// The verdict hook: requests from /mirrorpipe/verdict become a new snapshot.
void ControlLoop::apply_verdicts() {
  std::vector<VerdictRequest> todo;
  {
    std::lock_guard lock(inbox->mutex);
    todo.swap(inbox->pending);
  }
  if (todo.empty()) return;
  const LiveRoutes::VerdictState s = routes->apply_verdicts(todo);
  std::printf("verdicts: %zu requests applied; %zu flows blocked by the hook, %zu file rules lifted\n", s.applied,
              s.live_drops, s.lifted);
  std::fflush(stdout);
}

// `mirrorpipe pool drain|undrain POOL MEMBER`: the member leaves or rejoins the pool's table.
void ControlLoop::apply_pool_requests() {
  std::vector<PoolInbox::Request> todo;
  {
    std::lock_guard lock(pool_inbox->mutex);
    todo.swap(pool_inbox->pending);
  }
  bool any = false;
  for (const auto& r : todo) {
    bool changed = false;
    const std::string error = pools->set_drained(r.pool, r.member, r.drain, changed);
    if (!error.empty()) {
      std::printf("pool request refused: %s\n", error.c_str());
    } else {
      std::printf("pool %s: member %s %s%s\n", r.pool.c_str(), r.member.c_str(), r.drain ? "drained" : "undrained",
                  changed ? "" : " (it already was)");
    }
    any = any || changed;
  }
  if (!todo.empty()) std::fflush(stdout);
  if (any) pools_changed();
}

// The pools' health checks: each finished check recorded; a member that changes state (after
// its pool's thresholds) is said once and the tables planned again.
void ControlLoop::run_health_checks() {
  if (checkers.empty()) return;
  const uint64_t now_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  std::vector<HealthChecker::Result> done;
  for (HealthChecker* hc : checkers) hc->step(now_ns, done);
  bool changed = false;
  for (const auto& r : done) {
    if (!pools->record_check(r.pool, r.member, r.passed)) continue;
    changed = true;
    const PoolStates::Pool& p = pools->pools()[r.pool];
    const PoolStates::Member& m = p.members[r.member];
    if (m.health.healthy()) {
      std::printf("pool %s: member %s is healthy again (%u checks passed in a row)\n", p.name.c_str(), m.name.c_str(),
                  m.health.consecutive_passes());
    } else {
      std::printf("pool %s: member %s is unhealthy (%u checks failed in a row; the last: %s%s)\n", p.name.c_str(),
                  m.name.c_str(), m.health.consecutive_failures(), health_outcome_name(r.outcome),
                  r.http_status ? (" " + std::to_string(r.http_status)).c_str() : "");
    }
  }
  if (!done.empty()) std::fflush(stdout);
  if (changed) {
    pools_changed();
  } else if (!done.empty()) {
    std::lock_guard lock(pool_inbox->mutex);  // the checks' counts, for /mirrorpipe/pool
    pool_inbox->published = pools->pools();
  }
}

void ControlLoop::pools_changed() {
  for (const std::string& line : pools->refresh()) say(line.c_str());
  *pool_in_service = pools->in_service();
  routes->republish();
  std::lock_guard lock(pool_inbox->mutex);
  pool_inbox->published = pools->pools();
}

// File outputs that failed: said once each, as soon as the loop sees it; their packets are
// counted as write_failed and the engine goes on.
void ControlLoop::log_write_errors() {
  for (size_t k = 0; k < writers.size(); ++k) {
    if (write_error_logged_[k] || !writers[k]->failed()) continue;
    write_error_logged_[k] = true;
    std::printf("%s; its packets are counted as dropped (write_failed), the engine goes on\n",
                writers[k]->error().c_str());
    std::fflush(stdout);
  }
}

// The oldest generation a running worker has adopted; a stopped worker holds nothing.
void ControlLoop::retire_snapshots() {
  if (routes->snapshots() <= 1) return;
  uint64_t oldest = routes->generation();
  for (size_t w = 0; w < workers.size(); ++w) {
    if (rte_eal_get_lcore_state(lcores[w]) != RUNNING) continue;
    oldest = std::min(oldest, workers[w]->seen_generation.load(std::memory_order_acquire));
  }
  routes->retire(oldest);
}

// One line: rates over the last interval, counts since the start (said as such on the line).
void ControlLoop::print_summary(double elapsed_s) {
  const auto now = std::chrono::steady_clock::now();
  InputCounters tot;
  for (const WorkerSlot* w : workers) {
    WorkerStats ws;
    load_stats(w->published, ws);
    for (size_t i = 0; i < input_count; ++i) tot += ws.inputs[i];
  }
  const double dt = std::chrono::duration<double>(now - last_summary_).count();
  uint64_t imissed = 0;
  for (uint16_t port : ethdev_ports) {
    rte_eth_stats s{};
    if (rte_eth_stats_get(port, &s) == 0) imissed += s.imissed;
  }
  // Long replays show how far each capture has been read.
  std::string progress;
  for (const PcapReader* r : readers) {
    if (r->file_bytes() == 0) continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "  replay %.0f%%",
                  100.0 * static_cast<double>(r->bytes_read()) / static_cast<double>(r->file_bytes()));
    progress += buf;
  }
  std::printf("[%8.1fs] last %.1fs: rx %s (%s), sent %s (%s) | since start: filtered %llu, dropped %llu, "
              "nic-missed %llu%s\n",
              elapsed_s, dt, rate((tot.rx - last_.rx) / dt, "pps").c_str(),
              rate((tot.rx_bytes - last_.rx_bytes) * 8.0 / dt, "bps").c_str(),
              rate((tot.sent - last_.sent) / dt, "pps").c_str(),
              rate((tot.sent_bytes - last_.sent_bytes) * 8.0 / dt, "bps").c_str(),
              static_cast<unsigned long long>(tot.filtered()), static_cast<unsigned long long>(tot.dropped_total()),
              static_cast<unsigned long long>(imissed), progress.c_str());
  std::fflush(stdout);
  last_ = tot;
  last_summary_ = now;
}

}  // namespace mirrorpipe
