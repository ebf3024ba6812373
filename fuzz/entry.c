/* entry: libFuzzer's entry point for one harness. The build compiles this file once per harness with
 * -DFUZZ_TARGET=fuzz_NAME and links it with that harness (see make fuzz). */
#include "fuzz/fuzz.h"

#ifndef FUZZ_TARGET
#error "compile with -DFUZZ_TARGET=fuzz_NAME"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return FUZZ_TARGET(data, size); }
