#include "armor/data/tinyimagenet.h"

#include <stb_image.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "armor/error.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

constexpr int kSide = 64;

struct LabelledFile {
  std::string path;
  std::int64_t label;
};

std::map<std::string, std::int64_t> read_classes(const fs::path& root) {
  const fs::path path = root / "wnids.txt";
  std::ifstream in(path);
  if (!in) throw DataError(path.string() + ": file not found (expected the tiny-imagenet-200 folder)");
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (!line.empty()) ids.push_back(line);
  }
  if (ids.empty()) throw DataError(path.string() + ": lists no class");
  std::sort(ids.begin(), ids.end());
  std::map<std::string, std::int64_t> classes;
  for (const std::string& id : ids) classes.emplace(id, static_cast<std::int64_t>(classes.size()));
  return classes;
}

std::vector<LabelledFile> training_files(const fs::path& root, const std::map<std::string, std::int64_t>& classes) {
  std::vector<LabelledFile> files;
  for (const auto& [id, label] : classes) {
    const fs::path folder = root / "train" / id / "images";
    if (!fs::is_directory(folder))
      throw DataError(folder.string() + ": folder not found (class " + id + " of wnids.txt)");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file()) names.push_back(entry.path().string());
    }
    std::sort(names.begin(), names.end());
    for (std::string& name : names) files.push_back({std::move(name), label});
  }
  return files;
}

std::vector<LabelledFile> validation_files(const fs::path& root, const std::map<std::string, std::int64_t>& classes) {
  const fs::path annotations = root / "val" / "val_annotations.txt";
  std::ifstream in(annotations);
  if (!in) throw DataError(annotations.string() + ": file not found");
  std::vector<LabelledFile> files;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string file, id;
    if (!std::getline(fields, file, '\t') || !std::getline(fields, id, '\t')) {
      throw DataError(annotations.string() + ":" + std::to_string(line_number) + ": expected <file> TAB <wnid> ...");
    }
    id.erase(id.find_last_not_of(" \r") + 1);
    const auto found = classes.find(id);
    if (found == classes.end()) {
      throw DataError(annotations.string() + ":" + std::to_string(line_number) + ": class '" + id +
                      "' is not in wnids.txt");
    }
    files.push_back({(root / "val" / "images" / file).string(), found->second});
  }
  if (files.empty()) throw DataError(annotations.string() + ": lists no image");
  return files;
}

// Decodes every file in parallel into one uint8 [N,3,64,64] tensor.
LabelledImages decode_all(const std::vector<LabelledFile>& files) {
  const auto count = static_cast<std::int64_t>(files.size());
  torch::Tensor images = torch::empty({count, 3, kSide, kSide}, torch::kUInt8);
  torch::Tensor labels = torch::empty({count}, torch::kInt64);
  auto* label_data = labels.data_ptr<std::int64_t>();
  // The first error wins; the others are dropped (they usually share its cause).
  std::string first_error;
  std::mutex error_mutex;
  at::parallel_for(0, count, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      try {
        images[i].copy_(decode_image(files[static_cast<std::size_t>(i)].path, 3, kSide, kSide));
        label_data[i] = files[static_cast<std::size_t>(i)].label;
      } catch (const std::exception& error) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = error.what();
      }
    }
  });
  if (!first_error.empty()) throw DataError(first_error);
  return {images, labels};
}

}  // namespace

torch::Tensor decode_image(const std::string& path, int channels, int height, int width) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": file not found");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int w = 0, h = 0, found_channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                            &found_channels, channels),
      stbi_image_free);
  if (!pixels) throw DataError(path + ": cannot decode the image (" + stbi_failure_reason() + ")");
  if (w != width || h != height) {
    throw DataError(path + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", expected " +
                    std::to_string(width) + "x" + std::to_string(height));
  }
  // stb gives HWC; armor holds CHW.
  return torch::from_blob(pixels.get(), {height, width, channels}, torch::kUInt8).permute({2, 0, 1}).clone();
}

namespace {

DatasetInfo tinyimagenet_info(const std::map<std::string, std::int64_t>& classes) {
  return {"tinyimagenet",          3, kSide, kSide, static_cast<std::int64_t>(classes.size()), {0.4802, 0.4481, 0.3975},
          {0.2770, 0.2691, 0.2821}};
}

fs::path tinyimagenet_root(const std::string& root_text) {
  const fs::path root(root_text);
  if (!fs::is_directory(root)) throw DataError(root_text + ": not a folder (expected tiny-imagenet-200)");
  return root;
}

}  // namespace

DatasetShape tinyimagenet_shape(const std::string& root_text) {
  const fs::path root = tinyimagenet_root(root_text);
  const auto classes = read_classes(root);
  return {tinyimagenet_info(classes), static_cast<std::int64_t>(training_files(root, classes).size()),
          static_cast<std::int64_t>(validation_files(root, classes).size())};
}

DatasetSplits read_tinyimagenet(const std::string& root_text) {
  const fs::path root = tinyimagenet_root(root_text);
  const auto classes = read_classes(root);
  DatasetSplits splits;
  splits.info = tinyimagenet_info(classes);
  splits.train = decode_all(training_files(root, classes));
  splits.test = decode_all(validation_files(root, classes));
  return splits;
}

}  // namespace armor
