# Every build switch of Baton, in one place.
option(BATON_BUILD_TESTS "Build the test suite (GoogleTest)" ON)
option(BATON_BUILD_BENCH "Build baton-bench and micro-benchmarks (Google Benchmark)" ON)
option(BATON_BUILD_EXAMPLES "Build the tutorial's examples" ON)
option(BATON_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
option(BATON_SANITIZE "Sanitizer to build with: address, thread or undefined (empty: none)" "")
