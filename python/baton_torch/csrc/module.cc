// baton_torch._C: the Python module that exposes ProcessGroupBaton to
// torch.distributed (baton_torch/__init__.py registers it as "baton").
//
// The class derives from torch's pybind11-bound c10d.ProcessGroup, so torch
// dispatches every collective to it as to its own backends; it needs
// torch.distributed's bindings loaded first, which this module does on
// import. The constructor (the rendezvous) runs without the GIL.
//
// Thread safety: as ProcessGroupBaton.
#include <pybind11/chrono.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "process_group.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "Baton as torch.distributed's backend \"baton\" (see baton_torch)";
  py::module_::import("torch.distributed");

  py::class_<baton_torch::ProcessGroupBaton, c10d::ProcessGroup,
             c10::intrusive_ptr<baton_torch::ProcessGroupBaton>>(m, "ProcessGroupBaton", R"(
A torch.distributed process group run by Baton. Made by torch through
init_process_group(backend="baton") or new_group(backend="baton").)")
      .def(py::init<const c10::intrusive_ptr<c10d::Store>&, int, int, std::chrono::milliseconds,
                    const std::string&, const std::vector<int64_t>&>(),
           py::arg("store"), py::arg("rank"), py::arg("size"), py::arg("timeout"),
           py::arg("group_id") = "", py::arg("global_ranks") = std::vector<int64_t>{},
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("transports", &baton_torch::ProcessGroupBaton::transports,
                             "What reaches each member, by group rank: self, shm or tcp.");
}
