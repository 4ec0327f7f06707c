// libFuzzer target: one command-line override, as `armor run` and `armor run --multirun` see it.
// Parses it, expands it as a sweep dimension, and applies each value to a small config. A
// ConfigError is the expected answer to bad input; any other exception or a crash is a bug.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "armor/config/config.h"
#include "armor/config/override.h"
#include "armor/config/sweep.h"
#include "armor/error.h"

namespace {

const armor::Config& base_config() {
  static const armor::Config config = armor::Config::parse(
      "[model]\nname = \"resnet\"\nk = 1\nnum_experts = 4\n[attack]\neps = 0.1\n[eval.attacks.pgd20]\nsteps = 20\n",
      "fuzz base");
  return config;
}

void apply_each(const std::vector<std::string>& overrides) {
  armor::Config config = base_config();
  for (const auto& text : overrides) {
    try {
      config.apply(armor::parse_override(text));
    } catch (const armor::ConfigError&) {
      // A value that does not fit is answered with an error, and the config stays usable.
    }
  }
  try {
    config.interpolate();
  } catch (const armor::ConfigError&) {
  }
  (void)config.to_toml();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const armor::Override parsed = armor::parse_override(text);
    (void)armor::split_key(parsed.key);
  } catch (const armor::ConfigError&) {
  }
  apply_each({text});
  try {
    const auto points = armor::expand_multirun({text});
    if (points.size() <= 64) {
      for (const auto& point : points) apply_each(point);
    }
  } catch (const armor::ConfigError&) {
  }
  return 0;
}
