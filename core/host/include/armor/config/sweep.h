#pragma once
// Multirun expansion: `--multirun model.num_experts=2,4 model.k=1,2` becomes the cartesian
// product of the listed values, each point a list of plain overrides. Sweep values:
//   a,b,c                     a list (commas inside [], {} or quotes do not split)
//   choice(a,b,c)             the same list, spelled as in Hydra
//   range(start,stop[,step])  numbers from start up to (not including) stop
//   zip(a,b,c)                a paired dimension: every zip() override moves together, point i
//                             taking the i-th value of each (their lengths must match)
// Dimensions vary in the order given, the last fastest; the zip group sits where its first member is.
//
// Random search (sample_multirun) draws `trials` points instead: each dimension takes one of its
// values at random (a zip group one common index), and these distributions are allowed too:
//   uniform(low,high)     a float in [low, high)
//   loguniform(low,high)  a float whose log is uniform in [log low, log high)
//   randint(low,high)     an integer in [low, high)

#include <cstdint>
#include <string>
#include <vector>

namespace armor {

// The sweep values of one override's value text: "2,4" -> {"2","4"}; "range(0,3)" -> {"0","1","2"};
// a value with no top-level comma is a list of one. ConfigError (naming the override) on bad syntax.
std::vector<std::string> sweep_values(const std::string& override_text, const std::string& value_text);

// The points of the grid, in order (the last override varies fastest). Overrides with a single
// value appear in every point unchanged.
std::vector<std::vector<std::string>> expand_multirun(const std::vector<std::string>& overrides);

// `trials` random points, reproducible from `seed`.
std::vector<std::vector<std::string>> sample_multirun(const std::vector<std::string>& overrides, int trials,
                                                      std::uint64_t seed);

// The sweep's dimensions, for the record: "model.k=1,2 zip(trainer.beta=1,3 | dual.alpha=0.5,0.7)".
std::string describe_multirun(const std::vector<std::string>& overrides);

}  // namespace armor
