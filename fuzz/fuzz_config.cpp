// Fuzz target: the configuration loader (engine/config load_config_text) on the input as TOML
// text. It must return a configuration or throw ConfigError; any other exception escapes the
// target and crashes it (a finding), as does any sanitizer report.
//
// The loader checks what the text names on this machine (input files exist, output folders,
// CPU cores for workers): the answers depend on the machine, not on the input's safety.
#include <cstdint>
#include <string>

#include "engine/config/config.h"

using namespace mirrorpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const EngineConfig c = load_config_text(text, "fuzz.toml");
    (void)c;
  } catch (const ConfigError&) {
    // The expected answer to a bad file.
  }
  return 0;
}
