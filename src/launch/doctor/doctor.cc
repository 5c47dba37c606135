// run_checks and run_doctor (launch/doctor.hpp): every group of checks in
// table order, then the table.
#include <exception>

#include "launch/doctor/checks.hpp"

namespace baton::launch {
namespace {

// One group's rows; a group that throws (a bug) becomes one failed row, so
// the other groups still run.
void add_group(std::vector<DoctorRow>& rows, const char* group,
               doctor::Rows (*checks)(const DoctorOptions&), const DoctorOptions& options) {
  try {
    for (DoctorRow& row : checks(options)) rows.push_back(std::move(row));
  } catch (const std::exception& e) {
    rows.push_back(doctor::fail(group, std::string("the check itself failed: ") + e.what(),
                                "report this as a Baton bug"));
  }
}

std::string heading(const DoctorOptions& o) {
  const int world = o.nnodes * o.nproc_per_node;
  std::string master = o.master_port == 0 ? o.master_addr + " (store on a free port)"
                                          : o.master_addr + ":" + std::to_string(o.master_port);
  return "baton-run --doctor: node " + std::to_string(o.node_rank) + " of " +
         std::to_string(o.nnodes) + (o.hosts_master ? " (runs rank 0)" : "") + ", " +
         std::to_string(o.nproc_per_node) + (o.nproc_per_node == 1 ? " rank" : " ranks") +
         " here, world size " + std::to_string(world) + ", master " + master + "\n";
}

}  // namespace

std::vector<DoctorRow> run_checks(const DoctorOptions& options) {
  std::vector<DoctorRow> rows;
  add_group(rows, "network", &doctor::network_checks, options);
  add_group(rows, "limits", &doctor::limits_checks, options);
  add_group(rows, "shm", &doctor::shm_checks, options);
  add_group(rows, "build", &doctor::build_checks, options);
  add_group(rows, "sample", &doctor::sample_checks, options);
  return rows;
}

int run_doctor(const DoctorOptions& options, std::FILE* out) {
  std::fputs(heading(options).c_str(), out);
  std::fflush(out);
  const std::vector<DoctorRow> rows = run_checks(options);
  std::fputs(format_table(rows).c_str(), out);
  std::fflush(out);
  return rows_pass(rows) ? 0 : 1;
}

}  // namespace baton::launch
