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

// Every chart is kWidth wide (its viewBox), so that a page that shows it at a column's width scales
// all of them alike; the legend goes under the plot, in as many columns as fit. Text is kFont px of
// the viewBox (titles kTitleFont): at a 660 px column (two per row in a 1 400 px window) that is
// 12.8 px on screen.
constexpr double kWidth = 720;
constexpr double kLeft = 88;
constexpr double kRight = 24;
constexpr double kTop = 50;
constexpr double kPlotHeight = 330;
constexpr double kAxisBelow = 62;  // tick labels and the x label under the plot
constexpr double kLegendRow = 22;
constexpr double kFont = 14;
constexpr double kTitleFont = 17;
constexpr double kCharWidth = 7.8;  // of the 14 px sans-serif, on average: sizes what holds labels

// Tableau's ten colours: distinct, and readable by most colour-blind readers.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string header(double width, double height, const std::string& id) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\"{2} width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{3}\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, id.empty() ? std::string() : " id=\"" + xml_escaped(id) + "\"", kFont);
}

std::string text(double x, double y, const std::string& content, const char* anchor = "middle",
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\"{}>{}</text>\n", x, y, anchor, extra,
                     xml_escaped(content));
}

// Round tick positions covering [low, high]: steps of 1, 2 or 5 times a power of ten; whole numbers
// only when `integer` (a param such as model.k has no 1.5).
std::vector<double> ticks(double low, double high, bool integer = false) {
  const double span = high - low;
  const double raw = span / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  if (integer) step = std::max(1.0, std::round(step));
  // Counted in whole steps (a float counter would drift): first = the first multiple of step >= low.
  std::vector<double> out;
  const double first = std::ceil(low / step);
  for (int i = 0; (first + i) * step <= high + step * 1e-9; ++i) {
    const double tick = (first + i) * step;
    out.push_back(std::abs(tick) < step * 1e-9 ? 0 : tick);
  }
  return out;
}

bool all_integral(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double value) {
    return !std::isfinite(value) || (value == std::round(value) && std::fabs(value) < 1e9);
  });
}

// Legend entries under the plot from `top`: (x, y) of each entry's marker, in columns as wide as the
// longest name.
std::vector<std::pair<double, double>> legend_places(const std::vector<std::string>& names, double top) {
  std::size_t longest = 0;
  for (const std::string& name : names) longest = std::max(longest, name.size());
  const double column = 36 + kCharWidth * static_cast<double>(longest);
  const auto columns = static_cast<std::size_t>(std::max(1.0, std::floor((kWidth - kLeft) / column)));
  std::vector<std::pair<double, double>> places;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::size_t row = i / columns;  // whole rows
    places.emplace_back(kLeft + column * static_cast<double>(i % columns), top + kLegendRow * static_cast<double>(row));
  }
  return places;
}

