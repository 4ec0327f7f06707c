// The store's values: run statuses as text, and the params they carry.

#include <gtest/gtest.h>

#include "armor/error.h"
#include "armor/store/store_records.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

TEST(StoreRecordsTest, StatusRoundTripsThroughText) {
  for (const RunStatus status : {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed,
                                 RunStatus::diverged, RunStatus::interrupted}) {
    EXPECT_EQ(run_status_from_string(to_string(status)), status);
  }
  EXPECT_STREQ(to_string(RunStatus::interrupted), "interrupted");
  EXPECT_STREQ(to_string(RunStatus::failed), "failed");
  EXPECT_THROW(run_status_from_string("done"), StoreError);
}

TEST(ParamValueTest, DisplayStringQuotesStringsAndPrintsShortestNumbers) {
  EXPECT_EQ(to_display_string(ParamValue{true}), "true");
  EXPECT_EQ(to_display_string(ParamValue{false}), "false");
  EXPECT_EQ(to_display_string(ParamValue{std::int64_t{-3}}), "-3");
  EXPECT_EQ(to_display_string(ParamValue{0.1}), "0.1");
  EXPECT_EQ(to_display_string(ParamValue{1e-4}), "0.0001");
  EXPECT_EQ(to_display_string(ParamValue{std::string("abc")}), "\"abc\"");
  EXPECT_EQ(to_display_string(ParamValue{std::string("a\"b")}), "\"a\\\"b\"");
}

TEST(ParamValueTest, TypeNameNamesEachAlternative) {
  EXPECT_STREQ(type_name(ParamValue{true}), "boolean");
  EXPECT_STREQ(type_name(ParamValue{std::int64_t{1}}), "integer");
  EXPECT_STREQ(type_name(ParamValue{1.5}), "float");
  EXPECT_STREQ(type_name(ParamValue{std::string()}), "string");
}

}  // namespace
}  // namespace armor
