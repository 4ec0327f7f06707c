// libFuzzer target: config composition from TOML text. The input is a TOML document, optionally
// followed by a line "---" and one override per line. The document is parsed, the overrides
// applied, interpolations resolved, and the result printed and parsed again (what a run stores
// and `armor _exec-run` reads back must round-trip). A ConfigError is the expected answer to bad
// input; any other exception or a crash is a bug.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "armor/config/config.h"
#include "armor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t separator = input.find("\n---\n");
  const std::string toml = input.substr(0, separator);
  std::vector<std::string> overrides;
  if (separator != std::string::npos) {
    std::istringstream lines(input.substr(separator + 5));
    std::string line;
    while (std::getline(lines, line) && overrides.size() < 16) {
      if (!line.empty()) overrides.push_back(line);
    }
  }
  armor::Config config;
  try {
    config = armor::Config::parse(toml, "fuzz.toml");
  } catch (const armor::ConfigError&) {
    return 0;
  }
  for (const auto& text : overrides) {
    try {
      config.apply(text.empty() ? std::vector<std::string>{} : std::vector<std::string>{text});
    } catch (const armor::ConfigError&) {
    }
  }
  try {
    config.interpolate();
  } catch (const armor::ConfigError&) {
  }
  std::vector<std::string> keys;
  armor::collect_keys(config.table(), "", keys);
  const std::string printed = config.to_toml();
  // What armor prints it must read back (run configs are stored as this text).
  const armor::Config again = armor::Config::parse(printed, "fuzz round trip");
  if (again.to_toml() != printed) __builtin_trap();
  return 0;
}
