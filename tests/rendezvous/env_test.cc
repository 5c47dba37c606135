// Rank, world size and store address from every launcher's variables, and
// the message of every missing or malformed one.
#include "rendezvous/env.hpp"

#include <gtest/gtest.h>

#include "baton/error.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::rendezvous {
namespace {

using baton::testing::ScopedEnv;

std::string discover_error(int rank = -1, int world_size = -1) {
  try {
    discover_rank_and_size(rank, world_size, "env://");
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

std::string master_error() {
  try {
    master_address_from_env();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

#define BATON_EXPECT_CONTAINS(text, fragment) \
  EXPECT_NE(std::string(text).find(fragment), std::string::npos) << "in: " << (text)

TEST(Env, TorchrunVariables) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", "2").set("WORLD_SIZE", "4");
  env.set("LOCAL_RANK", "0").set("LOCAL_WORLD_SIZE", "2");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 2);
  EXPECT_EQ(r.world_size, 4);
  EXPECT_EQ(r.rank_source, "RANK");
  EXPECT_EQ(r.size_source, "WORLD_SIZE");
  EXPECT_EQ(r.local_rank, 0);
  EXPECT_EQ(r.local_world_size, 2);
}

TEST(Env, OpenMpiVariables) {
  ScopedEnv env;
  env.clear_launcher_variables().set("OMPI_COMM_WORLD_RANK", "5").set("OMPI_COMM_WORLD_SIZE", "8");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1").set("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 5);
  EXPECT_EQ(r.world_size, 8);
  EXPECT_EQ(r.rank_source, "OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(r.local_rank, 1);
  EXPECT_EQ(r.local_world_size, 4);
}

TEST(Env, MpichHydraVariables) {
  ScopedEnv env;
  env.clear_launcher_variables().set("PMI_RANK", "1").set("PMI_SIZE", "3");
  env.set("MPI_LOCALRANKID", "1").set("MPI_LOCALNRANKS", "3");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.world_size, 3);
  EXPECT_EQ(r.size_source, "PMI_SIZE");
  EXPECT_EQ(r.local_rank, 1);
  EXPECT_EQ(r.local_world_size, 3);
}

TEST(Env, SlurmVariables) {
  ScopedEnv env;
  env.clear_launcher_variables().set("SLURM_PROCID", "6").set("SLURM_NTASKS", "7");
  env.set("SLURM_LOCALID", "2");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 6);
  EXPECT_EQ(r.world_size, 7);
  EXPECT_EQ(r.local_rank, 2);
  EXPECT_FALSE(r.local_world_size);  // derived from host identities later
}

TEST(Env, FirstFamilyWinsInOrder) {
  ScopedEnv env;
  env.clear_launcher_variables();
  env.set("SLURM_PROCID", "0").set("SLURM_NTASKS", "2").set("SLURM_LOCALID", "0");
  env.set("PMI_RANK", "1").set("PMI_SIZE", "3");
  EXPECT_EQ(discover_rank_and_size(-1, -1, "env://").rank_source, "PMI_RANK");
  env.set("OMPI_COMM_WORLD_RANK", "2").set("OMPI_COMM_WORLD_SIZE", "4");
  EXPECT_EQ(discover_rank_and_size(-1, -1, "env://").rank_source, "OMPI_COMM_WORLD_RANK");
  env.set("RANK", "3").set("WORLD_SIZE", "5");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.world_size, 5);
  EXPECT_FALSE(r.local_rank) << "SLURM_LOCALID must not pair with RANK";
}

TEST(Env, ExplicitValuesWin) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", "3").set("WORLD_SIZE", "4").set("LOCAL_RANK", "3");
  const RankAndSize r = discover_rank_and_size(1, 2, "env://");
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.world_size, 2);
  EXPECT_EQ(r.rank_source, "the rank argument");
  EXPECT_FALSE(r.local_rank) << "local values only come with a rank from the same launcher";
  // One explicit, the other from the environment.
  EXPECT_EQ(discover_rank_and_size(-1, 8, "env://").rank, 3);
  EXPECT_EQ(discover_rank_and_size(0, -1, "env://").world_size, 4);
}

