#include "engine/runtime/control_loop.h"

#include <rte_ethdev.h>
#include <rte_launch.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>

#include "engine/control/log.h"
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

std::string mac_text(const wire::MacAddress& m) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

}  // namespace

ProgressSample sample_progress(const std::vector<WorkerSlot*>& workers, size_t input_count,
                               const std::vector<const PcapReader*>& readers, double elapsed_s) {
  ProgressSample s;
  s.elapsed_s = elapsed_s;
  WorkerStats ws;
  for (const WorkerSlot* w : workers) {
    load_stats(w->published, ws);
    for (size_t i = 0; i < input_count; ++i) s.packets += ws.inputs[i].rx;
  }
  for (const PcapReader* r : readers) {
    if (r->file_bytes() == 0) continue;  // standard input: no size
    s.bytes_read += r->bytes_read();
    s.file_bytes += r->file_bytes();
  }
  return s;
}

void ControlLoop::run() {
  stats_interval_s_ = routes->running().stats_interval_s;
  start_ = last_summary_ = last_link_ = std::chrono::steady_clock::now();
  for (ArpResolver* r : resolvers) {
    next_hops_.emplace_back(next_hop_macs->at(r->port_name()), routes->running().arp_refresh_s, 0.0);
    if (links) links->store(r->port_name(), &PortCounters::arp_replies, r->replies());  // those at start
  }
  next_summary_s_ = stats_interval_s_;
  write_error_logged_.assign(writers.size(), false);
  // Long replays on a terminal: a progress bar on stderr, cleared while a log line is written
  // (a line on stdout would otherwise continue the bar's line on the same terminal).
  std::optional<ProgressBar> bar;
  struct PlainSinkAgain {  // however run() ends, the logger no longer refers to the bar
    bool active = false;
    ~PlainSinkAgain() {
      if (active) logger().set_sink(Logger::stream_sink(stdout));
    }
  } plain_sink_again;
  if (opts->progress && !readers.empty()) {
    bar.emplace(stderr);
    logger().set_sink([&bar, out = Logger::stream_sink(stdout)](std::string_view line) {
      bar->clear();
      out(line);
    });
    plain_sink_again.active = true;
  }
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); };
  for (;;) {
    bool any_running = false;
    for (unsigned lc : lcores) any_running = any_running || rte_eal_get_lcore_state(lc) == RUNNING;
    if (!any_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log_write_errors();
    watch_links();
    // A worker that failed is never left dead while the others run: stop them all.
    for (const WorkerSlot* w : workers) {
      if (w->failed.load(std::memory_order_acquire) && !stop->load()) {
        std::string why = "unknown error";
        try {
          std::rethrow_exception(w->error);
        } catch (const std::exception& e) {
          why = e.what();
        } catch (...) {
        }
        logger().error("worker_error", "a worker stopped on an error (" + why + "); stopping the engine",
                       {{"error", why}});
        stop->store(true, std::memory_order_relaxed);
      }
    }
    if (opts->reload && opts->reload->exchange(false)) reload();
    refresh_next_hops();
    apply_verdicts();
    apply_pool_requests();
    run_health_checks();
    const double elapsed = elapsed_s();
    if (opts->stop_after_s > 0 && elapsed >= opts->stop_after_s) stop->store(true, std::memory_order_relaxed);
    retire_snapshots();
    if (opts->periodic_summary && stats_interval_s_ > 0 && elapsed >= next_summary_s_) {
      next_summary_s_ = elapsed + stats_interval_s_;
      print_summary(elapsed);
    }
    if (bar) bar->update(sample_progress(workers, input_count, readers, elapsed));
  }
  if (bar) bar->finish(sample_progress(workers, input_count, readers, elapsed_s()));
  logger().report_suppressed();
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
    if (session_rules) {
      auto labels = session_rules_of(routes->running());
      std::lock_guard lock(session_rules->mutex);
      session_rules->sessions = std::move(labels);
    }
    const uint64_t generation = routes->generation();
    // Said at the level that was in force, so that a reload to level = "warn" is still seen.
    logger().info("reload", "reloaded " + config_path + " (generation " + std::to_string(generation) + ")",
                  {{"path", config_path}, {"generation", generation}});
    logger().set_level(routes->running().log.level);
  } else {
    logger().warn("reload_refused", "reload refused: " + refusal + "; still running the previous configuration",
                  {{"path", config_path}, {"reason", refusal}});
  }
}

