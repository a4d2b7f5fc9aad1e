/**
 * Versions of a model directory's own records, shared by the sequence models
 * (sequence-model.ts) and the GBM (gbm-model.ts). metrics.json has its own
 * (model-metrics.ts METRICS_FORMAT_VERSION), model.onnx its (onnx/export.ts).
 *
 * - config.json: `{"format":"dagbuild.ml_model","version":MODEL_CONFIG_VERSION,...}`, what was
 *   trained (architecture, training params, features, normaliser) and on which inputs.
 * - weights.safetensors (sequence models): metadata `format: dagbuild.ml_weights`,
 *   `version: WEIGHTS_FORMAT_VERSION` (a string: safetensors metadata values are strings),
 *   `config` (the model config JSON); one tensor per parameter name (docs/nn-engine.md).
 */

/** Format version of config.json (format dagbuild.ml_model). */
export const MODEL_CONFIG_VERSION = 1;

/** Format version of weights.safetensors' metadata (format dagbuild.ml_weights). */
export const WEIGHTS_FORMAT_VERSION = 1;
