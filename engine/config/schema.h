// The configuration file's schema: one row per key of every table the loader reads, with its
// type, default, allowed values or range, and whether a reload (SIGHUP) may change it.
//
// It is the loader's own source of truth, not a description beside it: config_load.cpp takes
// each table's list of known keys (the unknown-key check) and every literal integer and number
// range from these rows, `mirrorpipe config-reference` prints docs/configuration.md from them,
// and test/unit/test_config_schema.cpp checks the rest (defaults, what a reload may change)
// against the loader and live_change_refusal.
//
// Plain data, control path only; no DPDK.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mirrorpipe {

enum class RangeKind : unsigned char {
  kNone,
  kInteger,      // an integer from min to max, both included
  kNumber,       // an integer or a float from min to max
  kIntegerList,  // an array whose every element is an integer from min to max
};

enum class Reload : unsigned char {
  kYes,      // a reload applies the new value
  kNo,       // a reload that changes it is refused (live_change_refusal); restart to change it
  kOnOff,    // the value may change, but not from off to on or back (sessions.dedup_us)
  kPerKey,   // a table: see its keys
};

struct ConfigKey {
  std::string_view table;          // "" (the top level), "engine", "ports", "filters.rules", ...
  std::string_view key;
  std::string_view type;           // "string", "integer", "number", "bool", "array of strings", ...
  std::string_view default_value;  // as text; "required"; "derived: ..."
  std::string_view allowed;        // allowed values or constraints, as text (the range is min/max)
  RangeKind range = RangeKind::kNone;
  double min = 0;
  double max = 0;
  Reload reload = Reload::kNo;
  std::string_view description;
};

// Every row, tables in the order of the reference, each table's keys in the loader's order.
std::span<const ConfigKey> config_schema();

// The tables, in order ("" first).
std::vector<std::string_view> config_tables();

// The keys of one table, in order.
std::vector<std::string> config_keys(std::string_view table);

// One row; throws std::logic_error when the schema has no such key (a loader bug).
const ConfigKey& config_key(std::string_view table, std::string_view key);

// The schema table of a key path as the loader names it: "ports[2]" -> "ports",
// "filters[0].rules[3]" -> "filters.rules", "" -> "".
std::string schema_table_of(std::string_view path);

// docs/configuration.md: the reference as Markdown.
std::string config_reference_markdown();

}  // namespace mirrorpipe
