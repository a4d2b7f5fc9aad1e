/*
 * N-API glue of the native kernel build (nn.node); the wasm build exports dispatch.c directly.
 *
 *   names() -> string[]                       kernel names, index = id
 *   call(id, arena: Float32Array, ia: Int32Array, fa: Float32Array) -> undefined
 *   misalignment(a: Float32Array) -> number   floats from a[0] to the next 64-byte boundary (0..15):
 *       the caller starts its arena there, as unaligned 64-byte vector loads run at half speed
 *
 * Offsets in ia are not checked against the arena: the TypeScript wrapper owns the layout
 * (src/ml/nn/kernels.ts). Context-aware (NAPI_MODULE_INIT), so every worker thread may load it;
 * the kernels keep no state, so threads share nothing.
 */
#include <node_api.h>
#include <stdint.h>

int32_t nn_kernel_count(void);
const char *nn_kernel_name(int32_t i);
int32_t nn_call(int32_t id, float *base, const int32_t *ia, const float *fa);

#define CHECK(call)                                               \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      napi_throw_error(env, NULL, "nn: bad arguments to call()"); \
      return NULL;                                                \
    }                                                             \
  } while (0)

static napi_value names(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr;
  CHECK(napi_create_array_with_length(env, (size_t)nn_kernel_count(), &arr));
  for (int32_t i = 0; i < nn_kernel_count(); i++) {
    napi_value s;
    CHECK(napi_create_string_utf8(env, nn_kernel_name(i), NAPI_AUTO_LENGTH, &s));
    CHECK(napi_set_element(env, arr, (uint32_t)i, s));
  }
  return arr;
}

/* The data pointer of a typed array argument of the given type into *out (NULL when empty):
 * 1, or 0 with a thrown error. */
static int typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what, void **out) {
  napi_typedarray_type type;
  size_t len = 0;
  if (napi_get_typedarray_info(env, v, &type, &len, out, NULL, NULL) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

static napi_value call(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_error(env, NULL, "nn: call(id, arena, ia, fa)");
    return NULL;
  }
  int32_t id = -1;
  CHECK(napi_get_value_int32(env, argv[0], &id));
  void *base, *ia, *fa;
  if (!typed(env, argv[1], napi_float32_array, "nn: arena must be a Float32Array", &base) ||
      !typed(env, argv[2], napi_int32_array, "nn: ia must be an Int32Array", &ia) ||
      !typed(env, argv[3], napi_float32_array, "nn: fa must be a Float32Array", &fa))
    return NULL;
  if (nn_call(id, (float *)base, (const int32_t *)ia, (const float *)fa) != 0) napi_throw_range_error(env, NULL, "nn: unknown kernel id");
  return NULL;
}

static napi_value misalignment(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  if (argc < 1 || !typed(env, argv[0], napi_float32_array, "nn: misalignment(Float32Array)", &data)) return NULL;
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)((64 - (uintptr_t)data % 64) % 64 / 4), &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "names", NAPI_AUTO_LENGTH, names, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "names", fn) != napi_ok ||
      napi_create_function(env, "call", NAPI_AUTO_LENGTH, call, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "call", fn) != napi_ok ||
      napi_create_function(env, "misalignment", NAPI_AUTO_LENGTH, misalignment, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "misalignment", fn) != napi_ok)
    return NULL;
  return exports;
}
