#pragma once
// The statistics of `armor db` and `armor report`, torch-free and SQL-free: a sample's summary with
// a Student-t confidence interval, the paired t-test and Wilcoxon signed-rank test of two settings,
// the ANOVA of a balanced grid with replicates, a variance-share importance for sweeps that are no
// full grid, and Pareto fronts. Each is tested against scipy / statsmodels (tests/fixtures/statistics).

#include <cstddef>
#include <string>
#include <vector>

namespace armor::app {

// Mean, sample standard deviation (n - 1), count and the two-sided `level` confidence interval of the
// mean, mean ± t_{(1+level)/2, n-1} · sd / √n. Non-finite values are left out. sd and the interval
// are NaN below two values (the mean is NaN for none).
struct Summary {
  double mean = 0;
  double sd = 0;
  std::size_t n = 0;
  double ci_low = 0;
  double ci_high = 0;
};
Summary summarize(const std::vector<double>& values, double level = 0.95);

// The p-quantile of Student's t with `df` degrees of freedom (boost::math).
double students_t_quantile(double p, double df);

// Wilcoxon's signed-rank test of `differences` against 0, two-sided, as scipy 1.10's
// wilcoxon(d) with its defaults (zero_method "wilcox", no continuity correction, method "auto"):
// the exact null distribution when n ≤ 50 with no zero and no tie; otherwise the normal
// approximation with zeros dropped and the tie correction of the variance (scipy's "approx"; scipy's
// "auto" keeps its exact branch under ties, which is then not exact). statistic = min(R+, R−).
struct WilcoxonResult {
  double statistic = 0;
  double p_value = 1;
  bool exact = true;
};
WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& differences);

// Pairs (a_i, b_i): the summary of d_i = b_i − a_i (its mean difference and t interval), the paired
// t-test of mean d = 0 (scipy's ttest_rel(b, a)) and Wilcoxon's test on d.
struct PairedComparison {
  Summary difference;
  double t = 0;
  double t_p_value = 1;
  WilcoxonResult wilcoxon;
};
PairedComparison paired_comparison(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

// One observation of a factorial design: its level (0, 1, ...) of each factor, and its value.
struct Observation {
  std::vector<std::size_t> levels;
  double value = 0;
};

// A row of an ANOVA table: a main effect (one factor), an interaction (several), or the residual.
struct AnovaTerm {
  std::vector<std::size_t> factors;  // indices into the design's factors; empty for the residual
  double df = 0;
  double ss = 0;     // sum of squares
  double ms = 0;     // ss / df
  double f = 0;      // ms / residual ms (NaN for the residual or without residual df)
  double p = 0;      // P(F ≥ f) under Fisher's F(df, residual df)
  double share = 0;  // ss / total ss (η²)
};
struct AnovaTable {
  std::vector<AnovaTerm> terms;  // by order (main effects, then pairs, ...), each order in factor order
  AnovaTerm residual;
  double total_ss = 0;
  double total_df = 0;
};

// True when every combination of the factors' levels (`level_counts[i]` levels each) holds the same
// number (≥ 1) of observations: the design balanced_anova accepts.
bool is_balanced(const std::vector<Observation>& observations, const std::vector<std::size_t>& level_counts);

// The fixed-effects ANOVA of a balanced full factorial design with replicates: every term up to
// `max_order` factors (all of them when 0), sums of squares from the orthogonal projections
// (Type I = II = III when balanced), the terms left out pooled into the residual, F-tests against it.
// Throws std::invalid_argument for a design that is not balanced.
AnovaTable balanced_anova(const std::vector<Observation>& observations, const std::vector<std::size_t>& level_counts,
                          std::size_t max_order = 0);

// The share of the values' variance that grouping by `groups` (a group id per value) explains:
// between-group over total sum of squares, one-way (η²). 0 when every value is equal.
double variance_share(const std::vector<std::size_t>& groups, const std::vector<double>& values);

// Group ids of a continuous variable: its values in `bins` groups of (nearly) equal counts by rank,
// ties kept together.
std::vector<std::size_t> quantile_bins(const std::vector<double>& values, std::size_t bins);

// The points not dominated by any other: a point dominates another when it is at least as good in
// every coordinate and better in one; `maximise[j]` says which way coordinate j is better. Points
// with a non-finite coordinate are left out. Indices in input order.
std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                      const std::vector<bool>& maximise);

}  // namespace armor::app
