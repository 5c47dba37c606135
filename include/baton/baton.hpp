// Baton: torch.distributed's programming model as a C++20 library.
//
// Include this one header. The pieces, bottom to top: tensors and reduce ops
// (tensor.hpp, reduce_op.hpp), errors (error.hpp), key-value stores for
// rendezvous (store.hpp and its implementations), the process groups,
// point-to-point and collectives of torch.distributed (distributed.hpp,
// group.hpp, work.hpp), and the launcher's C++ entry point (launch.hpp). See
// README.md for a tour.
#pragma once

#include "baton/device.hpp"
#include "baton/distributed.hpp"
#include "baton/dtype.hpp"
#include "baton/error.hpp"
#include "baton/group.hpp"
#include "baton/launch.hpp"
#include "baton/reduce_op.hpp"
#include "baton/file_store.hpp"
#include "baton/hash_store.hpp"
#include "baton/prefix_store.hpp"
#include "baton/store.hpp"
#include "baton/tcp_store.hpp"
#include "baton/tensor.hpp"
#include "baton/work.hpp"
