#pragma once
// Progress: one line of progress for long work (label, bar, share done, seconds so far and left, status). On a terminal the line is redrawn in place (at most
// 5 times a second); in a log it is printed every 10 seconds and at the end. ARMOR_PROGRESS=off
// silences it.

#include <chrono>
#include <cstdint>
#include <string>

namespace armor {

class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  void update(std::int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  void print(std::int64_t done, const std::string& status, bool final_line);

  std::string label_;
  std::int64_t total_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace armor
