/**
 * Writes a file via a temp file and rename, so a failure or a crash leaves either the old file
 * or the new one, never half of one (and no temp file behind on failure).
 */
import { rename, unlink, writeFile } from "node:fs/promises";

export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
