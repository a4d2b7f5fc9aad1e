/*
 * The kernel table: every K(name) line of kernels_core.def, then of kernels_attn.def, in file
 * order. The TypeScript side (src/ml/nn/kernels.ts) reads the names once at load time and calls
 * by index, so adding a kernel needs no change here or in the glue.
 */
#include <stdint.h>

typedef void (*nn_kernel)(float *base, const int32_t *ia, const float *fa);

#define K(name) void nn_##name(float *base, const int32_t *ia, const float *fa);
#include "kernels_core.def"
#include "kernels_attn.def"
#undef K

static const nn_kernel table[] = {
#define K(name) nn_##name,
#include "kernels_core.def"
#include "kernels_attn.def"
#undef K
};

static const char *const names[] = {
#define K(name) #name,
#include "kernels_core.def"
#include "kernels_attn.def"
#undef K
};

int32_t nn_kernel_count(void) { return (int32_t)(sizeof table / sizeof table[0]); }

/* The name of kernel i (a NUL-terminated string in static memory), or 0 out of range. */
const char *nn_kernel_name(int32_t i) { return i >= 0 && i < nn_kernel_count() ? names[i] : 0; }

/* Runs kernel id; returns 0, or -1 for an unknown id (nothing runs). */
int32_t nn_call(int32_t id, float *base, const int32_t *ia, const float *fa) {
  if (id < 0 || id >= nn_kernel_count()) return -1;
  table[id](base, ia, fa);
  return 0;
}
