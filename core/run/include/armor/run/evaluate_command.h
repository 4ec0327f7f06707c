#pragma once
// armor eval's work. RUN_ID: re-evaluates a finished run from its checkpoint with other evaluation
// settings (new attacks, route attacks, fixed experts), adding metrics to the same run; only eval.*,
// run.device and run.threads may change, and the checkpoint must be the file runs.db recorded.
// RUN_ID --new-run: the same checkpoint evaluated as a new run whose overrides may also change
// model.* (a trained dual model re-weighted by model.alpha); the checkpoint must still fit the model
// strictly, else nothing is recorded.
// --model-file: a TorchScript model exported from PyTorch evaluated with armor's attacks on the
// experiment's [data] and [eval], recorded as a run of its own (no training).

#include <string>
#include <vector>

#include "armor/host/run_side.h"
#include "armor/plugin/registry.h"

namespace armor {

// 0 evaluated, 1 the evaluation failed (recorded so); UsageError / ConfigError / IdentityError otherwise
// (RunError for a --new-run evaluation that failed, which records nothing).
int evaluate_command(const EvalRequest& request, const Registry& registry,
                     const std::vector<std::string>& plugin_libraries);

}  // namespace armor
