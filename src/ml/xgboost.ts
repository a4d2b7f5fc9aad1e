/**
 * Real XGBoost (the Debian library `libxgboost.so.0`, XGBoost 1.7.x) through koffi FFI.
 *
 * Only the C API calls the baseline needs: dense float matrices, labels, booster params,
 * one boosting round at a time, predictions (probabilities and SHAP contributions) and saving
 * the model in XGBoost's JSON format (readable by Python's `xgboost.Booster(model_file=...)`).
 * Every call's return code is checked; a failure carries `XGBGetLastError()`.
 * Determinism: callers set `nthread=1` and a `seed`; with one thread XGBoost's exact/hist tree
 * building has no race, so the same data and params give a byte-identical model.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";

/** Where Debian's libxgboost0 puts the library; `DAGBUILD_LIBXGBOOST` overrides. */
export const LIBXGBOOST_PATH = process.env.DAGBUILD_LIBXGBOOST ?? "/usr/lib/x86_64-linux-gnu/libxgboost.so.0";

/** The library is absent or unloadable: the message says how to install it. */
export class XgboostUnavailableError extends Error {
  constructor(detail: string) {
    super(`XGBoost library not available (${detail}); install it with: apt-get install -y libxgboost0`);
    this.name = "XgboostUnavailableError";
  }
}

/** A C API call returned non-zero. */
export class XgboostError extends Error {
  constructor(call: string, detail: string) {
    super(`${call} failed: ${detail}`);
    this.name = "XgboostError";
  }
}

interface Api {
  version(): string;
  call(name: string, ...args: unknown[]): void;
  decodeFloats(ptr: unknown, n: number): Float32Array;
}

let api: Api | null = null;

/** Loads the library once per process; throws XgboostUnavailableError when it is missing. */
export function loadXgboost(): Api {
  if (api) return api;
  if (!existsSync(LIBXGBOOST_PATH)) throw new XgboostUnavailableError(`${LIBXGBOOST_PATH} not found`);
  const require = createRequire(import.meta.url);
  // koffi is CommonJS; loaded lazily so importing this module never needs the native addon.
  const koffi = require("koffi");
  let lib;
  try {
    lib = koffi.load(LIBXGBOOST_PATH);
  } catch (e) {
    throw new XgboostUnavailableError((e as Error).message);
  }
  const handle = koffi.pointer("XGHandle", koffi.opaque());
  const fns: Record<string, (...a: unknown[]) => number> = {
    XGDMatrixCreateFromMat: lib.func("int XGDMatrixCreateFromMat(const float *data, uint64_t nrow, uint64_t ncol, float missing, _Out_ XGHandle *out)"),
    XGDMatrixSetFloatInfo: lib.func("int XGDMatrixSetFloatInfo(XGHandle handle, const char *field, const float *array, uint64_t len)"),
    XGDMatrixFree: lib.func("int XGDMatrixFree(XGHandle handle)"),
    XGBoosterCreate: lib.func("int XGBoosterCreate(XGHandle *dmats, uint64_t len, _Out_ XGHandle *out)"),
    XGBoosterFree: lib.func("int XGBoosterFree(XGHandle handle)"),
    XGBoosterSetParam: lib.func("int XGBoosterSetParam(XGHandle handle, const char *name, const char *value)"),
    XGBoosterUpdateOneIter: lib.func("int XGBoosterUpdateOneIter(XGHandle handle, int iter, XGHandle dtrain)"),
    XGBoosterPredict: lib.func(
      "int XGBoosterPredict(XGHandle handle, XGHandle dmat, int option_mask, unsigned int ntree_limit, int training, _Out_ uint64_t *out_len, _Out_ void **out_result)",
    ),
    XGBoosterSaveModel: lib.func("int XGBoosterSaveModel(XGHandle handle, const char *fname)"),
    XGBoosterLoadModel: lib.func("int XGBoosterLoadModel(XGHandle handle, const char *fname)"),
  };
  const lastError = lib.func("const char *XGBGetLastError()");
  const versionFn = lib.func("void XGBoostVersion(_Out_ int *major, _Out_ int *minor, _Out_ int *patch)");
  api = {
    version() {
      const a = [0], b = [0], c = [0];
      versionFn(a, b, c);
      return `${a[0]}.${b[0]}.${c[0]}`;
    },
    call(name, ...args) {
      const rc = fns[name]!(...args);
      if (rc !== 0) throw new XgboostError(name, String(lastError()));
    },
    decodeFloats(ptr, n) {
      return Float32Array.from(koffi.decode(ptr, "float", n) as number[]);
    },
  };
  return api;
}