// Next hops (engine/control/next_hop.h): replies read as they come, requests when due; a next
// hop that falls silent, answers again or moves is said once each, and a move is published like
// a reload. The counts go to the port's counters (stats, metrics).
void ControlLoop::refresh_next_hops() {
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  bool moved = false;
  for (size_t i = 0; i < resolvers.size(); ++i) {
    ArpResolver& r = *resolvers[i];
    NextHopState& hop = next_hops_[i];
    const std::string& port = r.port_name();
    const uint64_t counted = hop.requests() + hop.unanswered() + r.replies();
    NextHopState::Change c;
    if (const auto mac = r.poll()) c = hop.replied(now, *mac);
    else c = hop.tick(now);
    if (hop.request_due(now) && r.request()) hop.requested(now);
    // The port's counters, when one of them moved (the loop runs every 20 ms; most runs, none).
    if (links && hop.requests() + hop.unanswered() + r.replies() != counted) {
      links->store(port, &PortCounters::arp_requests, hop.requests());
      links->store(port, &PortCounters::arp_replies, r.replies());
      links->store(port, &PortCounters::arp_unanswered, hop.unanswered());
    }
    if (!c.silent && !c.answers_again && !c.moved) continue;  // the common case: nothing to say
    const std::string m = mac_text(hop.mac());
    const LogFields fields = {{"port", port}, {"next_hop", r.next_hop_text()}, {"mac", m}};
    if (c.silent) {
      logger().warn("next_hop_silent",
                    "port " + port + ": next hop " + r.next_hop_text() + " does not answer ARP; still sending to " + m +
                        ", asking every " + std::to_string(static_cast<int>(hop.retry_s())) + " s",
                    fields);
    }
    if (c.answers_again) {
      char silent_for[32];
      std::snprintf(silent_for, sizeof silent_for, "%.1f", c.silent_for_s);
      logger().info("next_hop_answers",
                    "port " + port + ": next hop " + r.next_hop_text() + " answers ARP again, at " + m +
                        " (silent for " + silent_for + " s)",
                    fields);
    }
    if (c.moved) {
      (*next_hop_macs)[port] = hop.mac();
      moved = true;
      logger().warn("next_hop", "port " + port + ": next hop " + r.next_hop_text() + " moved to " + m, fields);
    }
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
  logger().info("verdict",
                "verdicts: " + std::to_string(s.applied) + " requests applied; " + std::to_string(s.live_drops) +
                    " flows blocked by the hook, " + std::to_string(s.lifted) + " file rules lifted",
                {{"applied", uint64_t{s.applied}}, {"blocked", uint64_t{s.live_drops}}, {"lifted", uint64_t{s.lifted}}});
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
      logger().warn("pool_request_refused", "pool request refused: " + error,
                    {{"pool", r.pool}, {"member", r.member}, {"reason", error}});
    } else {
      const char* what = r.drain ? "drained" : "undrained";
      logger().info("pool_drain",
                    "pool " + r.pool + ": member " + r.member + " " + what + (changed ? "" : " (it already was)"),
                    {{"pool", r.pool}, {"member", r.member}, {"state", std::string(what)}, {"changed", changed}});
    }
    any = any || changed;
  }
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
    const PoolStates::Pool& p = pools->pools()[r.pool];
    const std::string outcome =
        std::string(health_outcome_name(r.outcome)) + (r.http_status ? " " + std::to_string(r.http_status) : "");
    logger().debug("health_check",
                   "pool " + p.name + ": member " + p.members[r.member].name + " check " +
                       (r.passed ? "passed" : "failed") + " (" + outcome + ")",
                   {{"pool", p.name}, {"member", p.members[r.member].name}, {"passed", r.passed}, {"outcome", outcome}});
    if (!pools->record_check(r.pool, r.member, r.passed)) continue;
    changed = true;
    const PoolStates::Member& m = p.members[r.member];
    if (m.health.healthy()) {
      logger().info("pool_member_state",
                    "pool " + p.name + ": member " + m.name + " is healthy again (" +
                        std::to_string(m.health.consecutive_passes()) + " checks passed in a row)",
                    {{"pool", p.name}, {"member", m.name}, {"state", std::string("healthy")}});
    } else {
      logger().warn("pool_member_state",
                    "pool " + p.name + ": member " + m.name + " is unhealthy (" +
                        std::to_string(m.health.consecutive_failures()) + " checks failed in a row; the last: " +
                        outcome + ")",
                    {{"pool", p.name}, {"member", m.name}, {"state", std::string("unhealthy")}, {"outcome", outcome}});
    }
  }
  if (changed) {
    pools_changed();
  } else if (!done.empty()) {
    std::lock_guard lock(pool_inbox->mutex);  // the checks' counts, for /mirrorpipe/pool
    pool_inbox->published = pools->pools();
  }
}

