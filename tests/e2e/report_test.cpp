// armor report end to end: a 4-run sweep (num_experts 2, 4 x k 1, 2; synthetic images, 2 epochs),
// its HTML report, and that report rendered by headless Chromium (Debian's `chromium`, installed by
// tools/bootstrap.sh): the page loads, every chart is in the DOM, and the screenshot shows them.

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;

// Runs a shell command; its stdout and stderr together.
Result shell(const std::string& command) { return run_command_line(command + " 2>&1"); }

// An 8-bit RGB or RGBA PNG, decoded: what Chromium writes for --screenshot.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<unsigned char> pixels;  // rows of width * channels bytes
};

std::uint32_t big_endian(const std::string& data, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(data[at])) << 24 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 1])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 2])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 3]));
}

// Decodes PNG `data`; an image of width 0 when it is not an 8-bit, non-interlaced RGB(A) PNG.
Image decode_png(const std::string& data) {
  Image image;
  if (data.size() < 33 || data.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return image;
  std::string compressed;
  int depth = 0, colour = 0, interlace = 0;
  for (std::size_t at = 8; at + 8 <= data.size();) {
    const std::uint32_t length = big_endian(data, at);
    const std::string type = data.substr(at + 4, 4);
    if (type == "IHDR") {
      image.width = static_cast<int>(big_endian(data, at + 8));
      image.height = static_cast<int>(big_endian(data, at + 12));
      depth = static_cast<unsigned char>(data[at + 16]);
      colour = static_cast<unsigned char>(data[at + 17]);
      interlace = static_cast<unsigned char>(data[at + 20]);
    } else if (type == "IDAT") {
      compressed += data.substr(at + 8, length);
    }
    at += 12 + length;
  }
  image.channels = colour == 2 ? 3 : colour == 6 ? 4 : 0;
  if (depth != 8 || image.channels == 0 || interlace != 0) return Image{};
  const std::size_t stride = static_cast<std::size_t>(image.width) * image.channels;
  std::vector<unsigned char> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()), compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    return Image{};
  }
  image.pixels.resize(stride * image.height);
  const std::size_t bpp = image.channels;
  for (int y = 0; y < image.height; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* out = &image.pixels[y * stride];
    const unsigned char* up = y > 0 ? &image.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? out[i - bpp] : 0;
      const int b = up ? up[i] : 0;
      const int c = up && i >= bpp ? up[i - bpp] : 0;
      int predictor = 0;
      switch (filter) {
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: {
          const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: break;
      }
      out[i] = static_cast<unsigned char>(in[i] + predictor);
    }
  }
  return image;
}

// Pixels with a clear colour (not white, grey or black text): what the charts' lines, markers and
// heat map cells paint.
int coloured_pixels(const Image& image) {
  int n = 0;
  for (std::size_t at = 0; at + 2 < image.pixels.size(); at += image.channels) {
    const int r = image.pixels[at], g = image.pixels[at + 1], b = image.pixels[at + 2];
    if (std::max({r, g, b}) - std::min({r, g, b}) > 40) ++n;
  }
  return n;
}

