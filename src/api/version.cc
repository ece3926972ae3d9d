#include "gemma_rt/version.h"

namespace gemma {

const char* VersionString() { return "0.1.0"; }

}  // namespace gemma