double legend_height(const std::vector<std::pair<double, double>>& places, double top) {
  return places.empty() ? 0 : places.back().second - top + kLegendRow;
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
  const double plot_width = kWidth - kLeft - kRight;
  const auto px = [&](double x) { return kLeft + (x - x_low) / (x_high - x_low) * plot_width; };
  const auto py = [&](double y) { return kTop + (1 - (y - y_low) / (y_high - y_low)) * kPlotHeight; };
  std::vector<std::string> names;
  for (const LineSeries& series : chart.series) names.push_back(series.name);
  const double legend_top = kTop + kPlotHeight + kAxisBelow + 8;
  const auto places = legend_places(names, legend_top);
  const double height = legend_top + legend_height(places, legend_top) + 8;

  std::string svg = header(kWidth, height, chart.id);
  svg += text(kWidth / 2, 28, chart.title, "middle", fmt::format(" font-size=\"{}\"", kTitleFont));
  // Grid and ticks.
  for (const double tick : ticks(y_low, y_high)) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n", kLeft,
                       py(tick), kLeft + plot_width, py(tick));
    svg += text(kLeft - 6, py(tick) + 5, fmt::format("{:g}", tick), "end");
  }
  if (chart.x_categories.empty()) {
    for (const double tick : ticks(x_low, x_high, all_integral(xs))) {
      svg += text(px(tick), kTop + kPlotHeight + 20, fmt::format("{:g}", tick));
    }
  } else {
    for (std::size_t i = 0; i < chart.x_categories.size(); ++i) {
      svg += text(px(static_cast<double>(i)), kTop + kPlotHeight + 20, chart.x_categories[i]);
    }
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft,
                     kTop, plot_width, kPlotHeight);
  svg += text(kLeft + plot_width / 2, kTop + kPlotHeight + 48, chart.x_label);
  svg += text(22, kTop + kPlotHeight / 2, chart.y_label, "middle",
              fmt::format(" transform=\"rotate(-90 22 {:.1f})\"", kTop + kPlotHeight / 2));

  // Series with error bars are moved apart a little along x (dodged), so that their bars at the same
  // x stay readable; the axis keeps its scale.
  std::size_t with_errors = 0;
  for (const LineSeries& series : chart.series) {
    with_errors += std::any_of(series.error.begin(), series.error.end(), [](double e) { return e > 0; }) ? 1 : 0;
  }
  const double dodge = with_errors > 1 ? std::min(6.0, 40.0 / static_cast<double>(chart.series.size())) : 0;
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const LineSeries& series = chart.series[s];
    const std::string colour = series.colour.empty() ? kPalette[s % std::size(kPalette)] : series.colour;
    const bool line = chart.connect_points && !series.markers_only;
    const double shift = dodge * (static_cast<double>(s) - static_cast<double>(chart.series.size() - 1) / 2);
    const auto sx = [&](double x) { return px(x) + shift; };
    std::string points;
    for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (!std::isfinite(series.y[i])) continue;
      points += fmt::format("{:.1f},{:.1f} ", sx(series.x[i]), py(series.y[i]));
      const double error = i < series.error.size() ? series.error[i] : 0;
      if (error > 0) {
        // An error bar with caps: the interval the series gives (a 95 % confidence interval in armor's charts).
        svg += fmt::format(
            "<path class=\"error-bar\" d=\"M{0:.1f},{1:.1f}V{2:.1f}M{3:.1f},{1:.1f}H{4:.1f}M{3:.1f},{2:.1f}H{4:.1f}\" "
            "stroke=\"{5}\" stroke-width=\"1.5\" fill=\"none\"/>\n",
            sx(series.x[i]), py(series.y[i] - error), py(series.y[i] + error), sx(series.x[i]) - 5, sx(series.x[i]) + 5,
            colour);
      }
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", sx(series.x[i]),
                         py(series.y[i]), line ? 3.5 : 5, colour);
    }
    const auto [legend_x, legend_y] = places[s];
    if (line) {
      svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, colour);
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"2\"/>\n",
          legend_x, legend_y, legend_x + 22, colour);
    } else {
      svg +=
          fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>\n", legend_x + 11, legend_y, colour);
    }
    svg += text(legend_x + 28, legend_y + 5, series.name, "start");
  }
  return svg + "</svg>\n";
}

std::string render_svg(const HeatMap& map) {
  std::size_t longest_row = 0;
  for (const std::string& row : map.rows) longest_row = std::max(longest_row, row.size());
  const double left =
      std::max(120.0, 24 + kCharWidth * static_cast<double>(std::max(longest_row, map.row_label.size())));
  // The cells share what is left of kWidth (wider when there are many columns), as tall as a label needs.
  const double cell_width =
      std::max(70.0, (kWidth - left - 30) / static_cast<double>(std::max<std::size_t>(1, map.cols.size())));
  const double cell_height = std::max(34.0, 300.0 / static_cast<double>(std::max<std::size_t>(1, map.rows.size())));
  const double top = 88;
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
  svg += text(width / 2, 28, map.title, "middle", fmt::format(" font-size=\"{}\"", kTitleFont));
  svg += text(left + cell_width * static_cast<double>(map.cols.size()) / 2, 54, map.col_label);
  svg += text(left - 8, top - 10, map.row_label, "end");
  for (std::size_t c = 0; c < map.cols.size(); ++c) {
    svg += text(left + cell_width * (static_cast<double>(c) + 0.5), top - 10, map.cols[c]);
  }
  for (std::size_t r = 0; r < map.rows.size(); ++r) {
    const double y = top + cell_height * static_cast<double>(r);
    svg += text(left - 8, y + cell_height / 2 + 5, map.rows[r], "end");
    for (std::size_t c = 0; c < map.cols.size(); ++c) {
      const double x = left + cell_width * static_cast<double>(c);
      const double value = map.values[r][c];
      const double t = high > low ? (value - low) / (high - low) : 0.5;
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" stroke=\"white\"/>\n", x, y,
          cell_width, cell_height, std::isfinite(value) ? viridis(t) : "#eeeeee");
      const std::string& label = map.labels[r][c];
      svg += text(x + cell_width / 2, y + cell_height / 2 + 5, label, "middle",
                  std::isfinite(value) && t < 0.6 ? " fill=\"white\"" : "");
    }
  }
  return svg + "</svg>\n";
}

