/**
 * safetensors (the Hugging Face tensor format), written and read without a dependency.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of JSON header, then the raw
 * little-endian buffers. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the byte after the
 * header) and may hold `__metadata__`, a map of string to string. We write tensors in the
 * caller's order, contiguously, with the header padded by spaces to a multiple of 8 bytes so
 * every buffer is 8-byte aligned (readers may map them in place), and sorted JSON keys, so the
 * same tensors always give the same bytes.
 */
import { open, readFile, rename, unlink } from "node:fs/promises";

/** The dtypes we write and read, with their element types. */
export type SafeDtype = "F32" | "F64" | "U8" | "I32" | "I64";

/** A typed array matching a SafeDtype. */
export type SafeData = Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;

/** One named tensor. */
export interface SafeTensor {
  readonly dtype: SafeDtype;
  readonly shape: readonly number[];
  readonly data: SafeData;
}

/** A malformed safetensors file (names the file and what is wrong). */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

const CTOR: Record<SafeDtype, { new (b: ArrayBuffer, o: number, n: number): SafeData; BYTES_PER_ELEMENT: number }> = {
  F32: Float32Array,
  F64: Float64Array,
  U8: Uint8Array,
  I32: Int32Array,
  I64: BigInt64Array,
};

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The header bytes (length prefix + padded JSON) for tensors laid out contiguously in order. */
function encodeHeader(tensors: ReadonlyArray<readonly [string, SafeTensor]>, metadata: Readonly<Record<string, string>>): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") throw new SafetensorsError('a tensor may not be named "__metadata__"');
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(", ")}] holds ${n} values, data has ${t.data.length}`);
    if (!(t.data instanceof CTOR[t.dtype])) throw new SafetensorsError(`tensor "${name}": data is not a ${t.dtype} array`);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = sortedJson(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(head.length - 8), 0);
  head.write(json, 8, "utf8");
  return head;
}

// Typed arrays are little-endian on every platform Node supports here (x86-64, arm64).
function bytesOf(t: SafeTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Serialises tensors (in the given order) and string metadata to safetensors bytes. */
export function encodeSafetensors(tensors: ReadonlyArray<readonly [string, SafeTensor]>, metadata: Readonly<Record<string, string>> = {}): Buffer {
  return Buffer.concat([encodeHeader(tensors, metadata), ...tensors.map(([, t]) => bytesOf(t))]);
}

/** Writes a safetensors file atomically, streaming the buffers (no second copy of large tensors). */
export async function writeSafetensors(path: string, tensors: ReadonlyArray<readonly [string, SafeTensor]>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  const head = encodeHeader(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.write(head);
      for (const [, t] of tensors) if (t.data.byteLength) await fh.write(bytesOf(t));
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** A parsed safetensors file: tensors by name (copies, aligned) and the metadata. */
export interface SafeFile {
  readonly tensors: Map<string, SafeTensor>;
  readonly metadata: Record<string, string>;
}

/** Parses safetensors bytes; `label` names the file in errors. */
export function decodeSafetensors(buf: Buffer, label: string): SafeFile {
  if (buf.length < 8) throw new SafetensorsError(`${label}: shorter than the 8-byte header length`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(buf.length - 8)) throw new SafetensorsError(`${label}: header length ${n} exceeds the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + Number(n)).toString("utf8"));
  } catch (e) {
    throw new SafetensorsError(`${label}: header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + Number(n);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = v as Record<string, string>;
      continue;
    }
    const t = v as { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] };
    const C = CTOR[t.dtype];
    if (!C) throw new SafetensorsError(`${label}: tensor "${name}" has unsupported dtype ${String(t.dtype)}`);
    const [b, e] = t.data_offsets ?? [];
    const count = (t.shape ?? []).reduce((a, c) => a * c, 1);
    if (typeof b !== "number" || typeof e !== "number" || e - b !== count * C.BYTES_PER_ELEMENT || base + e > buf.length)
      throw new SafetensorsError(`${label}: tensor "${name}" has data_offsets [${b}, ${e}] that do not fit its shape or the file`);
    const copy = new ArrayBuffer(e - b);
    new Uint8Array(copy).set(buf.subarray(base + b, base + e));
    tensors.set(name, { dtype: t.dtype, shape: t.shape, data: new C(copy, 0, count) });
  }
  return { tensors, metadata };
}

/** Reads and parses a safetensors file. */
export async function readSafetensors(path: string): Promise<SafeFile> {
  return decodeSafetensors(await readFile(path), path);
}
