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
// The shared area off: every collective by messages through the shm rings.
BATON_INSTANTIATE_BACKEND_SUITE(NativeShmMessages,
                                {.name = "native_shm_messages",
                                 .backend = "native",
                                 .env = {{"BATON_TRANSPORT", "shm"},
                                         {"BATON_SHM_AREA_BYTES", "0"}}});
// A tiny shared area (192-byte buffers): every collective of more than a few
// elements runs in many chunks and wraps the area's buffers many times.
BATON_INSTANTIATE_BACKEND_SUITE(NativeShmSmallArea,
                                {.name = "native_shm_small_area",
                                 .backend = "native",
                                 .env = {{"BATON_TRANSPORT", "shm"},
                                         {"BATON_SHM_AREA_BYTES", "192"}}});

// Hosts of 2 ranks each (BATON_HOST_ID): from 3 ranks up the group spans
// hosts, with shared memory inside each and tcp between them.
BATON_INSTANTIATE_BACKEND_SUITE(NativeMixed, {.name = "native_mixed",
                                              .backend = "native",
                                              .env = {{"BATON_TRANSPORT", "auto"}},
                                              .ranks_per_host = 2});

// The same without shared areas: hierarchical all_reduce stages by messages.
BATON_INSTANTIATE_BACKEND_SUITE(NativeMixedMessages, {.name = "native_mixed_messages",
                                                      .backend = "native",
                                                      .env = {{"BATON_TRANSPORT", "auto"},
                                                              {"BATON_SHM_AREA_BYTES", "0"}},
                                                      .ranks_per_host = 2});

}  // namespace baton::testing
