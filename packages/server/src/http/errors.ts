import type { FastifyReply, FastifyRequest } from "fastify";
import pg from "pg";
import { isMissingReference, isPoolWaitTimeout } from "../db/database.ts";
import { KnownError, StatusError } from "../errors/index.ts";
import { apiResponseHeaders, stackHeader } from "./headers.ts";
import type { RouteResult } from "./route.ts";

/**
 * Sends a route result or an error with the headers every API answer carries. When the client sent
 * `x-stack-override-error-status`, a 4xx goes out as 200 with the real status in `x-stack-actual-status`
 * (browsers log non-2xx answers as console errors; the SDK asks for this to avoid that noise).
 */
export function sendResult(request: FastifyRequest, reply: FastifyReply, result: RouteResult): FastifyReply {
  reply.headers(apiResponseHeaders);
  reply.header("x-stack-request-id", request.id);
  if (result.headers) reply.headers(result.headers);
  let status = result.status;
  if (status >= 400 && status < 500 && stackHeader(request.headers, "override-error-status") !== undefined) {
    reply.header("x-stack-actual-status", String(status));
    reply.header("x-hexclave-actual-status", String(status));
    status = 200;
  }
  reply.code(status);
  if (result.kind === "text") {
    reply.type("text/plain; charset=utf-8");
    return reply.send(result.body);
  }
  if (result.kind === "bytes") {
    reply.type(result.contentType);
    return reply.send(result.body);
  }
  reply.type("application/json; charset=utf-8");
  // Known errors go out pretty-printed, as upstream sends them; success bodies stay compact.
  return reply.send(
    JSON.stringify(result.body, undefined, result.headers?.["x-stack-known-error"] ? 2 : undefined),
  );
}

/**
 * PostgreSQL's answers to a collision between concurrent transactions (deadlock, serialization
 * failure, lock wait given up): nothing was written and the same request can simply be sent again.
 */
const TRANSIENT_DATABASE_CONFLICTS = new Set(["40P01", "40001", "55P03"]);

/**
 * PostgreSQL's data exceptions that a client's value causes: text too long for its column (22001), a
 * number out of range (22003), a date it cannot read or hold (22007, 22008), text it cannot store
 * (22021, 22P05), input it cannot parse (22P02), a broken LIKE escape (22025). Request validation is
 * meant to refuse such values first; one that got through still came from the client, so it is
 * answered as a schema error, and logged, so that the missing check gets written. The rest of class 22
 * (division by zero, a bad subscript) is the server's own fault and stays a 500.
 */
const INPUT_DATA_EXCEPTIONS = new Set([
  "22001",
  "22003",
  "22007",
  "22008",
  "22021",
  "22025",
  "22P02",
  "22P05",
]);

const isInputDataException = (error: unknown): error is pg.DatabaseError =>
  error instanceof pg.DatabaseError && error.code !== undefined && INPUT_DATA_EXCEPTIONS.has(error.code);

/**
 * What a write that broke a foreign key (23503) is answered. Every key cascades on delete, so only a
 * write raises one: it points at a row a concurrent request deleted after this one found it. The
 * answer is that row's not-found error, as if the request had come second. The constraint's columns
 * name what is missing; the values come from the error's detail, `(tenancy_id, team_id)=(…, …)`
 * in every language the server may speak.
 */
export function missingReferenceError(error: pg.DatabaseError, projectId?: string): KnownError | StatusError {
  const [, names = "", values = ""] = /\(([^()]*)\)=\(([^()]*)\)/.exec(error.detail ?? "") ?? [];
  const valueList = values.split(", ");
  const key = Object.fromEntries(names.split(", ").map((name, index) => [name, valueList[index] ?? ""]));
  const constraint = error.constraint ?? "";
  if (constraint.endsWith("_tenancy_id_team_id_user_id_fkey"))
    return new KnownError("TEAM_MEMBERSHIP_NOT_FOUND", key.team_id ?? "", key.user_id ?? "");
  if (constraint.endsWith("_tenancy_id_user_id_fkey")) return new KnownError("USER_NOT_FOUND");
  if (constraint.endsWith("_tenancy_id_team_id_fkey"))
    return new KnownError("TEAM_NOT_FOUND", key.team_id ?? "");
  // The request's own project, deleted while it ran: what its keys get from now on.
  if (projectId && /_(tenancy|project)_id_fkey$/.test(constraint))
    return new KnownError("CURRENT_PROJECT_NOT_FOUND", projectId);
  return new StatusError(404, "Something this request refers to was deleted while it ran.");
}

/** The answer to a failed request; `projectId` is the project the request named, if any. */
export function errorResult(
  error: unknown,
  requestId: string,
  log: (message: string) => void,
  projectId?: string,
): RouteResult {
  if (isMissingReference(error)) {
    log(`Request ${requestId} wrote a reference to a deleted row: ${error.message}`);
    error = missingReferenceError(error, projectId);
  }
  if (isInputDataException(error)) {
    log(`Request ${requestId} carried a value the database refused (${error.code}): ${error.message}`);
    error = new KnownError(
      "SCHEMA_ERROR",
      `Request validation failed: the database refused a value (${error.message})`,
    );
  }
  if (error instanceof KnownError) {
    return {
      kind: "json",
      status: error.status,
      body: error.toJSON(),
      headers: { "x-stack-known-error": error.code, "x-hexclave-known-error": error.code },
    };
  }
  if (error instanceof StatusError) {
    return { kind: "text", status: error.status, body: error.message, headers: error.headers };
  }
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  if (fastifyError.code !== undefined && TRANSIENT_DATABASE_CONFLICTS.has(fastifyError.code)) {
    log(`Request ${requestId} lost a database conflict (${fastifyError.code}): ${fastifyError.message}`);
    return {
      kind: "text",
      status: 503,
      body: "The request ran into a concurrent one. Please try again.",
      headers: { "retry-after": "1" },
    };
  }
  if (isPoolWaitTimeout(error)) {
    log(`Request ${requestId} gave up waiting for a database connection`);
    return {
      kind: "text",
      status: 503,
      body: "The database is busy. Please try again.",
      headers: { "retry-after": "5" },
    };
  }
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { kind: "text", status: 413, body: "Request body is too large." };
  }
  if (
    typeof fastifyError.statusCode === "number" &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return { kind: "text", status: fastifyError.statusCode, body: fastifyError.message ?? "Bad request." };
  }
  log(
    `Unhandled error in request ${requestId}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  return {
    kind: "text",
    status: 500,
    body: `Something went wrong. Please make sure the data you entered is correct.\n\nRequest ID: ${requestId}`,
  };
}
