#pragma once
// Inline parameters: the settings of a component nested inside another component's section, written
// as the body of a TOML inline table in one string key. Experiment sections hold scalars only, so a
// model made of other models (model/output_moe: each expert a whole network) names its members'
// plugin in one key and their settings in another:
//   expert = "resnet"
//   expert_params = "depth = 10, width_multiplier = 0.25, stem = 'cifar'"
//
// parse_inline_params(text, schema, section, origin, preset) -> Params of `section` holding every key of
// `schema`: the value the text gives, else the one `preset` gives, else the schema's default. The
// text is checked like a config section: an unknown key (with a suggestion), a wrong type, a value
// out of range or not among the choices, a failing cross-parameter check, or bad TOML is a
// ConfigError that starts with `origin` and names `section`, e.g.
//   "exp.toml:7:17: model.expert_params.depth must be >= 10 (got 3)".
// Integers are accepted for real parameters; "" means no settings.

#include <map>
#include <string>

#include "armor/params/param_schema.h"
#include "armor/params/param_value.h"
#include "armor/params/params.h"

namespace armor {

Params parse_inline_params(const std::string& text, const ParamSchema& schema, const std::string& section,
                           const std::string& origin, const std::map<std::string, ParamValue>& preset = {});

}  // namespace armor
