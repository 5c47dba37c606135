// IDX files and MNIST loading: round trips of every type code, plain and
// gzip'd, and every malformed-file error, each naming the path; the real
// Fashion-MNIST when Debian's dataset-fashion-mnist is installed.
#include "baton/train/idx.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "baton/train/mnist.hpp"
#include "tests/backends/suite_support.hpp"

namespace baton::train {
namespace {

using Bytes = std::vector<unsigned char>;
using baton::testing::JobDir;

// The header of an IDX file: magic 00 00 <code> <ndims>, then big-endian dims.
Bytes idx_header(unsigned char code, const std::vector<uint32_t>& dims) {
  Bytes out = {0, 0, code, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<unsigned char>(d >> shift));
  }
  return out;
}

// Appends `value`'s `width` low bytes, big-endian.
void put_be(Bytes& out, uint64_t value, int width) {
  for (int shift = (width - 1) * 8; shift >= 0; shift -= 8)
    out.push_back(static_cast<unsigned char>(value >> shift));
}

void write_file(const std::filesystem::path& path, const Bytes& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
      ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
    }
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs fn, expects an exception of type E whose message contains every needle.
template <class E>
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(what.find(needle), std::string::npos) << "'" << needle << "' not in: " << what;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

class IdxTest : public ::testing::TestWithParam<bool> {  // param: gzip
 protected:
  std::filesystem::path file(const std::string& name) const {
    return std::filesystem::path(dir_.path()) / (name + (GetParam() ? ".gz" : ""));
  }
  JobDir dir_;
};

TEST_P(IdxTest, EveryTypeCodeRoundTrips) {
  const bool gz = GetParam();
  {  // uint8 [2, 3]
    Bytes b = idx_header(0x08, {2, 3});
    for (int i = 0; i < 6; ++i) b.push_back(static_cast<unsigned char>(250 + i % 6));
    write_file(file("u8"), b, gz);
    IdxArray a = read_idx(file("u8"));
    EXPECT_EQ(a.dtype, DType::UInt8);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.data.shape(), a.shape);
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(a.data.data<uint8_t>()[static_cast<size_t>(i)], 250 + i % 6);
  }
  {  // int8 [4]
    Bytes b = idx_header(0x09, {4});
    for (int v : {-128, -1, 0, 127}) b.push_back(static_cast<unsigned char>(v));
    write_file(file("i8"), b, gz);
    IdxArray a = read_idx(file("i8"));
    EXPECT_EQ(a.dtype, DType::Int8);
    EXPECT_EQ(a.data.data<int8_t>()[0], -128);
    EXPECT_EQ(a.data.data<int8_t>()[1], -1);
    EXPECT_EQ(a.data.data<int8_t>()[3], 127);
  }
  {  // int16 widens to int32
    Bytes b = idx_header(0x0B, {3});
    for (int v : {-32768, -2, 32767}) put_be(b, static_cast<uint16_t>(v), 2);
    write_file(file("i16"), b, gz);
    IdxArray a = read_idx(file("i16"));
    EXPECT_EQ(a.dtype, DType::Int32);
    EXPECT_EQ(a.data.dtype(), DType::Int32);
    EXPECT_EQ(a.data.data<int32_t>()[0], -32768);
    EXPECT_EQ(a.data.data<int32_t>()[1], -2);
    EXPECT_EQ(a.data.data<int32_t>()[2], 32767);
  }
  {  // int32 [1, 2]
    Bytes b = idx_header(0x0C, {1, 2});
    put_be(b, static_cast<uint32_t>(-70000), 4);
    put_be(b, 0x01020304u, 4);
    write_file(file("i32"), b, gz);
    IdxArray a = read_idx(file("i32"));
    EXPECT_EQ(a.data.data<int32_t>()[0], -70000);
    EXPECT_EQ(a.data.data<int32_t>()[1], 0x01020304);
  }
  {  // float and double
    Bytes f = idx_header(0x0D, {2});
    put_be(f, std::bit_cast<uint32_t>(1.5f), 4);
    put_be(f, std::bit_cast<uint32_t>(-0.1f), 4);
    write_file(file("f32"), f, gz);
    IdxArray a = read_idx(file("f32"));
    EXPECT_EQ(a.dtype, DType::Float32);
    EXPECT_EQ(a.data.data<float>()[0], 1.5f);
    EXPECT_EQ(a.data.data<float>()[1], -0.1f);
    Bytes d = idx_header(0x0E, {1, 1, 1});
    put_be(d, std::bit_cast<uint64_t>(3.25e300), 8);
    write_file(file("f64"), d, gz);
    IdxArray b = read_idx(file("f64"));
    EXPECT_EQ(b.dtype, DType::Float64);
    EXPECT_EQ(b.shape, (std::vector<int64_t>{1, 1, 1}));
    EXPECT_EQ(b.data.data<double>()[0], 3.25e300);
  }
  {  // a zero dimension: no elements
    write_file(file("empty"), idx_header(0x08, {0, 28, 28}), gz);
    IdxArray a = read_idx(file("empty"));
    EXPECT_EQ(a.data.numel(), 0);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{0, 28, 28}));
  }
}