/** A dense row-major float matrix (NaN = missing) with optional labels. */
export class DMatrix {
  /** @internal */ handle: unknown;
  constructor(
    readonly data: Float32Array,
    readonly rows: number,
    readonly cols: number,
    labels?: Float32Array,
  ) {
    if (data.length !== rows * cols) throw new Error(`DMatrix: ${data.length} values for ${rows}x${cols}`);
    const x = loadXgboost();
    const out = [null];
    x.call("XGDMatrixCreateFromMat", data, rows, cols, Number.NaN, out);
    this.handle = out[0];
    if (labels) {
      if (labels.length !== rows) throw new Error(`DMatrix: ${labels.length} labels for ${rows} rows`);
      x.call("XGDMatrixSetFloatInfo", this.handle, "label", labels, rows);
    }
  }

  free(): void {
    if (this.handle) loadXgboost().call("XGDMatrixFree", this.handle);
    this.handle = null;
  }
}

/** A booster trained on one DMatrix. */
export class Booster {
  private handle: unknown;
  private constructor(handle: unknown) {
    this.handle = handle;
  }

  /** Creates a booster over `train` with params (values stringified; set in sorted key order). */
  static create(train: DMatrix, params: Readonly<Record<string, string | number>>): Booster {
    const x = loadXgboost();
    const out = [null];
    x.call("XGBoosterCreate", [train.handle], 1, out);
    const b = new Booster(out[0]);
    for (const k of Object.keys(params).sort()) x.call("XGBoosterSetParam", b.handle, k, String(params[k]));
    return b;
  }

  /** A booster read from a saved model file (XGBoost JSON), for prediction. */
  static load(path: string): Booster {
    const x = loadXgboost();
    const out = [null];
    x.call("XGBoosterCreate", [], 0, out);
    const b = new Booster(out[0]);
    x.call("XGBoosterLoadModel", b.handle, path);
    return b;
  }

  /** Runs `rounds` boosting iterations on `train`. */
  train(train: DMatrix, rounds: number, signal?: AbortSignal): void {
    const x = loadXgboost();
    for (let i = 0; i < rounds; i++) {
      signal?.throwIfAborted();
      x.call("XGBoosterUpdateOneIter", this.handle, i, train.handle);
    }
  }

  /** One boosting iteration (number `iter`, counted from 0): for callers that evaluate as they go. */
  updateOne(train: DMatrix, iter: number): void {
    loadXgboost().call("XGBoosterUpdateOneIter", this.handle, iter, train.handle);
  }

  /** Probabilities (binary:logistic), one per row. */
  predict(m: DMatrix): Float32Array {
    return this.predictRaw(m, 0, m.rows);
  }

  /** SHAP contributions: rows x (cols + 1), the last column of each row is the bias. */
  contributions(m: DMatrix): Float32Array {
    return this.predictRaw(m, 4, m.rows * (m.cols + 1));
  }

  private predictRaw(m: DMatrix, mask: number, expect: number): Float32Array {
    const x = loadXgboost();
    const len = [0n];
    const ptr = [null];
    x.call("XGBoosterPredict", this.handle, m.handle, mask, 0, 0, len, ptr);
    const n = Number(len[0]);
    if (n !== expect) throw new XgboostError("XGBoosterPredict", `returned ${n} values, expected ${expect}`);
    // The buffer belongs to the booster and is reused by the next call: copy it out now.
    return x.decodeFloats(ptr[0], n);
  }

  /** Saves the model; a `.json` name gives XGBoost's JSON format. */
  save(path: string): void {
    loadXgboost().call("XGBoosterSaveModel", this.handle, path);
  }

  free(): void {
    if (this.handle) loadXgboost().call("XGBoosterFree", this.handle);
    this.handle = null;
  }
}
