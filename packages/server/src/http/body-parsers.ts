import type { FastifyInstance } from "fastify";
import { KnownError } from "../errors/index.ts";

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

  server.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_request, body, done) => {
    done(null, (body as Buffer).length === 0 ? undefined : body);
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