TEST_P(IdxTest, GzipIsToldByMagicNotByName) {
  // A gzip'd file without .gz and a plain one with it both load.
  const std::filesystem::path dir(dir_.path());
  Bytes b = idx_header(0x08, {3});
  b.insert(b.end(), {7, 8, 9});
  write_file(dir / "named-plain", b, true);
  write_file(dir / "named.gz", b, false);
  EXPECT_EQ(read_idx(dir / "named-plain").data.data<uint8_t>()[2], 9);
  EXPECT_EQ(read_idx(dir / "named.gz").data.data<uint8_t>()[2], 9);
}

TEST_P(IdxTest, WrongMagicAndUnknownTypeCode) {
  const bool gz = GetParam();
  Bytes bad = {1, 0, 0x08, 1, 0, 0, 0, 1, 5};
  write_file(file("magic"), bad, gz);
  expect_error<ProtocolError>([&] { read_idx(file("magic")); },
                              {file("magic").string(), "not an IDX file", "expected magic 00 00",
                               "found 0x01 0x00 0x08 0x01"});
  Bytes code = idx_header(0x0A, {1});
  code.push_back(0);
  write_file(file("code"), code, gz);
  expect_error<ProtocolError>([&] { read_idx(file("code")); },
                              {file("code").string(), "found 0x00 0x00 0x0a 0x01"});
  // A text file, as a mistaken path would give.
  const std::string text = "hello, this is not IDX\n";
  write_file(file("text"), Bytes(text.begin(), text.end()), gz);
  EXPECT_THROW(read_idx(file("text")), ProtocolError);
}

TEST_P(IdxTest, TruncatedFilesSaySoWithTheByteCounts) {
  const bool gz = GetParam();
  write_file(file("short-magic"), Bytes{0, 0}, gz);
  expect_error<ProtocolError>([&] { read_idx(file("short-magic")); },
                              {file("short-magic").string(), "truncated", "found 2 bytes"});
  Bytes dims = idx_header(0x08, {2, 2});
  dims.resize(9);  // half of the dimensions
  write_file(file("short-dims"), dims, gz);
  expect_error<ProtocolError>(
      [&] { read_idx(file("short-dims")); },
      {file("short-dims").string(), "truncated", "expected 8 bytes of dimensions, found 5"});
  Bytes data = idx_header(0x0C, {2, 10});  // 80 bytes of int32 due
  for (int i = 0; i < 70; ++i) data.push_back(1);
  write_file(file("short-data"), data, gz);
  if (gz) {  // the gzip'd one fits the compression bound, so the read finds the shortfall
    expect_error<ProtocolError>(
        [&] { read_idx(file("short-data")); },
        {file("short-data").string(), "truncated", "expected 80 bytes of elements, found 70"});
  } else {  // the plain one is refused from its size before reading
    expect_error<ProtocolError>(
        [&] { read_idx(file("short-data")); },
        {file("short-data").string(), "2 x 10 of int32", "expected at most 70 bytes"});
  }
}

TEST_P(IdxTest, LongerThanTheDimensionsIsAnError) {
  Bytes b = idx_header(0x08, {2});
  b.insert(b.end(), {1, 2, 3});
  write_file(file("long"), b, GetParam());
  expect_error<ProtocolError>(
      [&] { read_idx(file("long")); },
      {file("long").string(), "longer than its dimensions say", "expected 10 bytes"});
}

TEST_P(IdxTest, HugeDimensionsAreRefusedBeforeAllocating) {
  const bool gz = GetParam();
  // 2^32-1 cubed overflows 64 bits; 60000 x 28 x 28 needs 47 MB the file lacks.
  write_file(file("overflow"), idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}), gz);
  expect_error<ProtocolError>([&] { read_idx(file("overflow")); },
                              {file("overflow").string(), "need more data than the file can hold"});
  write_file(file("big"), idx_header(0x08, {60000, 28, 28}), gz);
  expect_error<ProtocolError>([&] { read_idx(file("big")); },
                              {file("big").string(), "60000 x 28 x 28", "expected at most"});
}

TEST_P(IdxTest, MissingFileIsAnIoErrorNamingIt) {
  expect_error<IoError>([&] { read_idx(file("absent")); },
                        {file("absent").string(), "no such file"});
  expect_error<IoError>([&] { read_idx(dir_.path()); }, {dir_.path(), "not a regular file"});
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Gzip" : "Plain";
                         });

