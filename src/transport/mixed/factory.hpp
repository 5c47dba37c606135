// The mixed transport: a group whose ranks span hosts, some of them sharing
// one (a routing Context over shm and tcp).
//
// make_mixed_context() builds a shm context among the ranks of this rank's
// host (ShmOptions::members) and a tcp context over the whole group, and
// routes each message:
//  - collective-channel messages to a same-host peer go over shm;
//  - everything else (collective messages to other hosts, and every p2p
//    message) goes over tcp.
// Keeping the whole p2p channel on tcp gives p2p one Matcher: a kAnySource
// receive sees messages from every peer, and messages between a pair with
// one tag keep their order. Collectives name their peer, so their messages
// are matched by (peer, seq, tag) in whichever transport reaches that peer;
// both ends agree on the route because they derive it from the same hosts.
//
// Topology: hosts() reports host_of, and host_area() the shm context's
// shared area (this host's ranks), for the hierarchical all_reduce.
//
// Failures and abort: abort() aborts both contexts (shm tells the host's
// peers, tcp every peer). A peer's abort arrives through tcp; it fails the
// tcp side at once and the shm side when that peer's same-host ranks abort
// in turn (the collective layer aborts its context on any failed request).
//
// Thread safety: as transport.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "transport/shm/factory.hpp"
#include "transport/tcp/factory.hpp"
#include "transport/transport.hpp"

namespace baton::transport {

// `host_of[r]`: the host of group rank r (hosts numbered 0, 1, ... in the
// order of their lowest rank; the same on every rank); the ranks whose host is
// this rank's share memory. Blocks and throws as make_shm_context and
// make_tcp_context do; InvalidArgument when host_of has not one entry per rank.
std::unique_ptr<Context> make_mixed_context(Store& store, const std::string& group_key, int rank,
                                            int size, const std::vector<int>& host_of,
                                            ShmOptions shm, const TcpOptions& tcp);

// Wraps two set-up contexts of one group (same rank and size); for tests.
std::unique_ptr<Context> make_routing_context(std::unique_ptr<Context> shm,
                                              std::unique_ptr<Context> tcp,
                                              std::vector<int> host_of);

}  // namespace baton::transport
