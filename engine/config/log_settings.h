// [log]: how the engine writes its events (engine/control/log.h writes them). Plain data; the
// configuration loader fills it.
#pragma once

#include <cstdint>

namespace mirrorpipe {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

enum class LogFormat : uint8_t {
  kText,  // "2026-01-05T10:11:12.345Z info reload: reloaded ..." (a person, the journal)
  kJson,  // one JSON object per line (a log shipper)
};

struct LogSettings {
  LogFormat format = LogFormat::kText;  // fixed for the engine's life (one stream, one format)
  LogLevel level = LogLevel::kInfo;     // may change on reload
};

}  // namespace mirrorpipe
