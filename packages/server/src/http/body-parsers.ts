import { gunzipSync } from "node:zlib";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { KnownError } from "../errors/index.ts";

/**
 * The official SDK (2.8.108+) gzips analytics batches and sends them as `application/octet-stream`; on
 * these routes such a body is decompressed (never beyond the body limit) and read as JSON.
 */
const COMPRESSED_JSON_ROUTES = /\/(analytics\/events|session-replays)\/batch$/;
const isGzip = (buffer: Buffer) => buffer.length > 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;

const inflatedBodyBytes = new WeakMap<FastifyRequest, number>();

/**
 * How large the request's body is as the route reads it: decompressed when it came gzipped (a limit on
 * what was sent would let a small compressed body through with many times that), else as sent.
 */
export function bodyBytes(request: FastifyRequest, body: unknown): number {
  const inflated = inflatedBodyBytes.get(request);
  if (inflated !== undefined) return inflated;
  const declared = Number(request.headers["content-length"]);
  return Number.isFinite(declared) ? declared : Buffer.byteLength(JSON.stringify(body));
}

/**
 * Request bodies as Stack Auth reads them: JSON, form-encoded (flat string map), plain text and
 * octet-stream; an empty body means "no body"; any other content type is a `BODY_PARSING_ERROR`.
 */
export function registerBodyParsers(server: FastifyInstance): void {
  server.removeAllContentTypeParsers();

  server.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new KnownError("BODY_PARSING_ERROR", "Invalid JSON in request body"));
    }
  });

  server.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );

  server.addContentTypeParser("text/plain", { parseAs: "string" }, (_request, body, done) => {
    done(null, body === "" ? undefined : body);
  });

  server.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (request, body, done) => {
    const buffer = body as Buffer;
    if (buffer.length === 0) return done(null, undefined);
    if (COMPRESSED_JSON_ROUTES.test(request.url.split("?")[0]!) && isGzip(buffer)) {
      try {
        const json = gunzipSync(buffer, { maxOutputLength: server.initialConfig.bodyLimit }).toString("utf8");
        inflatedBodyBytes.set(request, Buffer.byteLength(json));
        return done(null, JSON.parse(json));
      } catch {
        return done(new KnownError("BODY_PARSING_ERROR", "Invalid gzip-compressed JSON in request body"));
      }
    }
    done(null, buffer);
  });

  server.addContentTypeParser("*", { parseAs: "buffer" }, (request, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    done(
      new KnownError(
        "BODY_PARSING_ERROR",
        `Unknown content type in request body: ${String(request.headers["content-type"]).split(";")[0]}`,
      ),
    );
  });
}
