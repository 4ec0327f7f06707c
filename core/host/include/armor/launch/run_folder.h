#pragma once
// A run's output folder belongs to exactly one run. Its identity.toml names the run (uid, id and
// database); armor writes into a folder only when it is the run's own. (That a checkpoint in it is
// the run's own is the run side's check: armor/run/checkpoint_check.h.)
//
// Layout: <outputs>/<sweep id>-<first 8 digits of the sweep's uid>/<index>/ for a sweep's runs, so
// that two databases (whose ids both start at 1) never share a folder.

#include <cstdint>
#include <optional>
#include <string>

namespace armor {

class ResultsReader;
struct RunRecord;

// Who owns a folder, as identity.toml says.
struct RunFolderOwner {
  std::string run_uid;
  std::int64_t run_id = 0;
  std::string database;  // absolute path of the runs.db that recorded the run
};

constexpr const char* kRunIdentityFile = "identity.toml";

// "<outputs>/<sweep id>-<uid8>/<index>" (not made absolute).
std::string sweep_run_folder(const std::string& outputs, std::int64_t sweep_id, const std::string& sweep_uid,
                             int index);
RunFolderOwner owner_of(const RunRecord& run, const std::string& database);
std::optional<RunFolderOwner> read_run_folder_owner(const std::string& folder);
// "run 3 (uid 5f0c...) of /data/runs.db"
std::string describe_owner(const RunFolderOwner& owner);

// Creates `folder` for a new run and writes its identity. IdentityError when the folder already
// exists and is not empty (another run's, or anything else's): nothing in it is touched.
void claim_new_run_folder(const std::string& folder, const RunFolderOwner& owner);

// Before a run writes into its folder (a launch, a resume, a re-evaluation): the folder is the run's
// own. A missing folder is created with the identity; a folder that names another run is refused,
// naming both; a folder without identity.toml (made by an armor before identities) is adopted only
// when it holds no training state or model. IdentityError otherwise.
void check_run_folder(const RunRecord& run, const std::string& database);

// The sha256 runs.db recorded last for `run`'s artifact `kind` at `path` ("" when none).
std::string recorded_sha256(const ResultsReader& store, const RunRecord& run, const std::string& kind,
                            const std::string& path);

// `path` is the file runs.db recorded for `run` as artifact `kind` (same sha256). IdentityError when
// it is not recorded or changed since.
void check_recorded_file(const ResultsReader& store, const RunRecord& run, const std::string& kind,
                         const std::string& path);

}  // namespace armor
