#pragma once
// Reads the reference CSV files of tests/fixtures/statistics (written by its generate.py): a header
// line, then rows of fields, a field in double quotes when it holds a comma.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace armor::testing {

using CsvRow = std::map<std::string, std::string>;

inline std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (const char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

// The rows of tests/fixtures/statistics/<name>, keyed by the header's names.
inline std::vector<CsvRow> statistics_fixture(const std::string& name) {
  const std::string path = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/statistics/" + name;
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot read " << path;
  std::string line;
  std::getline(file, line);
  const std::vector<std::string> header = csv_fields(line);
  std::vector<CsvRow> rows;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> fields = csv_fields(line);
    CsvRow row;
    for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

inline double number(const CsvRow& row, const std::string& key) {
  const auto found = row.find(key);
  EXPECT_NE(found, row.end()) << key;
  return found == row.end() ? std::nan("") : std::strtod(found->second.c_str(), nullptr);
}

// "a;b;c" -> numbers.
inline std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ';')) out.push_back(std::strtod(part.c_str(), nullptr));
  return out;
}

// Relative closeness, for references computed in another program: |a - b| <= tolerance * max(|b|, tiny).
inline ::testing::AssertionResult near_relative(double actual, double expected, double tolerance = 1e-9,
                                                double absolute = 1e-15) {
  if (std::isnan(actual) && std::isnan(expected)) return ::testing::AssertionSuccess();
  if (std::fabs(actual - expected) <= std::max(tolerance * std::fabs(expected), absolute))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << actual << " is not " << expected << " (within " << tolerance << ")";
}

}  // namespace armor::testing
