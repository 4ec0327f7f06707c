#pragma once
// "Did you mean" suggestions for misspelt keys, plugin names and subcommands.

#include <string>
#include <vector>

namespace armor {

// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo;
// "" otherwise.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace armor
