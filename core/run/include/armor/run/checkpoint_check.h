#pragma once
// Before a run resumes: its checkpoint is its own (the checkpoint's identity needs LibTorch to read;
// the folder's is checked by armor/launch/run_folder.h).

namespace armor {

class ResultsReader;
struct RunRecord;

// The run's checkpoint (<folder>/checkpoint.pt), when it has one, is its own: it carries the run's uid
// and config hash, and it is the file runs.db recorded last (sha256). A checkpoint whose rename was
// cut short by a kill (only <folder>/checkpoint.pt.tmp, the recorded one) is completed first.
// IdentityError naming both runs, or both hashes, and the file otherwise.
void check_resumable_checkpoint(const ResultsReader& store, const RunRecord& run);

}  // namespace armor