void ControlLoop::pools_changed() {
  for (const PoolStates::FailOpenChange& c : pools->refresh()) {
    if (c.fail_open) {
      logger().warn("pool_fail_open", c.message, {{"pool", c.pool}, {"fail_open", true}});
    } else {
      logger().info("pool_fail_open", c.message, {{"pool", c.pool}, {"fail_open", false}});
    }
  }
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
    logger().error("write_error",
                   writers[k]->error() + "; its packets are counted as dropped (write_failed), the engine goes on",
                   {{"path", writers[k]->path()}, {"error", writers[k]->error()}});
  }
}

// Links: each port's read about once a second (rte_eth_link_get_nowait never waits on the
// device); a change is said once, when seen, and counted on its port. The workers go on
// polling a port whose link is down: its RX returns nothing until the link is back.
void ControlLoop::watch_links() {
  if (!links) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_link_ < std::chrono::seconds(1)) return;
  last_link_ = now;
  for (const LinkWatch::Change& c : links->poll()) {
    const std::string state = link_text(c.now);
    const std::string msg = "port " + c.port + ": link " + state + " (change " + std::to_string(c.changes) + ")";
    const LogFields fields = {{"port", c.port},
                              {"link", std::string(c.now.up ? "up" : "down")},
                              {"speed_mbps", uint64_t{c.now.speed_mbps}},
                              {"link_changes", c.changes}};
    if (c.now.up) logger().info("link", msg, fields);
    else logger().warn("link", msg, fields);
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
  uint64_t replay_read = 0, replay_size = 0;
  for (const PcapReader* r : readers) {
    if (r->file_bytes() == 0) continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "  replay %.0f%%",
                  100.0 * static_cast<double>(r->bytes_read()) / static_cast<double>(r->file_bytes()));
    progress += buf;
    replay_read += r->bytes_read();
    replay_size += r->file_bytes();
  }
  const double rx_pps = (tot.rx - last_.rx) / dt, rx_bps = (tot.rx_bytes - last_.rx_bytes) * 8.0 / dt;
  const double sent_pps = (tot.sent - last_.sent) / dt, sent_bps = (tot.sent_bytes - last_.sent_bytes) * 8.0 / dt;
  char line[512];
  std::snprintf(line, sizeof line,
                "[%8.1fs] last %.1fs: rx %s (%s), sent %s (%s) | since start: filtered %llu, dropped %llu, "
                "nic-missed %llu%s",
                elapsed_s, dt, rate(rx_pps, "pps").c_str(), rate(rx_bps, "bps").c_str(), rate(sent_pps, "pps").c_str(),
                rate(sent_bps, "bps").c_str(), static_cast<unsigned long long>(tot.filtered()),
                static_cast<unsigned long long>(tot.dropped_total()), static_cast<unsigned long long>(imissed),
                progress.c_str());
  LogFields fields = {{"elapsed_s", elapsed_s},
                      {"interval_s", dt},
                      {"rx_pps", rx_pps},
                      {"rx_bps", rx_bps},
                      {"sent_pps", sent_pps},
                      {"sent_bps", sent_bps},
                      {"rx_packets", tot.rx},
                      {"sent_packets", tot.sent},
                      {"filtered", tot.filtered()},
                      {"dropped", tot.dropped_total()},
                      {"nic_missed", imissed}};
  if (replay_size) fields.push_back({"replay_percent", 100.0 * static_cast<double>(replay_read) / static_cast<double>(replay_size)});
  logger().info("summary", line, fields);
  last_ = tot;
  last_summary_ = now;
}

}  // namespace mirrorpipe
