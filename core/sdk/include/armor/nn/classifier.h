#pragma once
// Classifier: what a model plugin makes.
//
// forward: x [N,C,H,W] in [0,1] (normalisation is inside the model, so attacks work in pixel
// space) -> logits [N,K]. A MoE model lists its MoE layers so that trainers add balancing losses,
// evaluation fixes experts and statistics read the routing. Models of paper 1 also answer to
// expert_ensemble() (an output-level MoE whose experts are whole classifiers, expert_ensemble.h) or
// dual_model() (F_D = (1 - alpha) F_S + alpha F_R, dual_model.h); these hooks replace dynamic_cast,
// which is unreliable across plugin libraries built with hidden visibility.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "armor/nn/moe_layer.h"

namespace armor {

struct DatasetInfo;
class Params;
class ParamSchema;
class ExpertEnsemble;
class DualModel;

class Classifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // (qualified name, layer) of every MoE layer, in forward order; empty for a dense model.
  virtual std::vector<std::pair<std::string, MoeLayer>> moe_layers() { return {}; }
  // This model as an output-level MoE of whole-classifier experts, or nullptr.
  virtual ExpertEnsemble* expert_ensemble() { return nullptr; }
  // This model as a dual model of a standard and a robust member, or nullptr.
  virtual DualModel* dual_model() { return nullptr; }
};

// What a model factory is given besides its parameters: the data it will see and a way to make
// the configured gate for each MoE layer it builds: pass make_gate to the MoeLayer, which calls it
// with the layer's shape (MoeLayerOptions::gate_shape()).
struct ModelContext {
  const DatasetInfo* data = nullptr;
  MakeGate make_gate;
  // The host's evaluation of declared constraints (ParamSchema::constraint), for a section the
  // model parses itself (output_moe's expert_params): throws ConfigError when `params` breaks one
  // of `schema`. The SDK stores constraints and never evaluates them; empty when the host gives none.
  std::function<void(const Params& params, const ParamSchema& schema)> check_constraints;
};

}  // namespace armor
