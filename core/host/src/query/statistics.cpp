#include "armor/query/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace armor::app {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Average ranks (1-based) of |values|, ties sharing the mean of their ranks (scipy's rankdata).
std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

// P(T ≥ |t|) · 2 under Student's t with df degrees of freedom.
double two_sided_t_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return 0;
  const boost::math::students_t distribution(df);
  return 2 * boost::math::cdf(boost::math::complement(distribution, std::fabs(t)));
}

std::size_t popcount(std::size_t bits) {
  std::size_t n = 0;
  for (; bits != 0; bits &= bits - 1) ++n;
  return n;
}

}  // namespace

double students_t_quantile(double p, double df) { return boost::math::quantile(boost::math::students_t(df), p); }

Summary summarize(const std::vector<double>& values, double level) {
  Summary summary;
  double sum = 0;
  for (const double value : values) {
    if (!std::isfinite(value)) continue;
    sum += value;
    ++summary.n;
  }
  if (summary.n == 0) return Summary{kNaN, kNaN, 0, kNaN, kNaN};
  summary.mean = sum / static_cast<double>(summary.n);
  if (summary.n < 2) {
    summary.sd = summary.ci_low = summary.ci_high = kNaN;
    return summary;
  }
  double squares = 0;
  for (const double value : values) {
    if (std::isfinite(value)) squares += (value - summary.mean) * (value - summary.mean);
  }
  const double n = static_cast<double>(summary.n);
  summary.sd = std::sqrt(squares / (n - 1));
  const double half = students_t_quantile((1 + level) / 2, n - 1) * summary.sd / std::sqrt(n);
  summary.ci_low = summary.mean - half;
  summary.ci_high = summary.mean + half;
  return summary;
}

WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& differences) {
  std::vector<double> d;
  bool zeros = false;
  for (const double value : differences) {
    if (!std::isfinite(value)) continue;
    if (value == 0) {
      zeros = true;
      continue;
    }
    d.push_back(value);
  }
  WilcoxonResult result;
  if (d.empty()) return WilcoxonResult{kNaN, kNaN, false};
  std::vector<double> magnitudes;
  for (const double value : d) magnitudes.push_back(std::fabs(value));
  const std::vector<double> ranks = average_ranks(magnitudes);
  double r_plus = 0;
  double r_minus = 0;
  for (std::size_t i = 0; i < d.size(); ++i) (d[i] > 0 ? r_plus : r_minus) += ranks[i];
  result.statistic = std::min(r_plus, r_minus);
  std::vector<double> sorted = magnitudes;
  std::sort(sorted.begin(), sorted.end());
  const bool ties = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  const std::size_t n = d.size();
  result.exact = n <= 50 && !zeros && !ties;
  if (result.exact) {
    // counts[s]: how many of the 2^n sign patterns give R+ = s.
    const std::size_t max_sum = n * (n + 1) / 2;
    std::vector<double> counts(max_sum + 1, 0);
    counts[0] = 1;
    for (std::size_t rank = 1; rank <= n; ++rank) {
      for (std::size_t s = max_sum; s >= rank; --s) counts[s] += counts[s - rank];
    }
    const double total = std::ldexp(1.0, static_cast<int>(n));
    const auto r = static_cast<std::size_t>(r_plus);
    if (r == max_sum / 2) {  // the centre of the distribution (scipy's rule)
      result.p_value = 1;
    } else {
      double less = 0;
      double greater = 0;
      for (std::size_t s = 0; s <= max_sum; ++s) {
        if (s <= r) less += counts[s];
        if (s >= r) greater += counts[s];
      }
      result.p_value = std::min(1.0, 2 * std::min(less, greater) / total);
    }
    return result;
  }
  const double count = static_cast<double>(n);
  const double mean = count * (count + 1) / 4;
  double variance = count * (count + 1) * (2 * count + 1);
  std::vector<double> sorted_ranks = ranks;
  std::sort(sorted_ranks.begin(), sorted_ranks.end());
  for (std::size_t i = 0; i < sorted_ranks.size();) {
    std::size_t j = i;
    while (j + 1 < sorted_ranks.size() && sorted_ranks[j + 1] == sorted_ranks[i]) ++j;
    const double tied = static_cast<double>(j - i + 1);
    if (tied > 1) variance -= 0.5 * tied * (tied * tied - 1);
    i = j + 1;
  }
  const double se = std::sqrt(variance / 24);
  const double z = (result.statistic - mean) / se;
  result.p_value = 2 * boost::math::cdf(boost::math::complement(boost::math::normal(), std::fabs(z)));
  return result;
}