TEST(IdxGzipTest, CorruptAndCutStreamsAreProtocolErrors) {
  JobDir dir;
  const std::filesystem::path good = std::filesystem::path(dir.path()) / "good.gz";
  Bytes b = idx_header(0x08, {4000});
  for (int i = 0; i < 4000; ++i) b.push_back(static_cast<unsigned char>(i * 7919 % 251));
  write_file(good, b, true);
  Bytes gz = read_file(good);
  ASSERT_GT(gz.size(), 40u);

  const std::filesystem::path cut = std::filesystem::path(dir.path()) / "cut.gz";
  write_file(cut, Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)),
             false);
  expect_error<ProtocolError>([&] { read_idx(cut); }, {cut.string()});

  const std::filesystem::path corrupt = std::filesystem::path(dir.path()) / "corrupt.gz";
  Bytes flipped = gz;
  flipped[gz.size() - 6] ^= 0xFF;  // inside the CRC-32 trailer
  write_file(corrupt, flipped, false);
  expect_error<ProtocolError>([&] { read_idx(corrupt); }, {corrupt.string(), "zlib"});
}

// MNIST: a small fake in a temp directory, then the real one when installed.
TEST(MnistTest, LoadsSplitsFromADirectoryPlainOrGzip) {
  JobDir dir;
  const std::filesystem::path d(dir.path());
  Bytes images = idx_header(0x08, {3, 28, 28});
  for (int i = 0; i < 3 * 28 * 28; ++i) images.push_back(static_cast<unsigned char>(i % 256));
  Bytes labels = idx_header(0x08, {3});
  labels.insert(labels.end(), {9, 0, 4});
  write_file(d / "train-images-idx3-ubyte.gz", images, true);
  write_file(d / "train-labels-idx1-ubyte", labels, false);
  MnistSplit split = load_mnist(d, true);
  EXPECT_EQ(split.size(), 3);
  EXPECT_EQ(split.images.shape(), (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(split.images.data<uint8_t>()[300], 300 % 256);
  EXPECT_EQ(split.labels.data<uint8_t>()[0], 9);

  // The test split's files are missing: the error names them and the package.
  expect_error<IoError>([&] { load_mnist(d, false); },
                        {(d / "t10k-images-idx3-ubyte").string(), "t10k-images-idx3-ubyte.gz",
                         "dataset-fashion-mnist", "apt-get install dataset-fashion-mnist"});
  expect_error<IoError>([&] { load_mnist(d / "nowhere", true); },
                        {(d / "nowhere").string(), "does not exist", "dataset-fashion-mnist"});

  // Counts that disagree, wrong image size, a label out of range.
  Bytes four = idx_header(0x08, {4});
  four.insert(four.end(), {1, 2, 3, 4});
  write_file(d / "t10k-images-idx3-ubyte", images, false);
  write_file(d / "t10k-labels-idx1-ubyte", four, false);
  expect_error<ProtocolError>([&] { load_mnist(d, false); },
                              {"3 images", "4 labels", "expected as many"});
  Bytes bad_label = idx_header(0x08, {3});
  bad_label.insert(bad_label.end(), {1, 10, 3});
  write_file(d / "t10k-labels-idx1-ubyte", bad_label, false);
  expect_error<ProtocolError>([&] { load_mnist(d, false); }, {"label 1 is 10", "0..9"});
  Bytes small = idx_header(0x08, {3, 2, 2});
  small.resize(small.size() + 12, 1);
  write_file(d / "t10k-images-idx3-ubyte", small, false);
  expect_error<ProtocolError>([&] { load_mnist(d, false); }, {"[N, 28, 28]", "uint8 [3, 2, 2]"});
}

TEST(MnistTest, RealFashionMnistWhenInstalled) {
  if (!std::filesystem::exists(kDefaultMnistDir)) {
    GTEST_SKIP() << kDefaultMnistDir << " is absent (apt-get install dataset-fashion-mnist)";
  }
  for (bool train : {true, false}) {
    MnistSplit split = load_mnist(kDefaultMnistDir, train);
    const int64_t n = train ? 60000 : 10000;
    EXPECT_EQ(split.size(), n);
    EXPECT_EQ(split.images.shape(), (std::vector<int64_t>{n, 28, 28}));
    std::vector<int64_t> per_class(10, 0);
    for (uint8_t label : split.labels.data<uint8_t>()) {
      ASSERT_LT(label, 10);
      ++per_class[label];
    }
    for (int64_t count : per_class) EXPECT_EQ(count, n / 10);  // Fashion-MNIST is balanced
    int64_t nonzero = 0;
    for (uint8_t pixel : split.images.data<uint8_t>()) nonzero += pixel != 0;
    EXPECT_GT(nonzero, n * 28 * 28 / 4);
  }
}

}  // namespace
}  // namespace baton::train
