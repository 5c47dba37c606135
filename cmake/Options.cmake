# Every build switch of Baton, in one place.
option(BATON_BUILD_TESTS "Build the test suite (GoogleTest)" ON)
option(BATON_BUILD_BENCH "Build baton-bench and micro-benchmarks (Google Benchmark)" ON)
option(BATON_BUILD_EXAMPLES "Build the tutorial's examples" ON)
option(BATON_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
set(BATON_SANITIZE "" CACHE STRING "Sanitizers to build with, as -fsanitize= takes them: address,undefined or thread (empty: none; scripts/sanitize.sh)")

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

# The PyTorch backend (python/baton_torch: torch.distributed's backend
# "baton"), a C++ extension for Debian's python3-torch. AUTO builds it when
# /usr/bin/python3 (BATON_PYTHON3) imports torch and the pybind11 and torch
# headers are found. Sets BATON_HAVE_PYTORCH, BATON_PYTHON3 and
# BATON_PYTHON_PATH (where the package is built: add it to PYTHONPATH) for
# tests/ and examples/, and BATON_PYTHON_USERBASE: with PYTHONUSERBASE set to
# it, Python reads the build tree's baton_torch.pth as an installed one
# (python/CMakeLists.txt), so scripts work with no `import baton_torch`.
set(BATON_WITH_PYTORCH AUTO CACHE STRING "Build the PyTorch backend (python/baton_torch): ON, OFF or AUTO")
set_property(CACHE BATON_WITH_PYTORCH PROPERTY STRINGS AUTO ON OFF)
set(BATON_PYTHON3 /usr/bin/python3 CACHE FILEPATH "The Python that the PyTorch backend is built for and tested with")
set(BATON_PYTHON_PATH ${CMAKE_BINARY_DIR}/python)
set(BATON_PYTHON_USERBASE ${CMAKE_BINARY_DIR}/python-userbase)
set(BATON_HAVE_PYTORCH OFF)
if(NOT BATON_WITH_PYTORCH STREQUAL "OFF")
  set(_baton_pytorch_missing "")
  execute_process(
    COMMAND ${BATON_PYTHON3} -c "import sys, sysconfig, torch, os; print(sysconfig.get_paths()['include']); print(sysconfig.get_config_var('EXT_SUFFIX')); print('%d.%d' % sys.version_info[:2]); print(torch.__version__); print(os.path.dirname(torch.__file__))"
    RESULT_VARIABLE _baton_py_rc OUTPUT_VARIABLE _baton_py_out ERROR_VARIABLE _baton_py_err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_baton_py_rc EQUAL 0)
    string(REPLACE "\n" ";" _baton_py_out "${_baton_py_out}")
    list(GET _baton_py_out 0 BATON_PYTHON_INCLUDE_DIR)
    list(GET _baton_py_out 1 BATON_PYTHON_EXT_SUFFIX)
    list(GET _baton_py_out 2 BATON_PYTHON_VERSION)
    list(GET _baton_py_out 3 BATON_PYTORCH_VERSION)
    list(GET _baton_py_out 4 BATON_PYTORCH_DIR)
    if(NOT EXISTS ${BATON_PYTHON_INCLUDE_DIR}/Python.h)
      string(APPEND _baton_pytorch_missing " Python.h (apt-get install python3-dev)")
    endif()
  else()
    string(APPEND _baton_pytorch_missing " torch for ${BATON_PYTHON3} (apt-get install python3-torch)")
  endif()
  find_path(BATON_PYBIND11_INCLUDE_DIR pybind11/pybind11.h)
  find_path(BATON_TORCH_C10D_INCLUDE_DIR torch/csrc/distributed/c10d/ProcessGroup.hpp)
  find_library(BATON_LIBTORCH torch)
  find_library(BATON_LIBTORCH_CPU torch_cpu)
  find_library(BATON_LIBTORCH_PYTHON torch_python)
  find_library(BATON_LIBC10 c10)
  foreach(_what BATON_PYBIND11_INCLUDE_DIR BATON_TORCH_C10D_INCLUDE_DIR BATON_LIBTORCH
                BATON_LIBTORCH_CPU BATON_LIBTORCH_PYTHON BATON_LIBC10)
    if(NOT ${_what})
      string(APPEND _baton_pytorch_missing " ${_what}")
    endif()
  endforeach()
  if(_baton_pytorch_missing STREQUAL "")
    set(BATON_HAVE_PYTORCH ON)
    message(STATUS "Baton: PyTorch backend enabled (torch ${BATON_PYTORCH_VERSION}, Python ${BATON_PYTHON_VERSION})")
  elseif(BATON_WITH_PYTORCH STREQUAL "ON")
    message(FATAL_ERROR "BATON_WITH_PYTORCH=ON but not found:${_baton_pytorch_missing} "
                        "(Debian: apt-get install python3-torch pybind11-dev python3-dev)")
  else()
    message(STATUS "Baton: PyTorch backend skipped, not found:${_baton_pytorch_missing} "
                   "(apt-get install python3-torch pybind11-dev python3-dev)")
  endif()
endif()

# Job secrets (src/auth: HMAC-SHA-256 challenge-response on every store and
# transport connection, docs/security.md) need OpenSSL's libcrypto (Debian's
# libssl-dev). AUTO uses it when found; without it a configured secret is
# refused with an error saying so, and jobs run unauthenticated as before.
set(BATON_WITH_OPENSSL AUTO CACHE STRING "Authenticate with a job secret through libcrypto: ON, OFF or AUTO")
set_property(CACHE BATON_WITH_OPENSSL PROPERTY STRINGS AUTO ON OFF)
if(BATON_WITH_OPENSSL STREQUAL "ON")
  find_package(OpenSSL REQUIRED COMPONENTS Crypto)
elseif(BATON_WITH_OPENSSL STREQUAL "AUTO")
  find_package(OpenSSL QUIET COMPONENTS Crypto)
endif()
if(OpenSSL_FOUND AND NOT BATON_WITH_OPENSSL STREQUAL "OFF")
  set(BATON_HAVE_OPENSSL ON)
  message(STATUS "Baton: job secrets enabled (libcrypto ${OPENSSL_VERSION})")
else()
  set(BATON_HAVE_OPENSSL OFF)
  message(STATUS "Baton: libcrypto not found (apt-get install libssl-dev); job secrets refused")
endif()
