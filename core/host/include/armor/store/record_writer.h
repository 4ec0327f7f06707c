#pragma once
// RecordWriter: what a run records about itself while it executes, besides its status (RunQueue):
// its output folder, its training curves and expert metrics, the files it wrote, its provenance,
// metrics added by a later evaluation, and its per-image results. Every method is one write
// transaction and names a missing run ("has no run 7"). Get one from RunStore::records().

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "armor/store/store_records.h"

namespace SQLite {
class Database;
}

namespace armor {

// The artifact that says a run trained nothing: the weights it evaluated instead, another run's
// checkpoint (`armor eval RUN --new-run`) or a model file (`armor eval --model-file`). Such a run's
// config hash names a config its weights were not trained under.
inline constexpr const char* kEvaluatedCheckpointArtifact = "evaluated_checkpoint";
inline constexpr const char* kModelFileArtifact = "model_file";

class RecordWriter {
 public:
  // Over a connection that `db`'s owner (RunStore) keeps open longer than this writer.
  RecordWriter(SQLite::Database& db, std::string path);

  void set_output_dir(std::int64_t run_id, const std::string& path);
  // Files a run produced: kind "checkpoint", "log", "config"; sha256 hex of the file.
  void record_artifact(std::int64_t run_id, const std::string& kind, const std::string& path,
                       const std::string& sha256);
  // Provenance of a run: key -> text (revision, dirty, compiler, build_type, torch_version, device,
  // threads, host, plugin:<name>:path, plugin:<name>:sha256, ...).
  void record_provenance(std::int64_t run_id, const std::vector<std::pair<std::string, std::string>>& values);
  // One epoch's values; a repeated (epoch, key) replaces the earlier value.
  void record_epoch_metrics(std::int64_t run_id, int epoch, const std::vector<std::pair<std::string, double>>& values);
  void record_expert_metrics(std::int64_t run_id, const std::string& layer, int expert,
                             const std::vector<std::pair<std::string, double>>& values);
  // Adds (or replaces) final metrics of a finished run without changing its status: `armor eval`
  // re-evaluating a run. StoreError when the run does not exist or has not finished.
  void add_metrics(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics);
  // Replaces the per-image results of a run.
  void record_image_results(std::int64_t run_id, const std::vector<ImageResult>& images);
  // Replaces the attack-validity checks of a run's evaluation (per (metric, check)); metrics
  // without a check in `checks` keep theirs: `armor eval` of one attack leaves the others' checks.
  void record_eval_checks(std::int64_t run_id, const std::vector<EvalCheck>& checks);
  // Replaces the run's robustness curve of curve.metric (its other attacks' curves stay).
  void record_robustness_curve(std::int64_t run_id, const RobustnessCurve& curve);

 private:
  SQLite::Database& db_;
  std::string path_;
};

}  // namespace armor
