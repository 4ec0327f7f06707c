#include "armor/store/run_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store_schema.h"

namespace armor {

namespace {

store_sql::StoreSchema::Mode schema_mode(RunStore::Mode mode) {
  return mode == RunStore::Mode::shard ? store_sql::StoreSchema::Mode::shard : store_sql::StoreSchema::Mode::read_write;
}

}  // namespace

RunStore::RunStore(const std::string& path, Mode mode)
    : path_(path),
      db_(store_sql::StoreSchema::open(path, schema_mode(mode))),
      queue_(*db_, path_),
      records_(*db_, path_),
      shards_(*db_, path_),
      reader_(*db_, path_) {}

RunStore::~RunStore() = default;

}  // namespace armor
