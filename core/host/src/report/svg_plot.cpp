#include "armor/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include <fmt/format.h>

namespace armor::app {

std::string xml_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr double kPlotRight = 540;  // the plot area ends here; the legend starts
constexpr double kHeight = 480;
constexpr double kLeft = 80;
constexpr double kMinLegend = 180;
constexpr double kCharWidth = 6.5;  // of the 12 px sans-serif, on average: sizes the margins that hold labels
constexpr double kTop = 50;
constexpr double kBottom = 60;

// Tableau's ten colours: distinct, and readable by most colour-blind readers.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string header(double width, double height, const std::string& id) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\"{2} width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, id.empty() ? std::string() : " id=\"" + xml_escaped(id) + "\"");
}

std::string text(double x, double y, const std::string& content, const char* anchor = "middle",
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\"{}>{}</text>\n", x, y, anchor, extra,
                     xml_escaped(content));
}

// Round tick positions covering [low, high]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> ticks(double low, double high) {
  const double span = high - low;
  const double raw = span / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  // Counted in whole steps (a float counter would drift): first = the first multiple of step >= low.
  std::vector<double> out;
  const double first = std::ceil(low / step);
  for (int i = 0; (first + i) * step <= high + step * 1e-9; ++i) {
    const double tick = (first + i) * step;
    out.push_back(std::abs(tick) < step * 1e-9 ? 0 : tick);
  }
  return out;
}

// [low, high] of the finite values, widened when empty or flat.
std::pair<double, double> range_of(const std::vector<double>& values) {
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  for (const double value : values) {
    if (!std::isfinite(value)) continue;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  if (!std::isfinite(low)) return {0, 1};
  if (high - low < 1e-12) return {low - 0.5, high + 0.5};
  const double pad = (high - low) * 0.05;
  return {low - pad, high + pad};
}

// viridis at t in [0, 1], from five of its stops.
std::string viridis(double t) {
  static const double stops[][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(static_cast<int>(t), 3);
  const double f = t - i;
  const auto channel = [&](int c) { return static_cast<int>(stops[i][c] + f * (stops[i + 1][c] - stops[i][c])); };
  return fmt::format("#{:02x}{:02x}{:02x}", channel(0), channel(1), channel(2));
}

}  // namespace

std::string render_svg(const LineChart& chart) {
  std::vector<double> xs;
  std::vector<double> ys;
  for (const LineSeries& series : chart.series) {
    xs.insert(xs.end(), series.x.begin(), series.x.end());
    for (std::size_t i = 0; i < series.y.size(); ++i) {
      const double error = i < series.error.size() ? series.error[i] : 0;
      ys.push_back(series.y[i] - error);
      ys.push_back(series.y[i] + error);
    }
  }
  double x_low = 0, x_high = 0;  // plain variables: lambdas below capture them (structured bindings: C++20)
  std::tie(x_low, x_high) = range_of(xs);
  if (!chart.x_categories.empty()) {
    x_low = -0.5;
    x_high = static_cast<double>(chart.x_categories.size()) - 0.5;
  }
  double y_low = 0, y_high = 0;
  std::tie(y_low, y_high) = range_of(ys);
  // The legend is as wide as its longest name, so that no name is cut.
  std::size_t longest_name = 0;
  for (const LineSeries& series : chart.series) longest_name = std::max(longest_name, series.name.size());
  const double width = kPlotRight + std::max(kMinLegend, 50 + kCharWidth * static_cast<double>(longest_name));
  const double plot_width = kPlotRight - kLeft;
  const double plot_height = kHeight - kTop - kBottom;
  const auto px = [&](double x) { return kLeft + (x - x_low) / (x_high - x_low) * plot_width; };
  const auto py = [&](double y) { return kTop + (1 - (y - y_low) / (y_high - y_low)) * plot_height; };

  std::string svg = header(width, kHeight, chart.id);
  svg += text(kPlotRight / 2 + kLeft / 2, 25, chart.title, "middle", " font-size=\"15\"");
  // Grid and ticks.
  for (const double tick : ticks(y_low, y_high)) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n", kLeft,
                       py(tick), kLeft + plot_width, py(tick));
    svg += text(kLeft - 6, py(tick) + 4, fmt::format("{:g}", tick), "end");
  }
  if (chart.x_categories.empty()) {
    for (const double tick : ticks(x_low, x_high)) {
      svg += text(px(tick), kTop + plot_height + 18, fmt::format("{:g}", tick));
    }
  } else {
    for (std::size_t i = 0; i < chart.x_categories.size(); ++i) {
      svg += text(px(static_cast<double>(i)), kTop + plot_height + 18, chart.x_categories[i]);
    }
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft,
                     kTop, plot_width, plot_height);
  svg += text(kLeft + plot_width / 2, kHeight - 15, chart.x_label);
  svg += text(20, kTop + plot_height / 2, chart.y_label, "middle",
              fmt::format(" transform=\"rotate(-90 20 {:.1f})\"", kTop + plot_height / 2));

  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const LineSeries& series = chart.series[s];
    const char* colour = kPalette[s % std::size(kPalette)];
    std::string points;
    for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (!std::isfinite(series.y[i])) continue;
      points += fmt::format("{:.1f},{:.1f} ", px(series.x[i]), py(series.y[i]));
      const double error = i < series.error.size() ? series.error[i] : 0;
      if (error > 0) {
        svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\"/>\n",
                           px(series.x[i]), py(series.y[i] - error), py(series.y[i] + error), colour);
      }
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", px(series.x[i]),
                         py(series.y[i]), chart.connect_points ? 3 : 5, colour);
    }
    const double legend_y = kTop + 10 + 20 * static_cast<double>(s);
    if (chart.connect_points) {
      svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, colour);
      svg +=
          fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"2\"/>\n",
                      kPlotRight + 15, legend_y, kPlotRight + 35, colour);
    } else {
      svg += fmt::format("<circle cx=\"{}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>\n", kPlotRight + 25, legend_y, colour);
    }
    svg += text(kPlotRight + 40, legend_y + 4, series.name, "start");
  }
  return svg + "</svg>\n";
}

