#include "armor/train/state_dict.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "armor/error.h"

namespace armor {

void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& item : module.named_parameters()) state.insert(item.key(), item.value().detach().cpu());
  for (const auto& item : module.named_buffers()) state.insert(item.key(), item.value().detach().cpu());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(state));
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw RunError(temporary + ": cannot write the weights");
  }
  std::filesystem::rename(temporary, path);
}

std::map<std::string, torch::Tensor> load_state_dict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": file not found");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, torch::Tensor> state;
  try {
    const c10::IValue value = torch::pickle_load(bytes);
    for (const auto& entry : value.toGenericDict()) state.emplace(entry.key().toStringRef(), entry.value().toTensor());
  } catch (const c10::Error& error) {
    throw DataError(path + ": not a dict of tensors saved by torch.save / armor (" + error.what_without_backtrace() +
                    ")");
  }
  return state;
}

namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "[";
  for (std::int64_t d = 0; d < tensor.dim(); ++d) text += (d ? "," : "") + std::to_string(tensor.size(d));
  return text + "]";
}

void check_fits(const torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix,
                const std::string& source) {
  std::set<std::string> expected;
  const auto check_tensor = [&](const std::string& key, const torch::Tensor& mine) {
    expected.insert(key);
    torch::Tensor stored;
    if (!archive.try_read(key, stored)) throw RunError(source + ": has no '" + prefix + key + "' (another model?)");
    if (stored.sizes() != mine.sizes()) {
      throw RunError(source + ": '" + prefix + key + "' is " + shape_text(stored) + " there but " + shape_text(mine) +
                     " in this model (another model?)");
    }
  };
  for (const auto& item : module.named_parameters(/*recurse=*/false)) check_tensor(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/false)) check_tensor(item.key(), item.value());
  for (const auto& child : module.named_children()) {
    expected.insert(child.key());
    torch::serialize::InputArchive child_archive;
    if (!archive.try_read(child.key(), child_archive)) {
      throw RunError(source + ": has no module '" + prefix + child.key() + "' (another model?)");
    }
    check_fits(*child.value(), child_archive, prefix + child.key() + ".", source);
  }
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive child;
    const bool is_state = archive.try_read(key, tensor) || archive.try_read(key, child);
    if (is_state && !expected.count(key)) {
      throw RunError(source + ": has '" + prefix + key + "', which this model does not (another model?)");
    }
  }
}

}  // namespace

void load_module_strict(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& source) {
  check_fits(module, archive, "", source);
  module.load(archive);
}

}  // namespace armor
