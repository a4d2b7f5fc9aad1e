/*
 * stat_stamps: the no-op fast path's bulk comparison in one call (src/engine/cache/stat-stamps.ts).
 *
 *   firstChanged(root: string, paths: string[], stamps: Float64Array, start = 0) -> number
 *
 * stamps holds (size, mtimeMs, ino, ctimeMs) for each path, as Node's fs.statSync reports them
 * (ctime too: `cp -p` and `git checkout` can keep size, mtime and inode while changing the
 * content, never the ctime): times are computed exactly as Node computes them (sec * 1e3 +
 * nsec / 1e6 in doubles), so a stamp
 * recorded by the engine compares equal here iff it compares equal there. Paths are relative to
 * root and looked up with fstatat on one directory descriptor. Returns the index (from start)
 * of the first path that is missing or differs, or -1. Optional: without it the same loop runs in JavaScript.
 * Built with -ffp-contract=off: a fused multiply-add would round mtimeMs differently from V8.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* Numbers per path; exported as `stride` so an engine never uses a helper of another layout. */
#define STRIDE 4

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "stat_stamps: bad arguments");        \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value first_changed(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_error(env, NULL, "stat_stamps: firstChanged(root, paths, stamps, start?)");
    return NULL;
  }
  uint32_t start = 0;
  if (argc > 3) CHECK(napi_get_value_uint32(env, argv[3], &start));
  char root[4096];
  size_t root_len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], root, sizeof root, &root_len));
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[1], &n));
  napi_typedarray_type type;
  size_t count = 0;
  void* data = NULL;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &count, &data, NULL, NULL));
  if (type != napi_float64_array || count != (size_t)n * STRIDE) {
    napi_throw_error(env, NULL, "stat_stamps: stamps must be a Float64Array of 4 numbers per path");
    return NULL;
  }
  const double* stamps = (const double*)data;
  int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int64_t result = dir < 0 && start < n ? (int64_t)start : -1; /* no root: its first path is missing */
  char path[4096];
  for (uint32_t k = start; dir >= 0 && k < n; k++) {
    napi_value p;
    size_t len = 0;
    struct stat st;
    if (napi_get_element(env, argv[1], k, &p) != napi_ok ||
        napi_get_value_string_utf8(env, p, path, sizeof path, &len) != napi_ok || len >= sizeof path - 1 ||
        fstatat(dir, path, &st, 0) != 0) {
      result = k;
      break;
    }
    double mtime_ms = (double)st.st_mtim.tv_sec * 1e3 + (double)st.st_mtim.tv_nsec / 1e6;
    double ctime_ms = (double)st.st_ctim.tv_sec * 1e3 + (double)st.st_ctim.tv_nsec / 1e6;
    const double* s = stamps + (size_t)STRIDE * k;
    if ((double)st.st_size != s[0] || mtime_ms != s[1] || (double)st.st_ino != s[2] || ctime_ms != s[3]) {
      result = k;
      break;
    }
  }
  if (dir >= 0) close(dir);
  napi_value r;
  CHECK(napi_create_int64(env, result, &r));
  return r;
}

NAPI_MODULE_INIT() {
  napi_value f;
  if (napi_create_function(env, "firstChanged", NAPI_AUTO_LENGTH, first_changed, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "firstChanged", f) != napi_ok) return NULL;
  napi_value stride;
  if (napi_create_uint32(env, STRIDE, &stride) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "stride", stride) != napi_ok) return NULL;
  return exports;
}
