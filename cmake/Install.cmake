# Install the library, its headers, the tools and an exported CMake package so
# that find_package(baton) + target_link_libraries(x baton::baton) works
# (baton::train for the training layer, which brings zlib).
include(CMakePackageConfigHelpers)

install(TARGETS baton baton_train EXPORT batonTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/baton DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT batonTargets NAMESPACE baton:: FILE batonTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/batonConfig.cmake.in
  ${PROJECT_BINARY_DIR}/batonConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/batonConfig.cmake ${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)

# The PyTorch backend: the baton_torch package and its import hook, in
# Debian's layout (under the default /usr/local prefix Debian's python3 finds
# <prefix>/lib/python3/dist-packages with no setting). Component "python":
# `cmake --install build --component python` installs this part alone.
if(BATON_HAVE_PYTORCH)
  set(BATON_PYTHON_INSTALL_DIR lib/python3/dist-packages CACHE STRING
      "Where cmake --install puts the baton_torch package, relative to the prefix")
  install(TARGETS baton_torch_py LIBRARY DESTINATION ${BATON_PYTHON_INSTALL_DIR}/baton_torch
          COMPONENT python)
  install(FILES ${PROJECT_SOURCE_DIR}/python/baton_torch/__init__.py
          DESTINATION ${BATON_PYTHON_INSTALL_DIR}/baton_torch COMPONENT python)
  install(FILES ${PROJECT_SOURCE_DIR}/python/_baton_torch_hook.py
                ${PROJECT_SOURCE_DIR}/python/baton_torch.pth
          DESTINATION ${BATON_PYTHON_INSTALL_DIR} COMPONENT python)
  # Every Python start-up imports the hook: give it its .pyc (see python/CMakeLists.txt).
  install(CODE "execute_process(COMMAND ${BATON_PYTHON3} -m compileall -q
                  \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${BATON_PYTHON_INSTALL_DIR}/_baton_torch_hook.py
                  \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${BATON_PYTHON_INSTALL_DIR}/baton_torch)"
          COMPONENT python)
endif()