PairedComparison paired_comparison(const std::vector<double>& a, const std::vector<double>& b, double level) {
  if (a.size() != b.size()) throw std::invalid_argument("paired_comparison: the two samples differ in size");
  std::vector<double> d;
  for (std::size_t i = 0; i < a.size(); ++i) d.push_back(b[i] - a[i]);
  PairedComparison out;
  out.difference = summarize(d, level);
  const double n = static_cast<double>(out.difference.n);
  if (out.difference.n < 2) {
    out.t = out.t_p_value = kNaN;
  } else if (out.difference.sd == 0) {
    out.t =
        out.difference.mean == 0 ? kNaN : std::copysign(std::numeric_limits<double>::infinity(), out.difference.mean);
    out.t_p_value = out.difference.mean == 0 ? kNaN : 0;
  } else {
    out.t = out.difference.mean / (out.difference.sd / std::sqrt(n));
    out.t_p_value = two_sided_t_p(out.t, n - 1);
  }
  out.wilcoxon = wilcoxon_signed_rank(d);
  return out;
}

bool is_balanced(const std::vector<Observation>& observations, const std::vector<std::size_t>& level_counts) {
  std::size_t cells = 1;
  for (const std::size_t levels : level_counts) cells *= levels;
  std::vector<std::size_t> counts(cells, 0);
  for (const Observation& observation : observations) {
    if (observation.levels.size() != level_counts.size()) return false;
    std::size_t index = 0;
    for (std::size_t f = 0; f < level_counts.size(); ++f) {
      if (observation.levels[f] >= level_counts[f]) return false;
      index = index * level_counts[f] + observation.levels[f];
    }
    ++counts[index];
  }
  return !counts.empty() && counts[0] > 0 &&
         std::all_of(counts.begin(), counts.end(), [&](std::size_t c) { return c == counts[0]; });
}

AnovaTable balanced_anova(const std::vector<Observation>& observations, const std::vector<std::size_t>& level_counts,
                          std::size_t max_order) {
  if (!is_balanced(observations, level_counts))
    throw std::invalid_argument("balanced_anova: not every combination of levels has the same number of observations");
  const std::size_t factors = level_counts.size();
  if (factors > 12) throw std::invalid_argument("balanced_anova: more than 12 factors");
  if (max_order == 0 || max_order > factors) max_order = factors;
  const std::size_t subsets = std::size_t{1} << factors;
  // The index of an observation's levels among the factors in `subset` (mixed radix).
  const auto index_in = [&](std::size_t subset, const Observation& observation) {
    std::size_t index = 0;
    for (std::size_t f = 0; f < factors; ++f) {
      if ((subset >> f & 1) != 0) index = index * level_counts[f] + observation.levels[f];
    }
    return index;
  };
  // Marginal means over every subset of the factors (the empty one: the grand mean).
  std::vector<std::vector<double>> means(subsets);
  for (std::size_t subset = 0; subset < subsets; ++subset) {
    std::size_t size = 1;
    for (std::size_t f = 0; f < factors; ++f) {
      if ((subset >> f & 1) != 0) size *= level_counts[f];
    }
    std::vector<double> sums(size, 0);
    std::vector<double> counts(size, 0);
    for (const Observation& observation : observations) {
      const std::size_t index = index_in(subset, observation);
      sums[index] += observation.value;
      counts[index] += 1;
    }
    for (std::size_t i = 0; i < size; ++i) sums[i] /= counts[i];
    means[subset] = std::move(sums);
  }
  // A term's effect at an observation: Σ over T ⊆ S of (−1)^{|S \ T|} · mean_T (inclusion-exclusion).
  const auto effect = [&](std::size_t term, const Observation& observation) {
    double value = 0;
    for (std::size_t part = term;; part = (part - 1) & term) {
      const double sign = (popcount(term) - popcount(part)) % 2 == 0 ? 1 : -1;
      value += sign * means[part][index_in(part, observation)];
      if (part == 0) break;
    }
    return value;
  };
  AnovaTable table;
  const double grand = means[0][0];
  for (const Observation& observation : observations)
    table.total_ss += (observation.value - grand) * (observation.value - grand);
  table.total_df = static_cast<double>(observations.size()) - 1;
  double residual_ss = 0;
  const std::size_t all = subsets - 1;
  for (const Observation& observation : observations) {
    const double within = observation.value - means[all][index_in(all, observation)];
    residual_ss += within * within;
  }
  std::size_t cells = 1;
  for (const std::size_t levels : level_counts) cells *= levels;
  double residual_df = static_cast<double>(observations.size()) - static_cast<double>(cells);
  // Terms in order of size, then by their factors.
  std::vector<std::size_t> terms;
  for (std::size_t subset = 1; subset < subsets; ++subset) terms.push_back(subset);
  const auto factor_list = [&](std::size_t subset) {
    std::vector<std::size_t> list;
    for (std::size_t f = 0; f < factors; ++f) {
      if ((subset >> f & 1) != 0) list.push_back(f);
    }
    return list;
  };
  std::sort(terms.begin(), terms.end(), [&](std::size_t a, std::size_t b) {
    if (popcount(a) != popcount(b)) return popcount(a) < popcount(b);
    return factor_list(a) < factor_list(b);
  });
  for (const std::size_t subset : terms) {
    AnovaTerm term;
    term.factors = factor_list(subset);
    term.df = 1;
    for (const std::size_t f : term.factors) term.df *= static_cast<double>(level_counts[f]) - 1;
    for (const Observation& observation : observations) {
      const double value = effect(subset, observation);
      term.ss += value * value;
    }
    if (term.factors.size() > max_order) {
      residual_ss += term.ss;
      residual_df += term.df;
      continue;
    }
    table.terms.push_back(std::move(term));
  }
  table.residual.df = residual_df;
  table.residual.ss = residual_ss;
  table.residual.ms = residual_df > 0 ? residual_ss / residual_df : kNaN;
  table.residual.f = table.residual.p = kNaN;
  table.residual.share = table.total_ss > 0 ? residual_ss / table.total_ss : kNaN;
  for (AnovaTerm& term : table.terms) {
    term.ms = term.df > 0 ? term.ss / term.df : kNaN;
    term.share = table.total_ss > 0 ? term.ss / table.total_ss : kNaN;
    if (residual_df > 0 && term.df > 0 && table.residual.ms > 0) {
      term.f = term.ms / table.residual.ms;
      term.p = boost::math::cdf(boost::math::complement(boost::math::fisher_f(term.df, residual_df), term.f));
    } else {
      term.f = term.p = kNaN;
    }
  }
  return table;
}

