// The backend conformance suite's instantiations: one line per backend (and
// transport). A new backend is done when its line passes.
#include "tests/backends/backend_suite.hpp"

namespace baton::testing {

BATON_INSTANTIATE_BACKEND_SUITE(NativeTcp, {.name = "native_tcp",
                                            .backend = "native",
                                            .env = {{"BATON_TRANSPORT", "tcp"}}});
BATON_INSTANTIATE_BACKEND_SUITE(NativeShm, {.name = "native_shm",
                                            .backend = "native",
                                            .env = {{"BATON_TRANSPORT", "shm"}}});
// Every all_reduce through the direct-read algorithm, whatever its size.
BATON_INSTANTIATE_BACKEND_SUITE(NativeShmDirectRead,
                                {.name = "native_shm_direct_read",
                                 .backend = "native",
                                 .env = {{"BATON_TRANSPORT", "shm"},
                                         {"BATON_ALGO_ALL_REDUCE", "direct_read"}}});

}  // namespace baton::testing
