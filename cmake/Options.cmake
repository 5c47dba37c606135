# Every build switch of Baton, in one place.
option(BATON_BUILD_TESTS "Build the test suite (GoogleTest)" ON)
option(BATON_BUILD_BENCH "Build baton-bench and micro-benchmarks (Google Benchmark)" ON)
option(BATON_BUILD_EXAMPLES "Build the tutorial's examples" ON)
option(BATON_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
option(BATON_SANITIZE "Sanitizer to build with: address, thread or undefined (empty: none)" "")

# The LibTorch adapter (baton::torch) and the MNIST training example: AUTO
# builds them when LibTorch (Debian's libtorch-dev) is found.
set(BATON_WITH_TORCH AUTO CACHE STRING "Build the LibTorch adapter and MNIST example: ON, OFF or AUTO")
set_property(CACHE BATON_WITH_TORCH PROPERTY STRINGS AUTO ON OFF)
if(BATON_WITH_TORCH STREQUAL "ON")
  find_package(Torch REQUIRED)
elseif(BATON_WITH_TORCH STREQUAL "AUTO")
  find_package(Torch QUIET)
endif()
if(Torch_FOUND AND NOT BATON_WITH_TORCH STREQUAL "OFF")
  set(BATON_HAVE_TORCH ON)
  message(STATUS "Baton: LibTorch adapter and MNIST example enabled")
else()
  set(BATON_HAVE_TORCH OFF)
  message(STATUS "Baton: LibTorch not found (apt-get install libtorch-dev); adapter and MNIST example skipped")
endif()
