#include "armor/params/moe_params.h"

namespace armor {

ParamSchema moe_params(std::int64_t default_num_experts, const std::string& num_experts_note) {
  return ParamSchema()
      .integer("num_experts", default_num_experts,
               "Experts E per MoE layer" + (num_experts_note.empty() ? "" : " (" + num_experts_note + ")"), 1)
      .integer("k", 1, "Experts chosen per image (top-k of the gate)", 1)
      .constraint("k <= num_experts", "a MoE layer chooses k of its num_experts experts for each image");
}

}  // namespace armor
