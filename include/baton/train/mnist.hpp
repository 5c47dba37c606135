// MNIST-format datasets (MNIST, Fashion-MNIST): images and labels of one split.
//
// load_mnist() reads the four standard IDX files from a directory, plain or
// gzip'd: train-images-idx3-ubyte, train-labels-idx1-ubyte for the training
// split, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte for the test split,
// each with or without a ".gz" suffix (the plain name wins when both exist).
// Debian's package dataset-fashion-mnist installs Fashion-MNIST in
// kDefaultMnistDir.
//
// Thread safety: load_mnist() is reentrant; an MnistSplit is a plain value
// (its tensors share memory when copied, see tensor.hpp).
#pragma once

#include <cstdint>
#include <filesystem>

#include "baton/tensor.hpp"

namespace baton::train {

inline constexpr const char* kDefaultMnistDir = "/usr/share/datasets/fashion-mnist";

struct MnistSplit {
  Tensor images;  // UInt8 [N, 28, 28], pixel values 0..255
  Tensor labels;  // UInt8 [N], class indices 0..9
  // N, the number of examples.
  int64_t size() const { return labels.numel(); }
};

// Loads the training split (train = true, 60000 examples for (Fashion-)MNIST)
// or the test split (10000). Blocks on file I/O only; no timeout.
// Errors: IoError naming the path when the directory or a file is missing,
// with a hint that Debian's package dataset-fashion-mnist provides the data
// (apt-get install dataset-fashion-mnist); ProtocolError when the files are not
// UInt8 images [N, 28, 28] and UInt8 labels [N] of the same N, or a label is
// not below 10; the errors of read_idx() for malformed files.
MnistSplit load_mnist(const std::filesystem::path& dir = kDefaultMnistDir, bool train = true);

}  // namespace baton::train
