// IDX files: the format of the MNIST family of datasets, plain or gzip'd.
//
// An IDX file is a 4-byte magic (two zero bytes, a type code, the number of
// dimensions), one big-endian uint32 per dimension, then the elements in
// row-major order, big-endian. read_idx() accepts the file as it is or
// compressed with gzip; it tells the two apart by the gzip magic (1f 8b), not
// by the file name. Type codes and the DType they load as:
//   0x08 unsigned byte -> UInt8     0x0C int32  -> Int32
//   0x09 signed byte   -> Int8      0x0D float  -> Float32
//   0x0B int16         -> Int32 (widened; Baton has no 16-bit integers)
//   0x0E double        -> Float64
//
// The header is checked before anything is allocated: the element count must
// not overflow, must fit in what the file can hold (its size when plain; its
// compressed size times zlib's largest ratio, 1032, when gzip'd) and under
// kMaxIdxBytes.
//
// Thread safety: read_idx() is reentrant; concurrent calls on different or
// the same files are safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "baton/dtype.hpp"
#include "baton/tensor.hpp"

namespace baton::train {

// The largest element data read_idx() accepts (16 GiB).
inline constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 34;

struct IdxArray {
  DType dtype = DType::UInt8;  // as loaded (int16 files load as Int32)
  std::vector<int64_t> shape;  // the file's dimensions
  Tensor data;                 // owning, CPU, of that shape and dtype
};

// Reads a whole IDX file, plain or gzip'd. Blocks on file I/O only; no timeout.
// Errors: IoError when the file cannot be opened or read (naming the path and
// the OS's reason); ProtocolError naming the path, what was expected and what
// was found when the magic is wrong, the type code unknown, the dimensions
// overflow or exceed what the file can hold, the data is truncated or longer
// than the dimensions say, or the gzip stream is corrupt.
IdxArray read_idx(const std::filesystem::path& path);

}  // namespace baton::train
