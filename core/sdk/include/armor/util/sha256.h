#pragma once
// Sha256: the SHA-256 digest (FIPS 180-4), for the hashes runs.db keeps of plugin libraries and
// artifacts. Feed bytes with update(), then hex_digest() once.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace armor {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // The digest as 64 lowercase hex digits. Ends the computation: update() after it is a bug.
  std::string hex_digest();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// The hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);
// The hex SHA-256 of a file's bytes; throws armor::Error naming the path when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace armor
