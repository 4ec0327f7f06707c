// The statistics of a sweep end to end: the 2 × 2 × 2 grid with 3 seeds of tests/fixtures/statistics
// recorded through the store (no training), the `armor db effects / compare / pareto / pivot`
// commands on it, and its `armor report` rendered by headless Chromium in a 1 400 px window: error
// bars, the effects table, the Pareto chart and parallel coordinates are there, the charts fill the
// window's width and no chart text is under 11 px on screen.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "cli_support.h"
#include "grid_sweep_support.h"

namespace {
namespace fs = std::filesystem;
using armor::testing::contains;
using armor::testing::count;
using armor::testing::read_file;
using armor::testing::Result;
using armor::testing::run_armor;
using armor::testing::run_command_line;

// Measures the page as laid out and writes what it found into <body data-probe="...">, which
// --dump-dom prints: the smallest on-screen font size of any chart text (font size times the
// chart's scale), the text it belongs to, the narrowest chart and the right edge of the widest row.
constexpr const char* kProbe = R"(<script>
(() => {
  let smallest = 1e9, which = '';
  for (const t of document.querySelectorAll('svg text')) {
    const m = t.getScreenCTM();
    const size = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
    if (size < smallest) { smallest = size; which = t.textContent; }
  }
  let narrowest = 1e9, right = 0;
  for (const s of document.querySelectorAll('.charts svg')) {
    const box = s.getBoundingClientRect();
    narrowest = Math.min(narrowest, box.width);
    right = Math.max(right, box.right);
  }
  document.body.setAttribute('data-probe',
      'smallest=' + smallest.toFixed(2) + ';narrowest=' + narrowest.toFixed(0) + ';right=' + right.toFixed(0) +
      ';which=' + which.replace(/[;"<>&]/g, ' '));
})();
</script>
)";

class StatisticsReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: several checkouts may run their suites on one machine at once.
    dir_ = fs::temp_directory_path() / ("armor_e2e_StatisticsReportTest_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    armor::RunStore store(db());
    armor::testing::record_grid_sweep(store);
    // Two runs evaluated on an eps ladder: their robustness curves are one chart.
    store.records().record_robustness_curve(1, {"pgd20", 0.2, {{0, 0.0}, {1, 0.05}, {2, 0.1}, {3, std::nullopt}}});
    store.records().record_robustness_curve(2, {"pgd20", 0.2, {{0, 0.1}, {1, std::nullopt}, {2, 0.2}, {3, 0.2}}});
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string db() { return (dir_ / "runs.db").string(); }
  static Result db_command(const std::string& arguments) { return run_armor("db " + arguments + " --db " + db()); }

  static std::string chromium() {
    for (const char* name : {"chromium", "chromium-browser"}) {
      const Result found = run_command_line(std::string("command -v ") + name);
      if (found.exit_code == 0) return found.output.substr(0, found.output.find('\n'));
    }
    return "";
  }

  static inline fs::path dir_;
};

TEST_F(StatisticsReportTest, TheDbCommandsAnswerTheSweepsQuestions) {
  Result out = db_command("effects --metric pgd20_acc --format table");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "exact ANOVA")) << out.output;
  EXPECT_TRUE(contains(out.output, "model.k × trainer.beta")) << out.output;
  EXPECT_TRUE(contains(out.output, "residual (seeds)")) << out.output;
  out = db_command("compare --a 'trainer.beta = 0' --b 'trainer.beta = 3' --metrics pgd20_acc,clean_acc --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  // scipy: ttest_rel p = 4.777366928901426e-08, wilcoxon p = 0.00048828125 (tests/fixtures/statistics/paired.csv).
  EXPECT_TRUE(contains(out.output, "pgd20_acc,12,")) << out.output;
  EXPECT_TRUE(contains(out.output, ",0.00048828125,exact")) << out.output;
  out = db_command("compare 1 2 --format csv");
  EXPECT_EQ(out.exit_code, 0) << "comparing runs side by side still works: " << out.output;
  out = db_command("pareto --metrics clean_acc,pgd20_acc,-train_seconds --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(std::count(out.output.begin(), out.output.end(), '\n'), 1 + 13) << out.output;
  const fs::path svg = dir_ / "pareto.svg";
  out = db_command("plot pareto --metrics clean_acc,pgd20_acc -o " + svg.string());
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(read_file(svg), "not dominated (7 runs)")) << "tests/fixtures/statistics/pareto.csv: 7 runs";
  out = db_command("pivot --rows trainer.beta --cols model.k --metric pgd20_acc");
  EXPECT_EQ(out.exit_code, 2) << out.output;
  EXPECT_TRUE(contains(out.output, "model.num_experts (2, 4) varies inside the cells")) << out.output;
  out = db_command("pivot --rows trainer.beta,model.num_experts --cols model.k --metric pgd20_acc --format table");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "(n=3)")) << out.output;
}