class ReportTest : public ::testing::Test {
 protected:
  // One sweep for every test of the suite: a few seconds of training.
  static void SetUpTestSuite() {
    // Per process: several checkouts may run their suites on one machine at once.
    dir_ = fs::temp_directory_path() / ("armor_e2e_report_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sweep_ =
        run_armor("run " + quickstart() + " --db " + db() + " --outputs " + (dir_ / "outputs").string() +
                  " --multirun model.num_experts=2,4 model.k=1,2 trainer=standard trainer.epochs=2"
                  " data.name=synthetic +data.train_size=64 +data.test_size=32 +data.image_size=12 data.test_limit=0"
                  " eval.attacks.pgd20.steps=1");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override { ASSERT_EQ(sweep_.exit_code, 0) << sweep_.output; }

  static std::string db() { return (dir_ / "runs.db").string(); }

  // armor report into `name`; the page's text.
  static std::string report(const std::string& name) {
    const Result result = run_armor("report --db " + db() + " --sweep 1 -o " + (dir_ / name).string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "wrote " + (dir_ / name).string())) << result.output;
    return read_file(dir_ / name);
  }

  static std::string chromium() {
    for (const char* name : {"chromium", "chromium-browser"}) {
      const Result found = shell(std::string("command -v ") + name);
      if (found.exit_code == 0) return found.output.substr(0, found.output.find('\n'));
    }
    return "";
  }

  // Headless Chromium on `page` with its own fresh profile, plus `what` (--dump-dom, --screenshot=...).
  static Result render(const fs::path& page, const std::string& what) {
    const fs::path profile = dir_ / "chromium-profile";
    fs::remove_all(profile);
    return shell("timeout 120 " + chromium() +
                 " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
                 " --disable-component-update --disable-sync --hide-scrollbars --user-data-dir=" +
                 profile.string() + " --window-size=1200,6000 " + what + " file://" + page.string());
  }

  static inline fs::path dir_;
  static inline Result sweep_;
};

// The chart ids a report of this sweep must have.
const std::vector<std::string> kCharts{
    "chart-scatter",
    "chart-lines-clean_acc-vs-model-k",
    "chart-lines-pgd20_acc-vs-model-k",
    "chart-lines-clean_acc-vs-model-num_experts",
    "chart-lines-pgd20_acc-vs-model-num_experts",
    "chart-heatmap-clean_acc",
    "chart-heatmap-pgd20_acc",
    "chart-curves-train_loss",
    "chart-curves-train_acc",
    "chart-experts-layer3-0",
};

TEST_F(ReportTest, ReportIsOneSelfContainedPageWithEveryTableAndChart) {
  const std::string page = report("report.html");
  EXPECT_TRUE(contains(page, "<title>armor sweep 1: quickstart</title>"));
  for (const std::string section : {"config", "runs", "pivots", "scatter", "lines", "heatmaps", "curves", "experts"}) {
    EXPECT_TRUE(contains(page, "<h2 id=\"" + section + "\">")) << section;
  }
  for (const std::string& id : kCharts) EXPECT_EQ(count(page, "id=\"" + id + "\""), 1) << id;
  EXPECT_TRUE(contains(page, "grid = &quot;model.num_experts=2,4 model.k=1,2"));             // the sweep's spec
  EXPECT_TRUE(contains(page, "<th>model.num_experts \\ model.k</th><th>1</th><th>2</th>"));  // a pivot table
  EXPECT_EQ(count(page, "<td>finished</td>") + count(page, "<td class=\"text\">finished</td>"), 4);
  // Nothing to fetch: no script, no stylesheet or image by reference, no address but SVG's namespace.
  for (const std::string fetch : {"<script", "<link", "<img", "src=", "href=", "url(", "@import", "https://"}) {
    EXPECT_FALSE(contains(page, fetch)) << fetch;
  }
  EXPECT_EQ(count(page, "http://"), count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
}

TEST_F(ReportTest, ReportRendersInHeadlessChromium) {
  ASSERT_FALSE(chromium().empty()) << "chromium is not installed: tools/bootstrap.sh installs Debian's chromium";
  report("report.html");
  const Result dom = render(dir_ / "report.html", "--dump-dom");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  EXPECT_TRUE(contains(dom.output, "<title>armor sweep 1: quickstart</title>")) << dom.output.substr(0, 2000);
  EXPECT_TRUE(contains(dom.output, "</html>"));
  for (const std::string& id : kCharts)
    EXPECT_EQ(count(dom.output, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" + id + "\""), 1) << id;
  EXPECT_GE(count(dom.output, "<svg "), static_cast<int>(kCharts.size()));

  const fs::path screenshot = dir_ / "report.png";
  const Result shot = render(dir_ / "report.html", "--screenshot=" + screenshot.string());
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  const Image image = decode_png(read_file(screenshot));
  ASSERT_EQ(image.width, 1200) << "not a PNG of the window's size: " << screenshot;
  EXPECT_EQ(image.height, 6000);  // the whole page of this small sweep: every section, heat maps included
  // Lines, markers and heat map cells in colour: the charts were drawn, not only the text.
  EXPECT_GT(coloured_pixels(image), 20000);
  if (const char* keep = std::getenv("ARMOR_KEEP_REPORT_SCREENSHOT"))
    fs::copy_file(screenshot, keep, fs::copy_options::overwrite_existing);
}

TEST_F(ReportTest, ReportOfAMissingSweepNamesIt) {
  const Result result = run_armor("report --db " + db() + " --sweep 9 -o " + (dir_ / "none.html").string());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_TRUE(contains(result.output, "9")) << result.output;
  EXPECT_FALSE(fs::exists(dir_ / "none.html"));
}

}  // namespace
