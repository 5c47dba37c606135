// The Store conformance suite, instantiated once per store.
#include "baton/file_store.hpp"
#include "baton/hash_store.hpp"
#include "baton/prefix_store.hpp"
#include "baton/tcp_store.hpp"
#include "tests/conformance/store_suite.hpp"

namespace baton::testing {
namespace {

constexpr std::chrono::milliseconds kTestTimeout = std::chrono::seconds(30);

class HashUnderTest : public StoreUnderTest {
 public:
  std::shared_ptr<Store> open() override { return store_; }

 private:
  std::shared_ptr<Store> store_ = std::make_shared<HashStore>(kTestTimeout);
};

class FileUnderTest : public StoreUnderTest {
 public:
  std::shared_ptr<Store> open() override {
    return std::make_shared<FileStore>(
        dir_.file("store"), FileStoreOptions{.timeout = kTestTimeout, .job_id = "conformance"});
  }

 private:
  TempDir dir_;
};

class TcpUnderTest : public StoreUnderTest {
 public:
  std::shared_ptr<Store> open() override {
    return std::make_shared<TcpStore>("127.0.0.1", server_.port(),
                                      TcpStoreOptions{.timeout = kTestTimeout});
  }

 private:
  TcpStoreServer server_{TcpStoreServerOptions{.host = "127.0.0.1", .port = 0}};
};

// PrefixStore over a TcpStore: each client wraps its own TcpStore client.
class PrefixUnderTest : public StoreUnderTest {
 public:
  std::shared_ptr<Store> open() override {
    return std::make_shared<PrefixStore>("group/7", tcp_.open());
  }

 private:
  TcpUnderTest tcp_;
};

template <class T>
StoreFactory factory(std::string name) {
  return {std::move(name), [] { return std::unique_ptr<StoreUnderTest>(std::make_unique<T>()); }};
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance,
                         ::testing::Values(factory<HashUnderTest>("HashStore"),
                                           factory<FileUnderTest>("FileStore"),
                                           factory<TcpUnderTest>("TcpStore"),
                                           factory<PrefixUnderTest>("PrefixStore")),
                         store_factory_name);

}  // namespace
}  // namespace baton::testing