double variance_share(const std::vector<std::size_t>& groups, const std::vector<double>& values) {
  if (groups.size() != values.size()) throw std::invalid_argument("variance_share: one group per value");
  if (values.empty()) return kNaN;
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  std::map<std::size_t, std::pair<double, double>> by_group;  // group -> (sum, count)
  double total = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    by_group[groups[i]].first += values[i];
    by_group[groups[i]].second += 1;
    total += (values[i] - mean) * (values[i] - mean);
  }
  if (total == 0) return 0;
  double between = 0;
  for (const auto& [group, sum_count] : by_group) {
    const double group_mean = sum_count.first / sum_count.second;
    between += sum_count.second * (group_mean - mean) * (group_mean - mean);
  }
  return between / total;
}

std::vector<std::size_t> quantile_bins(const std::vector<double>& values, std::size_t bins) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<std::size_t> out(values.size(), 0);
  if (bins == 0) return out;
  for (std::size_t position = 0; position < order.size(); ++position) {
    const bool tie = position > 0 && values[order[position]] == values[order[position - 1]];
    out[order[position]] = tie ? out[order[position - 1]] : position * bins / order.size();
  }
  return out;
}

std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                      const std::vector<bool>& maximise) {
  const auto finite = [&](const std::vector<double>& point) {
    return point.size() == maximise.size() &&
           std::all_of(point.begin(), point.end(), [](double value) { return std::isfinite(value); });
  };
  // Does a dominate b?
  const auto dominates = [&](const std::vector<double>& a, const std::vector<double>& b) {
    bool better = false;
    for (std::size_t j = 0; j < maximise.size(); ++j) {
      const double gain = maximise[j] ? a[j] - b[j] : b[j] - a[j];
      if (gain < 0) return false;
      better = better || gain > 0;
    }
    return better;
  };
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    bool dominated = false;
    for (std::size_t j = 0; j < points.size() && !dominated; ++j) {
      dominated = j != i && finite(points[j]) && dominates(points[j], points[i]);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

}  // namespace armor::app
