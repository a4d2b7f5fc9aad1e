/**
 * The typed failure of a bundle ingest (src/bundle/ingest.ts). The message is complete on its
 * own (it names the bundle or manifest, the member and, where there are two, both digests);
 * the fields repeat the parts a caller may want to branch on without parsing the message.
 */

/** What went wrong, one value per kind of refusal. */
export type IngestFailure =
  | "malformed-manifest"
  | "archive-mismatch"
  | "member-mismatch"
  | "missing-member"
  | "extra-member"
  | "duplicate-member"
  | "unsafe-path"
  | "link"
  | "special-file"
  | "not-gzip"
  | "truncated"
  | "bad-archive"
  | "output-not-empty"
  | "bad-record"
  | "aborted";

/** Details of an IngestError; every field but `kind` is optional. */
export interface IngestErrorDetail {
  readonly kind: IngestFailure;
  /** Archive member (its path in the archive, top directory included) or the archive's name. */
  readonly member?: string;
  /** 1-based manifest line, when the failure concerns one. */
  readonly line?: number;
  /** Digest the manifest promises. */
  readonly expected?: string;
  /** Digest found (of the archive file or of the member's content). */
  readonly actual?: string;
}

/** An expected ingest failure: a bad bundle, a bad manifest or a non-empty output. */
export class IngestError extends Error {
  readonly kind: IngestFailure;
  readonly member: string | undefined;
  readonly line: number | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;

  constructor(message: string, detail: IngestErrorDetail) {
    super(message);
    this.name = "IngestError";
    this.kind = detail.kind;
    this.member = detail.member;
    this.line = detail.line;
    this.expected = detail.expected;
    this.actual = detail.actual;
  }
}