std::string render_svg(const HeatMap& map) {
  const double cell_width = std::max(60.0, 480.0 / std::max<std::size_t>(1, map.cols.size()));
  const double cell_height = std::max(30.0, 320.0 / std::max<std::size_t>(1, map.rows.size()));
  std::size_t longest_row = 0;
  for (const std::string& row : map.rows) longest_row = std::max(longest_row, row.size());
  const double left = std::max(120.0, 20 + kCharWidth * static_cast<double>(longest_row));
  const double top = 70;
  const double width = left + cell_width * static_cast<double>(map.cols.size()) + 40;
  const double height = top + cell_height * static_cast<double>(map.rows.size()) + 50;
  std::vector<double> all;
  for (const auto& row : map.values) all.insert(all.end(), row.begin(), row.end());
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  for (const double value : all) {
    if (std::isfinite(value)) {
      low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  std::string svg = header(width, height, map.id);
  svg += text(width / 2, 25, map.title, "middle", " font-size=\"15\"");
  svg += text(left + cell_width * static_cast<double>(map.cols.size()) / 2, 50, map.col_label);
  svg += text(15, top - 8, map.row_label, "start");
  for (std::size_t c = 0; c < map.cols.size(); ++c) {
    svg += text(left + cell_width * (static_cast<double>(c) + 0.5), top - 8, map.cols[c]);
  }
  for (std::size_t r = 0; r < map.rows.size(); ++r) {
    const double y = top + cell_height * static_cast<double>(r);
    svg += text(left - 8, y + cell_height / 2 + 4, map.rows[r], "end");
    for (std::size_t c = 0; c < map.cols.size(); ++c) {
      const double x = left + cell_width * static_cast<double>(c);
      const double value = map.values[r][c];
      const double t = high > low ? (value - low) / (high - low) : 0.5;
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" stroke=\"white\"/>\n", x, y,
          cell_width, cell_height, std::isfinite(value) ? viridis(t) : "#eeeeee");
      const std::string& label = map.labels[r][c];
      svg += text(x + cell_width / 2, y + cell_height / 2 + 4, label, "middle",
                  std::isfinite(value) && t < 0.6 ? " fill=\"white\"" : "");
    }
  }
  return svg + "</svg>\n";
}

}  // namespace armor::app