TEST(Env, ExplicitWorldSizeWithoutEnvironment) {
  ScopedEnv env;
  env.clear_launcher_variables();
  const RankAndSize r = discover_rank_and_size(0, 1, "env://");
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.world_size, 1);
}

TEST(Env, MissingRankNamesEveryAlternative) {
  ScopedEnv env;
  env.clear_launcher_variables();
  BATON_EXPECT_CONTAINS(
      discover_error(),
      "env:// needs RANK (or OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID); none is set");
  BATON_EXPECT_CONTAINS(
      discover_error(-1, 4),
      "env:// needs RANK (or OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID); none is set");
}

TEST(Env, MissingWorldSizeNamesEveryAlternative) {
  ScopedEnv env;
  env.clear_launcher_variables();
  BATON_EXPECT_CONTAINS(
      discover_error(0, -1),
      "env:// needs WORLD_SIZE (or OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS); none is set");
}

TEST(Env, HalfAPairNamesTheMissingHalf) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", "0").set("SLURM_NTASKS", "2");
  BATON_EXPECT_CONTAINS(discover_error(), "env:// found RANK but not WORLD_SIZE");
  env.clear_launcher_variables().set("OMPI_COMM_WORLD_RANK", "0");
  BATON_EXPECT_CONTAINS(discover_error(),
                        "found OMPI_COMM_WORLD_RANK but not OMPI_COMM_WORLD_SIZE");
}

TEST(Env, MalformedValuesNameVariableAndValue) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", "abc").set("WORLD_SIZE", "4");
  BATON_EXPECT_CONTAINS(discover_error(), "RANK='abc' is not an integer");
  env.set("RANK", "1x");
  BATON_EXPECT_CONTAINS(discover_error(), "RANK='1x' is not an integer");
  env.set("RANK", "");
  BATON_EXPECT_CONTAINS(discover_error(), "RANK='' is not an integer");
  env.set("RANK", "1").set("WORLD_SIZE", "four");
  BATON_EXPECT_CONTAINS(discover_error(), "WORLD_SIZE='four' is not an integer");
  env.set("WORLD_SIZE", "99999999999");
  BATON_EXPECT_CONTAINS(discover_error(), "WORLD_SIZE='99999999999' is not an integer");
  env.set("WORLD_SIZE", "4").set("LOCAL_RANK", "x");
  BATON_EXPECT_CONTAINS(discover_error(), "LOCAL_RANK='x' is not an integer");
  env.unset("LOCAL_RANK").clear_launcher_variables().set("PMI_RANK", "0").set("PMI_SIZE", "2.5");
  BATON_EXPECT_CONTAINS(discover_error(), "PMI_SIZE='2.5' is not an integer");
}

TEST(Env, BlanksAroundNumbersAreAccepted) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", " 1 ").set("WORLD_SIZE", "2\n");
  const RankAndSize r = discover_rank_and_size(-1, -1, "env://");
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.world_size, 2);
}

