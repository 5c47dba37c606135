// Point to point: check, post on the group's backend, wait unless asynchronous.
#include <string>

#include "api/checks.hpp"
#include "baton/distributed.hpp"

namespace baton {

Work send(const Tensor& tensor, int dst, const Group& group, int tag) {
  Work work = api::check_send("send", tensor, dst, group)->send(tensor, dst, tag);
  work.wait();
  return work;
}

Work recv(Tensor& tensor, int src, const Group& group, int tag) {
  Work work = api::check_recv("recv", tensor, src, group)->recv(tensor, src, tag);
  work.wait();
  return work;
}

Work isend(const Tensor& tensor, int dst, const Group& group, int tag) {
  return api::check_send("isend", tensor, dst, group)->send(tensor, dst, tag);
}

Work irecv(Tensor& tensor, int src, const Group& group, int tag) {
  return api::check_recv("irecv", tensor, src, group)->recv(tensor, src, tag);
}

std::vector<Work> batch_isend_irecv(const std::vector<P2POp>& ops) {
  std::vector<api::BackendPtr> backends;
  backends.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    const Group group = op.group.state() ? op.group : world();
    const bool send = op.op == P2POp::Kind::isend;
    const std::string name =
        "batch_isend_irecv: ops[" + std::to_string(i) + "] (" + (send ? "isend" : "irecv") + ")";
    backends.push_back(send ? api::check_send(name, op.tensor, op.peer, group)
                            : api::check_recv(name, op.tensor, op.peer, group));
  }
  std::vector<Work> works;
  works.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    Tensor tensor = op.tensor;
    works.push_back(op.op == P2POp::Kind::isend ? backends[i]->send(tensor, op.peer, op.tag)
                                                : backends[i]->recv(tensor, op.peer, op.tag));
  }
  return works;
}

}  // namespace baton
