# Helpers shared by every target of the project: warnings, plugins, tests.

# armor_set_warnings(target): the project's warning level; zero warnings is the rule.
function(armor_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(ARMOR_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# One precompiled header of LibTorch shared by every plugin (built with the plugins' flags).
function(armor_plugin_pch_target)
  if(NOT TARGET armor_plugin_pch)
    add_library(armor_plugin_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
    target_link_libraries(armor_plugin_pch PRIVATE armor::core)
    set_target_properties(armor_plugin_pch PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    target_precompile_headers(armor_plugin_pch PRIVATE <torch/torch.h>)
  endif()
endfunction()

# armor_add_plugin(<name> SOURCES <files...> [LIBRARIES <targets...>])
# Builds a plugin: a MODULE library with hidden visibility (only the entry point is exported),
# written to the one plugins folder the host searches by default.
function(armor_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "armor_add_plugin(${name}): SOURCES is required")
  endif()
  armor_plugin_pch_target()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE armor::core ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX "armor_"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${ARMOR_PLUGIN_OUTPUT_DIR})
  target_precompile_headers(${name} REUSE_FROM armor_plugin_pch)
  armor_set_warnings(${name})
  set_property(GLOBAL APPEND PROPERTY ARMOR_PLUGIN_TARGETS ${name})
endfunction()

# armor_add_test(<name> SOURCES <files...> [LIBRARIES <targets...>] [TORCH] [HOST])
# One GoogleTest executable per test file, registered with CTest under <name>. TORCH reuses the
# tests' shared LibTorch precompiled header; HOST links the torch-free host library only (a test
# of core/host that must not need LibTorch), otherwise the run side and everything below it.
function(armor_add_test name)
  cmake_parse_arguments(ARG "TORCH;HOST" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  if(ARG_HOST)
    target_link_libraries(${name} PRIVATE armor::host GTest::gtest GTest::gtest_main ${ARG_LIBRARIES})
  else()
    target_link_libraries(${name} PRIVATE armor::run GTest::gtest GTest::gtest_main ${ARG_LIBRARIES})
  endif()
  target_compile_definitions(${name} PRIVATE
    ARMOR_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}"
    ARMOR_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(ARG_TORCH)
    if(NOT TARGET armor_test_pch)
      add_library(armor_test_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
      target_link_libraries(armor_test_pch PRIVATE armor::core GTest::gtest)
      target_precompile_headers(armor_test_pch PRIVATE <torch/torch.h> <gtest/gtest.h>)
      # The header must be compiled with the executables' code-model flags to be usable.
      set_target_properties(armor_test_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    endif()
    set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_precompile_headers(${name} REUSE_FROM armor_test_pch)
  endif()
  armor_set_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600)
endfunction()
