// The native backend's factory: Baton's own engine over its transports.
//
// Thread safety: may be called from any thread.
#pragma once

#include <memory>

#include "backends/backend.hpp"
#include "backends/backend_config.hpp"

namespace baton::backends::native {

// Connects this rank to every other rank of the group (TCP today; the
// transport is chosen here) and returns the backend. Blocks until every
// connection is up or config.timeout passes (TimeoutError naming the ranks
// that never connected); ConnectionError when a peer refuses or breaks the
// connection; InvalidArgument for a malformed tunable.
std::shared_ptr<Backend> make_native_backend(const BackendConfig& config);

}  // namespace baton::backends::native
