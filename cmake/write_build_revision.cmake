# Writes OUTPUT: a header that defines ARMOR_BUILD_REVISION, `git describe --always --dirty` of
# SOURCE_DIR ("unknown" outside a git checkout). Run at every build (core/host/CMakeLists.txt), and
# rewritten only when the revision changed, so that an unchanged tree rebuilds nothing. A run records
# this revision: the code it ran, not whatever the source tree holds by the time it runs.
execute_process(COMMAND git -C "${SOURCE_DIR}" describe --always --dirty
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR revision STREQUAL "")
  set(revision "unknown")
endif()
string(CONCAT text "#pragma once\n// Generated at build time by cmake/write_build_revision.cmake.\n"
                   "#define ARMOR_BUILD_REVISION \"${revision}\"\n")
set(old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