TEST_F(StatisticsReportTest, TheReportShowsErrorBarsEffectsParetoAndParallelCoordinatesReadably) {
  const fs::path page_path = dir_ / "report.html";
  const Result made = run_armor("report --db " + db() + " --sweep 1 -o " + page_path.string());
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string page = read_file(page_path);
  if (const char* keep = std::getenv("ARMOR_KEEP_STATISTICS_REPORT")) {  // the page, and its database as KEEP.db
    fs::copy_file(page_path, keep, fs::copy_options::overwrite_existing);
    fs::copy_file(db(), std::string(keep) + ".db", fs::copy_options::overwrite_existing);
  }
  for (const std::string section : {"pivots", "effects", "pareto", "parallel", "lines", "heatmaps", "robustness"})
    EXPECT_TRUE(contains(page, "<h2 id=\"" + section + "\">")) << section;
  for (const std::string id : {"chart-pareto", "chart-parallel", "chart-lines-pgd20_acc-vs-model-k",
                               "chart-heatmap-pgd20_acc-0", "chart-heatmap-pgd20_acc-3", "chart-robustness-pgd20"})
    EXPECT_EQ(count(page, "id=\"" + id + "\""), 1) << id;
  EXPECT_GT(count(page, "class=\"error-bar\""), 20) << "95 % intervals on the lines charts";
  EXPECT_TRUE(contains(page, "residual (seeds)")) << "the effects table";
  // The pivot tables never average over a swept param: one per value of trainer.beta, n = 3 seeds.
  EXPECT_TRUE(contains(page, "<h4>trainer.beta=3</h4>"));
  EXPECT_FALSE(contains(page, "(n=6)"));
  EXPECT_TRUE(contains(page, "(n=3)"));
  // model.k is an integer axis: no tick between 1 and 2.
  const std::size_t k_chart = page.find("id=\"chart-lines-pgd20_acc-vs-model-k\"");
  const std::string k_svg = page.substr(k_chart, page.find("</svg>", k_chart) - k_chart);
  EXPECT_FALSE(contains(k_svg, ">1.5<")) << k_svg;
  EXPECT_FALSE(contains(page, "<script"));

  ASSERT_FALSE(chromium().empty()) << "chromium is not installed: tools/bootstrap.sh installs Debian's chromium";
  std::string probed = page;
  probed.insert(probed.rfind("</body>"), kProbe);
  const fs::path probe_path = dir_ / "probe.html";
  std::ofstream(probe_path) << probed;
  const fs::path profile = dir_ / "chromium-profile";
  const Result dom = run_command_line(
      "timeout 120 " + chromium() +
      " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
      " --disable-component-update --disable-sync --hide-scrollbars --user-data-dir=" +
      profile.string() + " --window-size=1400,3000 --dump-dom file://" + probe_path.string() + " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0) << dom.output.substr(0, 2000);
  std::smatch found;
  ASSERT_TRUE(std::regex_search(
      dom.output, found,
      std::regex("data-probe=\"smallest=([0-9.]+);narrowest=([0-9]+);right=([0-9]+);which=([^\"]*)\"")))
      << dom.output.substr(0, 3000);
  const double smallest = std::stod(found[1]);
  EXPECT_GE(smallest, 11.0) << "the smallest chart text, '" << found[4] << "', is " << smallest << " px";
  EXPECT_GE(std::stod(found[2]), 600) << "every chart at least 600 px wide";
  EXPECT_GE(std::stod(found[3]), 1300) << "the charts fill the 1 400 px window (right edge " << found[3] << ")";
  std::cout << "rendered at 1400 px: smallest chart text " << found[1] << " px ('" << found[4] << "'), narrowest chart "
            << found[2] << " px, right edge " << found[3] << " px\n";
}

}  // namespace
