#pragma once
// Options shared by several subcommands may come before the subcommand's name:
// `armor --db x.db db list` is `armor db list --db x.db`. They are passed on to the subcommand,
// after its own arguments, so that the subcommand's parser (its --help, its checks) sees them.

#include <string>
#include <vector>

namespace armor::app {

// The options that may come first, each taking a value: --db, --plugin-path, --format, --outputs.
const std::vector<std::string>& shared_options();

struct CommandLine {
  bool help = false;              // --help, -h or help before any command
  bool version = false;           // --version before any command
  std::string command;            // "" when none was given
  std::vector<std::string> args;  // the command's arguments, the shared options given first appended
};

// `words`: the arguments after the program's name. "--db x" and "--db=x" alike; --plugin-path may
// repeat. UsageError naming an unknown leading option, a shared option without its value, or
// shared options with no command after them.
CommandLine split_command_line(const std::vector<std::string>& words);

}  // namespace armor::app
