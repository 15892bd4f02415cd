import { type KnownErrorArgs, type KnownErrorCode, knownErrors } from "@latchkey/contracts";

/**
 * A failure the client is meant to understand: rendered as `{code, error, details}` with the
 * `x-stack-known-error` header. Construct it with the code and that code's arguments:
 * `new KnownError("CURRENT_PROJECT_NOT_FOUND", projectId)`.
 */
export class KnownError<C extends KnownErrorCode = KnownErrorCode> extends Error {
  readonly code: C;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: C, ...args: KnownErrorArgs<C>) {
    const shape = (knownErrors[code] as (...a: KnownErrorArgs<C>) => ReturnType<(typeof knownErrors)[C]>)(
      ...args,
    );
    super(shape.message);
    this.name = "KnownError";
    this.code = code;
    this.status = shape.status;
    this.details = "details" in shape ? shape.details : undefined;
  }

  toJSON() {
    return this.details === undefined
      ? { code: this.code, error: this.message }
      : { code: this.code, details: this.details, error: this.message };
  }
}

/**
 * A failure the contract answers as plain text (no known-error code), e.g. "Invalid config JSON".
 */
export class StatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "StatusError";
  }
}

export const isKnownError = (error: unknown): error is KnownError => error instanceof KnownError;
