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

}  // namespace baton::testing
