#pragma once
// SVG charts for `armor db plot` and `armor report`: lines with error bars (or a scatter), and a heat map. Self-contained SVG 1.1 text
// that browsers, Inkscape and LaTeX (via svg/inkscape) open as it is.

#include <string>
#include <vector>

namespace armor::app {

struct LineSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  std::vector<double> error;  // half-height of an error bar per point (empty or 0: none)
  bool markers_only = false;  // no line even when the chart connects points
  std::string colour;         // "" = the palette's next
};

struct LineChart {
  std::string id;  // the <svg> element's id ("" = none), for pages that hold several charts
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<LineSeries> series;
  // When not empty, x values are indices into these labels (a param that is not numeric).
  std::vector<std::string> x_categories;
  bool connect_points = true;  // false: a scatter plot, markers only
};

struct HeatMap {
  std::string id;  // the <svg> element's id ("" = none)
  std::string title;
  std::string row_label;
  std::string col_label;
  std::vector<std::string> rows;
  std::vector<std::string> cols;
  std::vector<std::vector<double>> values;       // [row][col]; NaN: empty cell
  std::vector<std::vector<std::string>> labels;  // text written in each cell
};

// Parallel coordinates: one vertical axis per variable (params, then metrics), each scaled to its own
// range, and one line per item (a run) through its values, coloured by one axis (viridis: dark low,
// yellow high).
struct ParallelAxis {
  std::string name;
  std::vector<double> values;           // one per line (NaN: none)
  std::vector<std::string> categories;  // when not empty, values are indices into these
};
struct ParallelCoordinates {
  std::string id;  // the <svg> element's id ("" = none)
  std::string title;
  std::vector<ParallelAxis> axes;
  std::size_t colour_by = 0;            // the axis whose value colours a line
  std::vector<std::string> line_names;  // each line's tooltip (<title>)
};

std::string render_svg(const LineChart& chart);
std::string render_svg(const ParallelCoordinates& chart);
std::string render_svg(const HeatMap& map);

// Text safe inside XML and HTML elements and attribute values: & < > " escaped.
std::string xml_escaped(const std::string& text);

}  // namespace armor::app
