// Every float16 bit pattern as float32 (256 KiB), for the integer decode kernels
// (quant_matvec.cc, quant_matvec_batch.cc). They read one block scale per 32 values; a table
// load costs a fraction of vpinsrw + vcvtph2ps, and only the few hundred distinct scales of a
// matrix are touched, so they stay in L1/L2.
#pragma once

#include <cstdint>

#include "base/dtype.h"

namespace gemma::quant_matvec {

struct HalfTable {
  float values[65536];
  HalfTable() {
    for (uint32_t h = 0; h < 65536; ++h) values[h] = F16ToF32(static_cast<uint16_t>(h));
  }
};
inline const float* HalfToFloatTable() {
  static const HalfTable* table = new HalfTable();  // never freed: used until exit
  return table->values;
}

}  // namespace gemma::quant_matvec
