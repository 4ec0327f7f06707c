#pragma once
// The one error hierarchy of armor. Every message names the bad thing and its value; the host
// turns each kind into an exit code (see README: "Exit codes").

#include <stdexcept>
#include <string>

namespace armor {

// Base of every error armor raises on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad command line: unknown subcommand or option, missing argument. Exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Bad configuration: TOML syntax, unknown key, ill-typed or out-of-range value, bad override.
// The message starts with where the value came from ("file.toml:12:7" or "override 'model.k=x'").
// Exit code 2.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A plugin library that cannot be used: not a shared library, no entry point, wrong API version,
// duplicate (kind, name), or a factory that threw. The message names the library path. Exit code 2.
class PluginError : public Error {
 public:
  PluginError(std::string library, const std::string& reason)
      : Error(library + ": " + reason), library_(std::move(library)) {}
  const std::string& library() const noexcept { return library_; }

 private:
  std::string library_;
};

// A results-database failure. The message carries the SQL (or operation) and SQLite's error code.
class StoreError : public Error {
 public:
  StoreError(const std::string& message, int code = 0)
      : Error(code != 0 ? message + " (sqlite error " + std::to_string(code) + ")" : message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// Bad data on disk: a missing, truncated or mismatched dataset file. Exit code 2 when found
// before a run starts, otherwise the run fails (exit code 1).
class DataError : public Error {
 public:
  using Error::Error;
};

// A run's folder, checkpoint or model file that is not the run's own: it belongs to another run (of
// this or another database), or it changed since runs.db recorded its sha256. The message names both
// runs (or both hashes) and the file. Exit code 2; nothing of the other run is touched.
class IdentityError : public Error {
 public:
  using Error::Error;
};

// A run that started and could not finish (NaN loss, a failing component, a crashed child).
// Exit code 1.
class RunError : public Error {
 public:
  using Error::Error;
};

// A run whose training loss became NaN or infinite: recorded with status "diverged". Exit code 1.
class DivergedError : public RunError {
 public:
  using RunError::RunError;
};

}  // namespace armor
