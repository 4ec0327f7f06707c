#pragma once
// ResultTable: what an `armor db` subcommand prints, as typed cells, and how it prints them:
// aligned with a rule for a terminal, tab-separated when piped, or CSV / JSON / Markdown on request.

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace armor::app {

// A typed value: none (NULL), boolean, integer, float, text.
using Cell = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

// Numbers before text, numbers by value, text alphabetically; NULL first.
bool cell_less(const Cell& a, const Cell& b);
struct CellLess {
  bool operator()(const Cell& a, const Cell& b) const { return cell_less(a, b); }
};

// A cell as a person reads it: floats in their shortest exact form (compact: at most 8 significant
// digits, which keeps accuracies over up to 10^8 images exact), NULL as "".
std::string cell_text(const Cell& cell, bool compact = false);

// auto: table on a terminal, plain (tab-separated) when stdout is piped. markdown: a pipe table
// (numbers right-aligned, marks and notes kept), to paste into a page or an issue.
enum class OutputFormat { automatic, table, plain, csv, json, markdown };
OutputFormat output_format_from_string(const std::string& text);  // UsageError on an unknown name

struct ResultTable {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
  // (row, column) of the cells that table and plain output print with a mark, "0.412!" (a metric
  // flagged by an attack-validity check), and the legend printed under the table when one is
  // marked (on stderr for plain output, which scripts read). CSV and JSON print the values alone.
  std::set<std::pair<std::size_t, std::size_t>> marked;
  std::string legend;
  // Printed under table and plain output whatever is marked (on stderr for plain): what the cells
  // are ("mean [95 % CI] n=N: ..."). CSV and JSON leave it out.
  std::string note;
};

// The mark of a flagged metric and the legend that explains it.
inline constexpr const char* kFlagMark = "!";
std::string flag_legend();

// A titled table, for subcommands that print several (`db show`).
using Section = std::pair<std::string, ResultTable>;

void print_table(const ResultTable& table, OutputFormat format, std::FILE* out = stdout);
// table/plain: each section under its title; markdown: each under its title in bold; csv: "# title"
// lines between blocks; json: one object whose members are the titles.
void print_sections(const std::vector<Section>& sections, OutputFormat format, std::FILE* out = stdout);

}  // namespace armor::app
