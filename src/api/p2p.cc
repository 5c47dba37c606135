// Point to point: check, post on the group's backend, wait unless asynchronous.
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

}  // namespace baton
