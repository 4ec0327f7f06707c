#include "global_options.h"

#include <algorithm>

#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor::app {

const std::vector<std::string>& shared_options() {
  static const std::vector<std::string> names{"--db", "--plugin-path", "--format", "--outputs"};
  return names;
}

CommandLine split_command_line(const std::vector<std::string>& words) {
  CommandLine line;
  std::vector<std::string> shared;
  std::size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--help" || word == "-h" || word == "help") {
      line.help = true;
      return line;
    }
    if (word == "--version") {
      line.version = true;
      return line;
    }
    if (word.empty() || word[0] != '-') break;  // the command
    const std::string name = word.substr(0, word.find('='));
    const auto& known = shared_options();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& option : known) list += (list.empty() ? "" : ", ") + option;
      throw UsageError("unknown option '" + name + "' before the command" + did_you_mean(name, known) +
                       " (options that may come first: " + list + "); see armor --help");
    }
    if (name != word) {  // --db=x
      shared.push_back(word);
      continue;
    }
    if (i + 1 >= words.size()) throw UsageError(name + " needs a value");
    shared.push_back(word);
    shared.push_back(words[++i]);
  }
  if (i >= words.size()) {
    std::string given;
    for (const auto& word : shared) given += (given.empty() ? "" : " ") + word;
    throw UsageError("a command must follow " + given + "; see armor --help");
  }
  line.command = words[i];
  line.args.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
  line.args.insert(line.args.end(), shared.begin(), shared.end());
  return line;
}

}  // namespace armor::app
