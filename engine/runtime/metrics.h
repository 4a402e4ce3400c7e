// The Prometheus endpoint (`[metrics] listen = "127.0.0.1:9464"`): GET /metrics answers every
// counter in the text exposition format (version 0.0.4), served by civetweb's own threads, off
// the data path. Like telemetry it reads what the workers publish (engine/pipeline/counters.h),
// never their own counters, plus the DPDK ports' counters and the pools' state.
#pragma once

#include <memory>
#include <string>

#include "engine/runtime/telemetry.h"

struct mg_context;

namespace mirrorpipe {

class MetricsServer {
 public:
  // Starts listening on `listen` ("ADDRESS:PORT"); throws std::runtime_error when it cannot.
  // `view` must outlive the server.
  MetricsServer(const std::string& listen, const TelemetryView* view, std::string build_info);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The whole scrape, as /metrics serves it.
  std::string render() const;

 private:
  const TelemetryView* view_;
  std::string build_info_;
  mg_context* ctx_ = nullptr;
};

}  // namespace mirrorpipe
