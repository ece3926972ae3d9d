#include "base/error.h"

namespace gemma {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kIo:
      return "I/O error";
    case ErrorCode::kFormat:
      return "format error";
    case ErrorCode::kShape:
      return "shape error";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kOutOfRange:
      return "out of range";
    case ErrorCode::kInternal:
      return "internal error";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
  }
  return "error";
}

}  // namespace gemma