std::string render_svg(const ParallelCoordinates& chart) {
  const double left = 70;
  const double right = kWidth - 90;
  const double top = 96;
  const double bottom = top + 300;
  const std::size_t axes = chart.axes.size();
  const auto axis_x = [&](std::size_t a) {
    return axes < 2 ? (left + right) / 2
                    : left + (right - left) * static_cast<double>(a) / static_cast<double>(axes - 1);
  };
  // Each axis' range, and where a value sits on it.
  std::vector<std::pair<double, double>> ranges;
  for (const ParallelAxis& axis : chart.axes) {
    if (!axis.categories.empty()) {
      ranges.emplace_back(-0.5, static_cast<double>(axis.categories.size()) - 0.5);
    } else {
      ranges.push_back(range_of(axis.values));
    }
  }
  const auto axis_y = [&](std::size_t a, double value) {
    return bottom - (value - ranges[a].first) / (ranges[a].second - ranges[a].first) * (bottom - top);
  };
  const double height = bottom + 60;
  std::string svg = header(kWidth, height, chart.id);
  svg += text(kWidth / 2, 28, chart.title, "middle", fmt::format(" font-size=\"{}\"", kTitleFont));
  // Lines first, so that the axes and their labels stay on top.
  const std::size_t lines = axes == 0 ? 0 : chart.axes[0].values.size();
  double colour_low = 0, colour_high = 1;
  if (chart.colour_by < axes) std::tie(colour_low, colour_high) = range_of(chart.axes[chart.colour_by].values);
  for (std::size_t l = 0; l < lines; ++l) {
    std::string points;
    for (std::size_t a = 0; a < axes; ++a) {
      const double value = l < chart.axes[a].values.size() ? chart.axes[a].values[l] : std::nan("");
      if (std::isfinite(value)) points += fmt::format("{:.1f},{:.1f} ", axis_x(a), axis_y(a, value));
    }
    const double by = chart.colour_by < axes ? chart.axes[chart.colour_by].values[l] : std::nan("");
    const std::string colour =
        std::isfinite(by) ? viridis((by - colour_low) / (colour_high - colour_low)) : std::string("#999999");
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-opacity=\"0.8\">",
                       points, colour);
    if (l < chart.line_names.size()) svg += "<title>" + xml_escaped(chart.line_names[l]) + "</title>";
    svg += "</polyline>\n";
  }
  for (std::size_t a = 0; a < axes; ++a) {
    const ParallelAxis& axis = chart.axes[a];
    const double x = axis_x(a);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#333\" stroke-width=\"1.5\"/>\n", x, top,
        bottom);
    // Names alternate between two rows, so that long neighbours do not overlap.
    svg += text(x, a % 2 == 0 ? top - 34 : top - 14, axis.name);
    std::vector<std::pair<double, std::string>> labels;
    if (!axis.categories.empty()) {
      for (std::size_t c = 0; c < axis.categories.size(); ++c)
        labels.emplace_back(static_cast<double>(c), axis.categories[c]);
    } else {
      std::vector<double> distinct;
      for (const double value : axis.values) {
        if (std::isfinite(value) && std::find(distinct.begin(), distinct.end(), value) == distinct.end())
          distinct.push_back(value);
      }
      if (distinct.size() <= 6) {
        for (const double value : distinct) labels.emplace_back(value, fmt::format("{:g}", value));
      } else {
        for (const double tick : ticks(ranges[a].first, ranges[a].second, all_integral(axis.values)))
          labels.emplace_back(tick, fmt::format("{:g}", tick));
      }
    }
    for (const auto& [value, label] : labels) {
      const double y = axis_y(a, value);
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n", x - 4, y,
                         x, y);
      svg += text(x - 7, y + 5, label, "end",
                  " paint-order=\"stroke\" stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\"");
    }
  }
  if (chart.colour_by < axes) {
    svg += text(kWidth / 2, bottom + 40,
                "colour: " + chart.axes[chart.colour_by].name + " (dark: low, yellow: high); one line per run");
  }
  return svg + "</svg>\n";
}

}  // namespace armor::app
