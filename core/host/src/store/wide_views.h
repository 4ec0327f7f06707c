#pragma once
// The wide views of runs.db (private to the store): results (one row per run, params and metrics as
// columns), curves (one row per run and epoch) and experts (one row per run, layer and expert). Their
// columns are the keys recorded in view_columns; every write that brings a new key rebuilds the
// views that show it, inside the writer's transaction.

#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace armor::store_sql {

// Drops and recreates every wide view from view_columns (after a migration, in a new shard).
void recreate_views(SQLite::Database& db);

// Gives every new key of `source` (params, metrics, epoch_metrics, expert_metrics) a column in the
// views that show it. Views are rebuilt only when a key is new, which is rare after a sweep's first run.
void add_view_columns(SQLite::Database& db, const char* source, const std::vector<std::string>& keys);

}  // namespace armor::store_sql
