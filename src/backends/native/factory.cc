// The native backend's factory: picks the transport and builds the backend.
#include "backends/native/factory.hpp"

#include "backends/native/native_backend.hpp"
#include "backends/native/op_format.hpp"
#include "transport/tcp/factory.hpp"

namespace baton::backends::native {

std::shared_ptr<Backend> make_native_backend(const BackendConfig& config) {
  transport::TcpOptions tcp;
  tcp.timeout = config.timeout;
  tcp.job_id = config.job_id;
  tcp.describe_op = &describe_op;
  auto context =
      transport::make_tcp_context(*config.store, config.group_key, config.rank, config.size, tcp);
  return std::make_shared<NativeBackend>(
      std::move(context),
      NativeOptions{
          .group_name = config.group_name, .timeout = config.timeout, .store = config.store});
}

}  // namespace baton::backends::native
