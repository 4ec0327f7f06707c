#pragma once
// The run side of a run folder's identity: a run continues only from a checkpoint that carries its
// identity and that runs.db recorded. Reading a checkpoint's identity needs LibTorch; the folder's
// own identity (identity.toml, claiming and checking folders) is the host's: armor/launch/run_folder.h.

#include "armor/launch/run_folder.h"

namespace armor {

// The run's checkpoint (<folder>/checkpoint.pt), when it has one, is its own: it carries the run's uid
// and config hash, and it is the file runs.db recorded last (sha256). A checkpoint whose rename was
// cut short by a kill (only <folder>/checkpoint.pt.tmp, the recorded one) is completed first.
// IdentityError naming both runs, or both hashes, and the file otherwise.
void check_resumable_checkpoint(const RunStore& store, const RunRecord& run);

}  // namespace armor
