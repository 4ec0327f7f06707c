#include "armor/report/sweep_report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/query/curve_query.h"
#include "armor/query/effects_query.h"
#include "armor/query/metric_flags.h"
#include "armor/query/pareto_query.h"
#include "armor/query/pivot.h"
#include "armor/query/run_values.h"
#include "armor/report/charts.h"
#include "armor/store/run_store.h"

namespace armor::app {
namespace {

// Epoch metrics that are bookkeeping rather than learning curves.
const std::set<std::string> kNotCurves{"lr", "seconds", "images_per_second", "stopped_early"};

constexpr const char* kStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1800px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.note { color: #666; font-size: 13px; }
p.warning, td.flagged, span.flag { color: #b00020; }
td.flagged { background: #fde8ec; font-weight: bold; }
span.flag { font-size: 11px; font-weight: normal; display: block; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; white-space: pre-wrap; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; }
.charts svg { width: 100%; height: auto; border: 1px solid #eee; }
h4 { font-size: 14px; margin: 10px 0 4px; color: #444; }
.status-finished { color: #2e7d32; } .status-failed, .status-diverged, .status-interrupted { color: #c62828; }
)";

std::string html(const std::string& text) { return xml_escaped(text); }

// "chart-" + the parts, with anything but letters, digits, '-' and '_' as '-': a valid id and CSS name.
std::string chart_id(const std::vector<std::string>& parts) {
  std::string id = "chart";
  for (const std::string& part : parts) {
    id += '-';
    for (const char c : part) id += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ? c : '-';
  }
  return id;
}

// Every final metric among `runs`: clean_acc first, the attacks after it in name order.
std::vector<std::string> metric_names(const std::vector<RunSummary>& runs) {
  std::set<std::string> keys;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.metrics) keys.insert(entry.first);
  }
  std::vector<std::string> names(keys.begin(), keys.end());
  std::stable_partition(names.begin(), names.end(), [](const std::string& name) { return name == "clean_acc"; });
  return names;
}

// The two params a heat map and a pivot table spread over: num_experts × k when both vary,
// otherwise the first two that vary.
std::pair<std::string, std::string> grid_params(const std::vector<std::string>& varying) {
  const auto has = [&](const std::string& key) {
    return std::find(varying.begin(), varying.end(), key) != varying.end();
  };
  if (has("model.num_experts") && has("model.k")) return {"model.num_experts", "model.k"};
  return {!varying.empty() ? varying[0] : "", varying.size() > 1 ? varying[1] : ""};
}

// "model.k" -> "k": the last part of each key, where that names one key only (legends stay short).
std::map<std::string, std::string> short_names(const std::vector<std::string>& keys) {
  std::map<std::string, int> uses;
  const auto last_part = [](const std::string& key) { return key.substr(key.rfind('.') + 1); };
  for (const std::string& key : keys) ++uses[last_part(key)];
  std::map<std::string, std::string> names;
  for (const std::string& key : keys) names[key] = uses[last_part(key)] == 1 ? last_part(key) : key;
  return names;
}

// "run 3: num_experts=4, k=2": a run by the values it was swept over.
std::string run_label(const RunSummary& run, const std::map<std::string, std::string>& varying) {
  std::vector<std::string> values;
  for (const auto& [key, name] : varying) values.push_back(name + "=" + cell_text(value_of(run, key)));
  return "run " + std::to_string(run.run.id) + (values.empty() ? "" : ": " + join(values, ", "));
}

// (row, column) -> why the cell's metric is flagged by an attack-validity check.
using CellFlags = std::map<std::pair<std::size_t, std::size_t>, std::string>;

// Orders (row key, column key) pairs of a pivot.
struct CellKeyPairLess {
  bool operator()(const std::pair<CellKey, CellKey>& a, const std::pair<CellKey, CellKey>& b) const {
    const CellKeyLess less;
    if (less(a.first, b.first)) return true;
    if (less(b.first, a.first)) return false;
    return less(a.second, b.second);
  }
};

std::string table_html(const std::vector<std::string>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::string& css_class, const CellFlags& flags = {}) {
  std::string out = "<table class=\"" + css_class + "\">\n<tr>";
  for (const std::string& name : header) out += "<th>" + html(name) + "</th>";
  out += "</tr>\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out += "<tr>";
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const Cell& cell = rows[r][c];
      const bool text = std::holds_alternative<std::string>(cell);
      const auto flag = flags.find({r, c});
      out += flag != flags.end() ? "<td class=\"flagged\" title=\"" + html(flag->second) + "\">"
             : text              ? "<td class=\"text\">"
                                 : "<td>";
      out +=
          html(std::holds_alternative<double>(cell) ? fmt::format("{:.4g}", std::get<double>(cell)) : cell_text(cell));
      if (flag != flags.end()) out += " <span class=\"flag\">&#9888; " + html(flag->second) + "</span>";
      out += "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

class SweepReport {
 public:
  SweepReport(const ResultsReader& store, std::int64_t sweep_id) : store_(store), sweep_(store.sweep(sweep_id)) {
    RunFilter filter;
    filter.sweep_id = sweep_id;
    runs_ = store.find_runs(filter);
    varying_ = varying_params(runs_);
    short_names_ = short_names(varying_);
    metrics_ = metric_names(runs_);
  }

  std::string html_page() const {
    const std::string title = fmt::format("armor sweep {}{}", sweep_.id, sweep_.name.empty() ? "" : ": " + sweep_.name);
    std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html(title) +
                       "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
    page += "<h1>" + html(title) + "</h1>\n";
    page += overview() + config_section() + runs_section() + pivot_section() + effects_section() + scatter_section() +
            pareto_section() + lines_section() + parallel_section() + heat_map_section() + robustness_section() +
            curves_section() + experts_section();
    return page + "</body>\n</html>\n";
  }

 private:
  std::string overview() const {
    std::map<std::string, int> by_status;
    for (const RunSummary& run : runs_) ++by_status[to_string(run.run.status)];
    std::vector<std::string> counts;
    for (const auto& [status, count] : by_status) counts.push_back(fmt::format("{} {}", count, status));
    return fmt::format("<p class=\"note\">experiment {} · created {} · status {} · {} runs ({})</p>\n",
                       html(sweep_.experiment), html(sweep_.created_at), html(sweep_.status), runs_.size(),
                       html(join(counts, ", ")));
  }

  std::string config_section() const {
    std::string out = "<h2 id=\"config\">Config</h2>\n<h3>Sweep</h3>\n<pre>" + html(sweep_.spec) + "</pre>\n";
    if (!varying_.empty()) {
      std::vector<std::vector<Cell>> rows;
      for (const std::string& key : varying_) {
        std::set<Cell, CellLess> values;
        for (const RunSummary& run : runs_) values.insert(value_of(run, key));
        std::vector<std::string> texts;
        for (const Cell& value : values) texts.push_back(cell_text(value));
        rows.push_back({Cell{key}, Cell{join(texts, ", ")}});
      }
      out += "<h3>Swept params</h3>\n" + table_html({"param", "values"}, rows, "varying");
    }
    if (!runs_.empty()) {
      out += "<details><summary>Resolved config of run " + std::to_string(runs_.front().run.id) +
             " (the others differ in the swept params)</summary>\n<pre>" + html(runs_.front().run.config) +
             "</pre></details>\n";
    }
    return out;
  }

  std::string runs_section() const {
    std::vector<std::string> header{"run", "status"};
    header.insert(header.end(), varying_.begin(), varying_.end());
    header.insert(header.end(), metrics_.begin(), metrics_.end());
    header.emplace_back("error");
    std::vector<std::vector<Cell>> rows;
    CellFlags flags;
    const MetricFlags metric_flags(store_);
    for (const RunSummary& run : runs_) {
      const std::string status = to_string(run.run.status);
      std::vector<Cell> row{Cell{run.run.id}, Cell{status}};
      for (const std::string& key : varying_) row.push_back(value_of(run, key));
      for (const std::string& metric : metrics_) {
        const std::string why = metric_flags.detail(run.run.id, metric);
        if (!why.empty()) flags[{rows.size(), row.size()}] = why;
        const auto found = run.metrics.find(metric);
        if (found == run.metrics.end()) {
          row.emplace_back();
        } else {
          row.emplace_back(found->second);
        }
      }
      row.push_back(value_of(run, "error"));
      rows.push_back(std::move(row));
    }
    std::string out = "<h2 id=\"runs\">Runs</h2>\n";
    if (!flags.empty()) {
      out += "<p class=\"warning\">&#9888; " + std::to_string(flags.size()) +
             " robust accuracies are flagged by an attack-validity check (marked below, with why): they may be "
             "inflated by gradient masking or an evaluation defect, not robustness. See armor db show RUN and "
             "README \"Attack-validity checks\".</p>\n";
    }
    return out + table_html(header, rows, "runs", flags);
  }

  // The swept params besides the pivot's rows and columns: each value of them gets its own table
  // (a facet), so that a cell averages over seeds only.
  std::vector<std::string> facet_keys(const std::string& rows_key, const std::string& cols_key) const {
    std::vector<std::string> keys;
    for (const std::string& key : varying_) {
      if (key != rows_key && key != cols_key) keys.push_back(key);
    }
    return keys;
  }

  std::string pivot_section() const {
    const auto [rows_key, cols_key] = grid_params(varying_);
    std::string out = "<h2 id=\"pivots\">Pivot tables</h2>\n";
    if (rows_key.empty() || metrics_.empty()) return out + "<p class=\"note\">No swept param or no metric.</p>\n";
    const std::vector<std::string> facets = facet_keys(rows_key, cols_key);
    out +=
        "<p class=\"note\">Mean over the runs sharing a cell, which differ only in their seed; when there are "
        "several, mean ± the half-width of its 95 % confidence interval (Student's t) and their number n." +
        (facets.empty() ? std::string()
                        : " One table per value of " + html(join(facets, ", ")) +
                              ", so that no cell averages over another swept param.") +
        "</p>\n";
    const MetricFlags metric_flags(store_);
    const std::vector<std::string> row_names{rows_key};
    const std::vector<std::string> col_names =
        cols_key.empty() ? std::vector<std::string>{} : std::vector<std::string>{cols_key};
    for (const std::string& metric : metrics_) {
      out += "<h3>" + html(metric) + "</h3>\n";
      for (const Facet& facet : facets_of(runs_, facets)) {
        const Pivot pivot = pivot_of(facet.runs, row_names, col_names, metric);
        if (pivot.row_values.empty()) continue;
        // A cell is flagged when a run it averages over is: "run 3: <why>" for each such run.
        std::map<std::pair<CellKey, CellKey>, std::string, CellKeyPairLess> why_by_cell;
        for (const RunSummary& run : facet.runs) {
          if (run.metrics.count(metric) == 0) continue;
          const std::string why = metric_flags.detail(run.run.id, metric);
          if (why.empty()) continue;
          std::string& text = why_by_cell[{key_of(run, row_names), key_of(run, col_names)}];
          text += (text.empty() ? "" : "; ") + fmt::format("run {}: {}", run.run.id, why);
        }
        CellFlags flags;
        std::vector<std::string> header{cols_key.empty() ? rows_key : rows_key + " \\ " + cols_key};
        for (const CellKey& col : pivot.col_values) header.push_back(cols_key.empty() ? metric : key_label(col));
        std::vector<std::vector<Cell>> rows;
        for (const CellKey& row : pivot.row_values) {
          std::vector<Cell> line{row.front()};
          for (const CellKey& col : pivot.col_values) {
            const auto why = why_by_cell.find({row, col});
            if (why != why_by_cell.end()) flags[{rows.size(), line.size()}] = why->second;
            const Summary summary = pivot.summary(row, col);
            line.push_back(summary.n == 0   ? Cell{}
                           : summary.n == 1 ? Cell{summary.mean}
                                            : Cell{fmt::format("{:.4f} ± {:.4f} (n={})", summary.mean,
                                                               summary.ci_high - summary.mean, summary.n)});
          }
          rows.push_back(std::move(line));
        }
        if (!facets.empty()) out += "<h4>" + html(facet.title) + "</h4>\n";
        out += table_html(header, rows, "pivot", flags);
      }
    }
    return out;
  }

  // How much each swept param (and pair) explains of each metric: armor db effects, per metric.
  std::string effects_section() const {
    std::string out = "<h2 id=\"effects\">Effects</h2>\n";
    if (varying_.empty() || metrics_.empty()) return out + "<p class=\"note\">No swept param or no metric.</p>\n";
    out +=
        "<p class=\"note\">How much of each metric's variance across the sweep each swept param, and each "
        "group of them, explains (share = SS / total SS); on a full grid with seeds an exact ANOVA with "
        "F-tests against the seeds' variance (armor db effects).</p>\n";
    for (const std::string& metric : metrics_) {
      ResultTable table = effects_table(runs_, metric);
      if (table.rows.empty()) continue;
      std::vector<std::string> header(table.columns.begin() + 1, table.columns.end());
      std::vector<std::vector<Cell>> rows;
      for (const auto& row : table.rows) rows.emplace_back(row.begin() + 1, row.end());
      out += "<h3>" + html(metric) + "</h3>\n" + table_html(header, rows, "effects") + "<p class=\"note\">" +
             html(table.note) + "</p>\n";
    }
    return out;
  }

  // The first robust metric, the one the Pareto chart and the parallel coordinates colour by.
  std::string robust_metric() const {
    for (const std::string& metric : metrics_) {
      if (is_robust_metric(metric)) return metric;
    }
    return metrics_.empty() ? "" : metrics_.back();
  }

  bool has_training_time() const {
    for (const RunSummary& run : runs_) {
      for (const EpochMetric& point : store_.epoch_metrics(run.run.id)) {
        if (point.key == "seconds") return true;
      }
    }
    return false;
  }

  // The runs that no other beats on clean and robust accuracy (and training time, in the table).
  std::string pareto_section() const {
    std::string out = "<h2 id=\"pareto\">Pareto front</h2>\n";
    const std::string robust = robust_metric();
    if (robust.empty() || robust == "clean_acc" ||
        std::find(metrics_.begin(), metrics_.end(), "clean_acc") == metrics_.end()) {
      return out + "<p class=\"note\">The Pareto front needs clean_acc and a robust accuracy.</p>\n";
    }
    std::vector<ParetoObjective> objectives{{"clean_acc", true}, {robust, true}};
    const std::vector<std::vector<double>> points = objective_values(store_, runs_, objectives);
    const std::vector<std::size_t> front = pareto_front(points, {true, true});
    LineChart chart = pareto_chart(points, front, "clean_acc", robust);
    chart.id = chart_id({"pareto"});
    out +=
        "<p class=\"note\">A run is on the front when no other run is at least as good on both and better on "
        "one (armor db plot pareto --metrics clean_acc," +
        html(robust) + "). The table weighs " + (has_training_time() ? "training time too" : "the same two") +
        " (armor db pareto).</p>\n";
    out += "<div class=\"charts\">\n" + render_svg(chart) + "</div>\n";
    if (has_training_time()) objectives.push_back({"train_seconds", false});
    ParetoQuery query;
    query.filter.sweep_id = sweep_.id;
    query.objectives = objectives;
    const ResultTable table = pareto_runs(store_, query);
    out += "<h3>Not dominated on " + html(objectives_text(objectives)) + "</h3>\n" +
           table_html(table.columns, table.rows, "pareto") + "<p class=\"note\">" + html(table.note) + "</p>\n";
    return out;
  }

  // Every run as a line through its swept params and its metrics.
  std::string parallel_section() const {
    std::string out = "<h2 id=\"parallel\">Params and metrics of every run</h2>\n";
    if (varying_.empty() || metrics_.empty()) return out + "<p class=\"note\">No swept param or no metric.</p>\n";
    ParallelCoordinates chart;
    chart.id = chart_id({"parallel"});
    chart.title = "parallel coordinates: swept params, then metrics";
    std::vector<const RunSummary*> shown;
    for (const RunSummary& run : runs_) {
      if (!run.metrics.empty()) shown.push_back(&run);
    }
    for (const std::string& key : varying_) {
      ParallelAxis axis;
      axis.name = key;
      std::set<Cell, CellLess> distinct;
      for (const RunSummary* run : shown) distinct.insert(value_of(*run, key));
      const bool numeric = std::all_of(distinct.begin(), distinct.end(), [](const Cell& c) { return is_numeric(c); });
      const std::vector<Cell> levels(distinct.begin(), distinct.end());
      if (!numeric) {
        for (const Cell& level : levels) axis.categories.push_back(cell_text(level));
      }
      for (const RunSummary* run : shown) {
        const Cell value = value_of(*run, key);
        if (numeric) {
          axis.values.push_back(std::holds_alternative<std::monostate>(value) ? std::nan("") : number_of(value));
        } else {
          const auto at = std::find_if(levels.begin(), levels.end(), [&](const Cell& level) {
            return !cell_less(level, value) && !cell_less(value, level);
          });
          axis.values.push_back(static_cast<double>(at - levels.begin()));
        }
      }
      chart.axes.push_back(std::move(axis));
    }
    const std::string robust = robust_metric();
    for (const std::string& metric : metrics_) {
      ParallelAxis axis;
      axis.name = metric;
      for (const RunSummary* run : shown) {
        const auto found = run->metrics.find(metric);
        axis.values.push_back(found == run->metrics.end() ? std::nan("") : found->second);
      }
      if (metric == robust) chart.colour_by = chart.axes.size();
      chart.axes.push_back(std::move(axis));
    }
    for (const RunSummary* run : shown) chart.line_names.push_back(run_label(*run, short_names_));
    return out + "<div class=\"charts\">\n" + render_svg(chart) + "</div>\n";
  }

  // Clean accuracy against each robust accuracy, one point per run.
  std::string scatter_section() const {
    std::string out = "<h2 id=\"scatter\">Accuracy against robustness</h2>\n";
    LineChart chart;
    chart.id = chart_id({"scatter"});
    chart.title = "robust accuracy vs clean accuracy (one point per run)";
    chart.x_label = "clean_acc";
    chart.y_label = "robust accuracy";
    chart.connect_points = false;
    for (const std::string& metric : metrics_) {
      if (metric == "clean_acc") continue;
      LineSeries series;
      series.name = metric;
      for (const RunSummary& run : runs_) {
        const auto clean = run.metrics.find("clean_acc");
        const auto robust = run.metrics.find(metric);
        if (clean == run.metrics.end() || robust == run.metrics.end()) continue;
        series.x.push_back(clean->second);
        series.y.push_back(robust->second);
      }
      if (!series.x.empty()) chart.series.push_back(std::move(series));
    }
    if (chart.series.empty()) return out + "<p class=\"note\">No run has clean_acc and a robust accuracy.</p>\n";
    return out + "<div class=\"charts\">\n" + render_svg(chart) + "</div>\n";
  }

  // Each metric against each swept param, one line per value of the other swept params.
  std::string lines_section() const {
    std::string out = "<h2 id=\"lines\">Metrics against params</h2>\n";
    if (varying_.empty() || metrics_.empty()) return out + "<p class=\"note\">No swept param or no metric.</p>\n";
    out += "<p class=\"note\">Mean over repeats (seeds); error bars: its 95 % confidence interval (Student's t).</p>\n";
    for (const std::string& x : varying_) {
      std::vector<std::string> lines;
      for (const std::string& key : varying_) {
        if (key != x) lines.push_back(key);
      }
      out += "<h3>against " + html(x) + "</h3>\n<div class=\"charts\">\n";
      for (const std::string& metric : metrics_) {
        LineChart chart = metric_vs_param_chart(runs_, x, metric, lines);
        chart.id = chart_id({"lines", metric, "vs", x});
        out += render_svg(chart);
      }
      out += "</div>\n";
    }
    return out;
  }

  std::string heat_map_section() const {
    const auto [rows_key, cols_key] = grid_params(varying_);
    std::string out = "<h2 id=\"heatmaps\">Heat maps</h2>\n";
    if (cols_key.empty() || metrics_.empty()) return out + "<p class=\"note\">Heat maps need two swept params.</p>\n";
    const std::vector<std::string> facets = facet_keys(rows_key, cols_key);
    out += "<p class=\"note\">Each cell: the mean over seeds ± the half-width of its 95 % confidence interval (n)." +
           (facets.empty() ? std::string() : " One map per value of " + html(join(facets, ", ")) + ".") +
           "</p>\n<div class=\"charts\">\n";
    for (const std::string& metric : metrics_) {
      for (const Facet& facet : facets_of(runs_, facets)) {
        HeatMap map = pivot_heat_map(
            pivot_of(facet.runs, rows_key, cols_key, metric), rows_key, cols_key,
            metric + " by " + rows_key + " and " + cols_key + (facets.empty() ? "" : " (" + facet.title + ")"));
        if (map.rows.empty()) continue;
        std::vector<std::string> id{"heatmap", metric};
        for (const Cell& value : facet.values) id.push_back(cell_text(value));
        map.id = chart_id(id);
        out += render_svg(map);
      }
    }
    return out + "</div>\n";
  }

  // Accuracy against eps, one chart per laddered attack (eval.curve), one step line per run.
  std::string robustness_section() const {
    std::vector<std::string> metrics;
    std::map<std::string, std::vector<LineSeries>> series_by_metric;
    for (const RunSummary& run : runs_) {
      for (const RobustnessCurve& curve : store_.robustness_curves(run.run.id)) {
        if (std::find(metrics.begin(), metrics.end(), curve.metric) == metrics.end()) metrics.push_back(curve.metric);
        LineSeries line;
        line.name = run_label(run, short_names_);
        // A step function: each accuracy holds until the next eps where images break.
        for (const auto& [eps, accuracy] : curve_accuracy(curve)) {
          if (!line.x.empty()) {
            line.x.push_back(eps);
            line.y.push_back(line.y.back());
          }
          line.x.push_back(eps);
          line.y.push_back(accuracy);
        }
        series_by_metric[curve.metric].push_back(std::move(line));
      }
    }
    if (metrics.empty()) return "";
    std::string out = "<h2 id=\"robustness\">Robustness curves</h2>\n";
    out +=
        "<p class=\"note\">Accuracy against eps from each run's stored eps ladder (eval.curve): the share of "
        "test images no rung up to eps broke.</p>\n<div class=\"charts\">\n";
    for (const std::string& metric : metrics) {
      LineChart chart;
      chart.id = chart_id({"robustness", metric});
      chart.title = "accuracy against eps, " + metric;
      chart.x_label = "eps";
      chart.y_label = "accuracy";
      chart.series = std::move(series_by_metric[metric]);
      out += render_svg(chart);
    }
    return out + "</div>\n";
  }

  // One chart per epoch metric, one line per run.
  std::string curves_section() const {
    std::vector<std::string> keys;
    std::map<std::string, std::vector<LineSeries>> series_by_key;
    for (const RunSummary& run : runs_) {
      std::map<std::string, LineSeries> series;
      for (const EpochMetric& point : store_.epoch_metrics(run.run.id)) {
        if (kNotCurves.count(point.key) != 0) continue;
        if (std::find(keys.begin(), keys.end(), point.key) == keys.end()) keys.push_back(point.key);
        LineSeries& line = series[point.key];
        line.name = run_label(run, short_names_);
        line.x.push_back(point.epoch);
        line.y.push_back(point.value);
      }
      for (auto& [key, line] : series) series_by_key[key].push_back(std::move(line));
    }
    std::string out = "<h2 id=\"curves\">Training curves</h2>\n";
    if (keys.empty()) return out + "<p class=\"note\">No run recorded epoch metrics.</p>\n";
    // train_loss and train_acc first, the others (balancing_loss, ...) after them.
    std::stable_partition(keys.begin(), keys.end(),
                          [](const std::string& k) { return k == "train_loss" || k == "train_acc"; });
    out += "<div class=\"charts\">\n";
    for (const std::string& key : keys) {
      LineChart chart;
      chart.id = chart_id({"curves", key});
      chart.title = key + " per epoch";
      chart.x_label = "epoch";
      chart.y_label = key;
      chart.series = std::move(series_by_key[key]);
      out += render_svg(chart);
    }
    return out + "</div>\n";
  }

  // Per MoE layer: the share of test routing slots each expert got, one row per run.
  std::string experts_section() const {
    std::vector<std::string> layers;
    std::map<std::string, std::map<std::int64_t, std::map<int, double>>> usage;  // layer -> run -> expert -> share
    for (const RunSummary& run : runs_) {
      for (const ExpertMetric& metric : store_.expert_metrics(run.run.id)) {
        if (metric.key != "usage_share" || metric.expert < 0) continue;
        if (std::find(layers.begin(), layers.end(), metric.layer) == layers.end()) layers.push_back(metric.layer);
        usage[metric.layer][run.run.id][metric.expert] = metric.value;
      }
    }
    std::string out = "<h2 id=\"experts\">Expert usage</h2>\n";
    if (layers.empty()) return out + "<p class=\"note\">No run recorded expert usage.</p>\n";
    out += "<p class=\"note\">Share of the test images' routing slots that went to each expert.</p>\n";
    out += "<div class=\"charts\">\n";
    for (const std::string& layer : layers) {
      int experts = 0;
      for (const auto& [run_id, shares] : usage[layer]) experts = std::max(experts, shares.rbegin()->first + 1);
      HeatMap map;
      map.id = chart_id({"experts", layer});
      map.title = "usage share per expert, " + layer;
      map.row_label = "run";
      map.col_label = "expert";
      for (int expert = 0; expert < experts; ++expert) map.cols.push_back(std::to_string(expert));
      for (const RunSummary& run : runs_) {
        const auto found = usage[layer].find(run.run.id);
        if (found == usage[layer].end()) continue;
        map.rows.push_back(run_label(run, short_names_));
        std::vector<double> values;
        std::vector<std::string> labels;
        for (int expert = 0; expert < experts; ++expert) {
          const auto share = found->second.find(expert);
          values.push_back(share == found->second.end() ? std::nan("") : share->second);
          labels.push_back(share == found->second.end() ? "" : fmt::format("{:.2f}", share->second));
        }
        map.values.push_back(std::move(values));
        map.labels.push_back(std::move(labels));
      }
      out += render_svg(map);
    }
    return out + "</div>\n";
  }

  const ResultsReader& store_;
  SweepRecord sweep_;
  std::vector<RunSummary> runs_;
  std::vector<std::string> varying_;
  std::map<std::string, std::string> short_names_;  // varying param -> its name in legends
  std::vector<std::string> metrics_;
};

}  // namespace

std::string sweep_report_html(const ResultsReader& store, std::int64_t sweep_id) {
  return SweepReport(store, sweep_id).html_page();
}

}  // namespace armor::app
