#include "armor/util/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/core.h>

namespace armor {

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)),
      total_(total),
      // ARMOR_PROGRESS_TTY: the run's output goes through the launcher's pipe to a terminal.
      terminal_(isatty(fileno(stdout)) != 0 || std::getenv("ARMOR_PROGRESS_TTY") != nullptr),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void Progress::update(std::int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  if (now - last_print_ < interval) return;
  last_print_ = now;
  print(done, status, false);
}

void Progress::finish(const std::string& status) { print(total_, status, true); }

void Progress::print(std::int64_t done, const std::string& status, bool final_line) {
  // ARMOR_PROGRESS=off: no progress lines (benchmarks print only their figures).
  if (const char* setting = std::getenv("ARMOR_PROGRESS"); setting != nullptr && std::string(setting) == "off") return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth);
  const std::string bar =
      std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(kWidth - filled), '.');
  // Time left, extrapolated from the pace so far.
  const std::string left = !final_line && fraction > 0 && fraction < 1
                               ? fmt::format(" ({:.0f}s left)", seconds * (1.0 - fraction) / fraction)
                               : "";
  const std::string line =
      fmt::format("{} [{}] {:3.0f}% {:6.1f}s{} {}", label_, bar, fraction * 100.0, seconds, left, status);
  if (terminal_) {
    fmt::print("\r\033[K{}{}", line, final_line ? "\n" : "");
  } else {
    fmt::print("{}\n", line);
  }
  std::fflush(stdout);
}

}  // namespace armor