TEST(Env, OutOfRangeValues) {
  ScopedEnv env;
  env.clear_launcher_variables().set("RANK", "4").set("WORLD_SIZE", "4");
  BATON_EXPECT_CONTAINS(discover_error(), "rank 4 is out of range for world size 4");
  BATON_EXPECT_CONTAINS(discover_error(), "rank from RANK, world size from WORLD_SIZE");
  env.set("RANK", "0").set("WORLD_SIZE", "0");
  BATON_EXPECT_CONTAINS(discover_error(), "WORLD_SIZE='0': the world size must be at least 1");
  env.set("RANK", "-1").set("WORLD_SIZE", "2");
  BATON_EXPECT_CONTAINS(discover_error(), "RANK='-1' is negative");
  env.set("RANK", "0").set("WORLD_SIZE", "-3");
  BATON_EXPECT_CONTAINS(discover_error(), "WORLD_SIZE='-3': the world size must be at least 1");
  env.set("WORLD_SIZE", "2").set("LOCAL_RANK", "2").set("LOCAL_WORLD_SIZE", "2");
  BATON_EXPECT_CONTAINS(discover_error(), "LOCAL_RANK=2 is out of range for LOCAL_WORLD_SIZE=2");
  env.set("LOCAL_RANK", "0").set("LOCAL_WORLD_SIZE", "3");
  BATON_EXPECT_CONTAINS(discover_error(), "LOCAL_WORLD_SIZE=3 exceeds WORLD_SIZE=2");
  env.set("LOCAL_WORLD_SIZE", "0");
  BATON_EXPECT_CONTAINS(discover_error(),
                        "LOCAL_WORLD_SIZE='0': the local world size must be at least 1");
}

TEST(Env, ExplicitValuesAreChecked) {
  ScopedEnv env;
  env.clear_launcher_variables();
  BATON_EXPECT_CONTAINS(discover_error(2, 2), "rank 2 is out of range for world size 2");
  BATON_EXPECT_CONTAINS(discover_error(2, 2), "rank from the rank argument");
  BATON_EXPECT_CONTAINS(discover_error(0, 0), "world_size 0 is invalid");
  BATON_EXPECT_CONTAINS(discover_error(0, -5), "world_size -5 is invalid");
  BATON_EXPECT_CONTAINS(discover_error(-2, 4), "rank -2 is invalid");
  env.set("WORLD_SIZE", "3");
  BATON_EXPECT_CONTAINS(discover_error(5, -1), "rank 5 is out of range for world size 3");
}

TEST(Env, MethodNameAppearsInMessages) {
  ScopedEnv env;
  env.clear_launcher_variables();
  try {
    discover_rank_and_size(-1, 2, "tcp://h:1");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    BATON_EXPECT_CONTAINS(e.what(), "tcp://h:1 needs RANK");
  }
}

TEST(Env, MasterAddress) {
  ScopedEnv env;
  env.clear_launcher_variables().set("MASTER_ADDR", "node7").set("MASTER_PORT", "29500");
  MasterAddress m = master_address_from_env();
  EXPECT_EQ(m.host, "node7");
  EXPECT_EQ(m.port, 29500);
  env.set("MASTER_ADDR", "[::1]");
  EXPECT_EQ(master_address_from_env().host, "::1");
  env.set("MASTER_ADDR", "fe80::2");
  EXPECT_EQ(master_address_from_env().host, "fe80::2");
}

TEST(Env, MasterAddressErrors) {
  ScopedEnv env;
  env.clear_launcher_variables().set("MASTER_PORT", "29500");
  BATON_EXPECT_CONTAINS(master_error(), "env:// needs MASTER_ADDR");
  BATON_EXPECT_CONTAINS(master_error(), "it is not set");
  env.set("MASTER_ADDR", "");
  BATON_EXPECT_CONTAINS(master_error(), "MASTER_ADDR='' is empty");
  env.set("MASTER_ADDR", "127.0.0.1").unset("MASTER_PORT");
  BATON_EXPECT_CONTAINS(master_error(), "env:// needs MASTER_PORT");
  env.set("MASTER_PORT", "abc");
  BATON_EXPECT_CONTAINS(master_error(), "MASTER_PORT='abc' is not an integer");
  env.set("MASTER_PORT", "0");
  BATON_EXPECT_CONTAINS(master_error(), "MASTER_PORT='0' is out of range 1..65535");
  env.set("MASTER_PORT", "65536");
  BATON_EXPECT_CONTAINS(master_error(), "MASTER_PORT='65536' is out of range 1..65535");
  env.set("MASTER_PORT", "65535");
  EXPECT_EQ(master_address_from_env().port, 65535);
}

}  // namespace
}  // namespace baton::rendezvous
