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

# The mpi backend: ON when MPI (C bindings, reached through the CXX component)
# is found, OFF otherwise; the rest of the library never needs MPI.
find_package(MPI COMPONENTS CXX QUIET)
if(MPI_CXX_FOUND)
  set(_baton_with_mpi_default ON)
else()
  set(_baton_with_mpi_default OFF)
endif()
option(BATON_WITH_MPI "Build the mpi backend (default: ON when find_package(MPI) finds MPI)"
       ${_baton_with_mpi_default})
if(BATON_WITH_MPI AND NOT MPI_CXX_FOUND)
  message(FATAL_ERROR "BATON_WITH_MPI=ON but MPI was not found (Debian: apt-get install libopenmpi-dev openmpi-bin)")
endif()
# The C library alone (libmpi), without the MPI-2 C++ bindings' library.
if(MPI_mpi_LIBRARY)
  set(BATON_MPI_LIBRARIES ${MPI_mpi_LIBRARY})
else()
  set(BATON_MPI_LIBRARIES ${MPI_CXX_LIBRARIES})
endif()
