# `cmake --install build --prefix P` puts in P:
#   bin/armor                                  the host program (finds its libraries and plugins relative to itself)
#   lib/libarmor.so, lib/libarmor_base.so      the SDK libraries (LibTorch half, torch-free half)
#   lib/libarmor_host.so, lib/libarmor_run.so  the program's own libraries (no headers installed)
#   lib/armor/plugins/armor_*.so               the plugins
#   include/armor/...                          the SDK headers, and only those
#   lib/cmake/armor/                           the CMake package: find_package(armor), armor::core, armor_add_plugin()
#   share/armor/experiments/                   the experiments and config groups
#   share/bash-completion/completions/armor    bash completion
# Layout relative to P is fixed, so that an installed tree can be moved as a whole.

include(CMakePackageConfigHelpers)

set(ARMOR_INSTALL_CMAKE_DIR lib/cmake/armor)
set(ARMOR_PLUGIN_INSTALL_DIR lib/armor/plugins)

set_target_properties(armor_core PROPERTIES EXPORT_NAME core)
set_target_properties(armor_base PROPERTIES EXPORT_NAME base)
install(TARGETS armor_base armor_core EXPORT armorTargets LIBRARY DESTINATION lib)
install(DIRECTORY core/sdk/include/armor DESTINATION include)
set_target_properties(armor_host armor_run PROPERTIES INSTALL_RPATH "$ORIGIN")
install(TARGETS armor_host armor_run LIBRARY DESTINATION lib)

set_target_properties(armor PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")
install(TARGETS armor RUNTIME DESTINATION bin)

get_property(armor_installed_plugins GLOBAL PROPERTY ARMOR_PLUGIN_TARGETS)
set_target_properties(${armor_installed_plugins} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
install(TARGETS ${armor_installed_plugins} LIBRARY DESTINATION ${ARMOR_PLUGIN_INSTALL_DIR})

install(DIRECTORY experiments/ DESTINATION share/armor/experiments)
install(FILES tools/armor-completion.bash DESTINATION share/bash-completion/completions RENAME armor)

install(EXPORT armorTargets NAMESPACE armor:: DESTINATION ${ARMOR_INSTALL_CMAKE_DIR})
configure_package_config_file(cmake/armorConfig.cmake.in ${CMAKE_BINARY_DIR}/cmake/armorConfig.cmake
                              INSTALL_DESTINATION ${ARMOR_INSTALL_CMAKE_DIR}
                              PATH_VARS ARMOR_PLUGIN_INSTALL_DIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/armorConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/armorConfig.cmake ${CMAKE_BINARY_DIR}/cmake/armorConfigVersion.cmake
              cmake/ArmorPluginPackage.cmake
        DESTINATION ${ARMOR_INSTALL_CMAKE_DIR})
