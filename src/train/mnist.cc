// load_mnist: finds the split's two IDX files, reads them and checks that
// they are images and labels of one dataset.
#include "baton/train/mnist.hpp"

#include <string>
#include <system_error>

#include "baton/error.hpp"
#include "baton/train/idx.hpp"

namespace baton::train {
namespace {

const std::string kPackageHint =
    "Debian's package dataset-fashion-mnist provides Fashion-MNIST in " +
    std::string(kDefaultMnistDir) + " (apt-get install dataset-fashion-mnist)";

// dir/name, or dir/name.gz when only that exists.
std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  const std::filesystem::path plain = dir / name;
  if (std::filesystem::exists(plain, ec)) return plain;
  const std::filesystem::path gz = dir / (name + ".gz");
  if (std::filesystem::exists(gz, ec)) return gz;
  throw IoError("load_mnist: neither '" + plain.string() + "' nor '" + gz.string() + "' exists; " +
                kPackageHint);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

MnistSplit load_mnist(const std::filesystem::path& dir, bool train) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw IoError("load_mnist: the data directory '" + dir.string() + "' does not exist; " +
                  kPackageHint);
  }
  const std::string prefix = train ? "train" : "t10k";
  const std::filesystem::path images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::filesystem::path labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");

  IdxArray images = read_idx(images_path);
  if (images.dtype != DType::UInt8 || images.shape.size() != 3 || images.shape[1] != 28 ||
      images.shape[2] != 28) {
    throw ProtocolError("load_mnist: '" + images_path.string() +
                        "': expected uint8 images of shape [N, 28, 28], found " +
                        std::string(dtype_name(images.dtype)) + " " + shape_str(images.shape));
  }
  IdxArray labels = read_idx(labels_path);
  if (labels.dtype != DType::UInt8 || labels.shape.size() != 1) {
    throw ProtocolError("load_mnist: '" + labels_path.string() +
                        "': expected uint8 labels of shape [N], found " +
                        std::string(dtype_name(labels.dtype)) + " " + shape_str(labels.shape));
  }
  if (labels.shape[0] != images.shape[0]) {
    throw ProtocolError("load_mnist: " + std::to_string(images.shape[0]) + " images in '" +
                        images_path.string() + "' but " + std::to_string(labels.shape[0]) +
                        " labels in '" + labels_path.string() + "'; expected as many of each");
  }
  const auto label_values = labels.data.data<uint8_t>();
  for (size_t i = 0; i < label_values.size(); ++i) {
    if (label_values[i] >= 10) {
      throw ProtocolError("load_mnist: '" + labels_path.string() + "': label " + std::to_string(i) +
                          " is " + std::to_string(label_values[i]) +
                          "; expected a class index 0..9");
    }
  }
  return MnistSplit{.images = images.data, .labels = labels.data};
}

}  // namespace baton::train
