# How other programs find the installed library: omega.pc for pkg-config and the omega
# CMake package (find_package(omega) gives omega::omega, the shared library).
include(CMakePackageConfigHelpers)

# omega.pc finds the prefix from its own place, as the CMake package does, so an install
# moved elsewhere (`cmake --install build --prefix DIR`) needs no reconfigure.
set(OMEGA_PC_DIR ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH OMEGA_PC_PREFIX ${OMEGA_PC_DIR} ${CMAKE_INSTALL_PREFIX})
file(RELATIVE_PATH OMEGA_PC_INCLUDEDIR ${OMEGA_PC_DIR} ${CMAKE_INSTALL_FULL_INCLUDEDIR})
configure_file(${CMAKE_CURRENT_LIST_DIR}/omega.pc.in ${PROJECT_BINARY_DIR}/omega.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/omega.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(OMEGA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/omega)
install(EXPORT omegaTargets NAMESPACE omega:: DESTINATION ${OMEGA_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/omegaConfig.cmake.in ${PROJECT_BINARY_DIR}/omegaConfig.cmake
  INSTALL_DESTINATION ${OMEGA_CMAKE_DIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/omegaConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/omegaConfig.cmake ${PROJECT_BINARY_DIR}/omegaConfigVersion.cmake
  DESTINATION ${OMEGA_CMAKE_DIR})
