# armor_add_plugin() for plugins built out of tree against an installed armor (find_package(armor)).
# The same contract as the in-tree helper (cmake/ArmorHelpers.cmake): a MODULE library named
# armor_<name>.so, hidden visibility so that only its ARMOR_PLUGIN entry point is exported, linked
# to the installed armor::core. No precompiled header: that belongs to armor's own build tree.
#
#   find_package(armor REQUIRED)
#   armor_add_plugin(my_gate SOURCES my_gate.cpp [LIBRARIES <targets...>])
#
# The library lands in ${CMAKE_BINARY_DIR}/plugins (load it with `armor --plugin-path build/plugins`
# or ARMOR_PLUGIN_PATH); `cmake --install --prefix P` copies it to P/lib/armor/plugins, where an armor
# installed in the same prefix P finds it without options.
function(armor_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "armor_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE armor::core ${ARG_LIBRARIES})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  set_target_properties(${name} PROPERTIES
    PREFIX "armor_"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
  install(TARGETS ${name} LIBRARY DESTINATION lib/armor/plugins)
endfunction()
