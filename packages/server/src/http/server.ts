import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import Type, { type TSchema } from "typebox";
import type { AppContext } from "../app-context.ts";
import { KnownError } from "../errors/index.ts";
import { type AccessType, authenticate, type RequestAuth } from "./authenticate.ts";
import { registerBodyParsers } from "./body-parsers.ts";
import { errorResult, sendResult } from "./errors.ts";
import { corsHeaders, stackHeader } from "./headers.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { prepareRequestValue } from "./request-values.ts";
import { schemaError } from "./requirements.ts";
import type { RouteDefinition, RouteResult } from "./route.ts";
import { type CompiledPart, compilePart, type RequestPart, violationsOf } from "./validation.ts";
import {
  apiVersions,
  type MigrationFolders,
  type ResolvedRequest,
  type ResolvedRoute,
  resolveVersionedRoutes,
} from "./versions.ts";

export interface HttpRoutes {
  latest: RouteDefinition[];
  migrations: MigrationFolders;
}

const emptyObject = Type.Object({}, { additionalProperties: false });

/**
 * Builds the Fastify server: body parsers, every route under every API version, CORS preflights,
 * the OpenAPI document, and errors rendered in the Stack Auth shapes.
 */
export async function buildHttpServer(app: AppContext, routes: HttpRoutes): Promise<FastifyInstance> {
  const server = Fastify({
    logger: false,
    bodyLimit: app.env.bodyLimitBytes,
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 500 },
    trustProxy: app.env.trustProxy,
    // Errors Fastify raises before routing (malformed URLs…) get the same rendering as everything else.
    frameworkErrors: (error, request, reply) => {
      sendResult(request, reply, errorResult(error, request.id, app.log));
    },
  });
  registerBodyParsers(server);
  if (app.env.logRequests) {
    server.addHook("onResponse", async (request, reply) => {
      app.log(
        `${request.method} ${request.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)} ms ${request.id}`,
      );
    });
  }

  const compiled: Record<RequestPart, WeakMap<TSchema, CompiledPart>> = {
    body: new WeakMap(),
    query: new WeakMap(),
    params: new WeakMap(),
  };
  const part = (name: RequestPart, schema: TSchema) => {
    let entry = compiled[name].get(schema);
    if (!entry) {
      entry = compilePart(name, schema);
      compiled[name].set(schema, entry);
    }
    return entry;
  };

  const validateRequest = (
    route: ResolvedRoute,
    method: string,
    url: string,
    input: { body?: unknown; query?: unknown; params?: unknown },
  ) => {
    const fail = (violations: string[]) => schemaError({ method, url }, violations);
    // Before the schemas: their error messages print the values they reject.
    const prepared = {
      params: prepareRequestValue("params", input.params, true),
      query: prepareRequestValue("query", input.query, true),
      body: route.schemas.body
        ? prepareRequestValue(
            "body",
            input.body,
            !route.latest?.bodyMayHoldAnyText,
            route.latest?.maxBodyDepth,
          )
        : { value: input.body, problem: null },
    };
    const unprepared = prepared.params.problem ?? prepared.query.problem ?? prepared.body.problem;
    if (unprepared) throw fail([unprepared]);
    input = { params: prepared.params.value, query: prepared.query.value, body: prepared.body.value };
    const violations: string[] = [];
    const query = structuredCloneIfObject(input.query ?? {});
    const params = structuredCloneIfObject(input.params ?? {});
    violations.push(...violationsOf(part("params", route.schemas.params ?? emptyObject), params));
    // A route that declares no query ignores one, as upstream's do: a cache-buster or tracking parameter
    // a proxy adds must not fail the request.
    if (route.schemas.query) violations.push(...violationsOf(part("query", route.schemas.query), query));
    let body: unknown;
    if (route.schemas.body) {
      body = input.body;
      violations.push(
        ...violationsOf(part("body", route.schemas.body), body === undefined ? undefined : body),
      );
    }
    if (violations.length > 0) throw fail(violations);
    return { body, query, params };
  };

  const invoke = async (
    route: ResolvedRoute,
    request: ResolvedRequest,
    translated: { body?: unknown; query?: unknown; params?: unknown },
  ): Promise<RouteResult> => {
    const validated = validateRequest(route, request.raw.method, request.raw.url, translated);
    return route.run({ ...request, ...validated } as ResolvedRequest);
  };

  const byVersion = resolveVersionedRoutes(routes.latest, routes.migrations, invoke);
  for (const version of apiVersions) {
    for (const route of byVersion.get(version) ?? []) {
      server.route({
        method: route.method,
        url: `/api/${version}${route.path}`,
        handler: async (request, reply) => {
          const auth = await authenticate(app, request.headers);
          checkAccess(route, auth);
          const validated = validateRequest(route, request.method, request.url, {
            body: request.body,
            query: request.query,
            params: request.params,
          });
          const result = await route.run({ auth, app, raw: request, ...validated } as ResolvedRequest);
          return sendResult(request, reply, result);
        },
      });
    }
  }

  const openApi = buildOpenApiDocument(routes.latest, app.env.publicUrl);
  server.get("/api/v1/openapi.json", async (request, reply) =>
    sendResult(request, reply, { kind: "json", status: 200, body: openApi }),
  );

  server.options("/api/*", async (_request, reply) => reply.headers(corsHeaders).code(200).send(""));
  server.get("/health", async (_request, reply) =>
    reply
      .headers({
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "*",
        "access-control-allow-headers": "*",
      })
      .type("application/json; charset=utf-8")
      .send(JSON.stringify({ status: "ok" })),
  );

  server.setNotFoundHandler(async (request, reply) =>
    sendResult(request, reply, {
      kind: "text",
      status: 404,
      body: `404 — this page does not exist in Stack Auth's API.\n\nPlease see the API documentation at https://docs.stack-auth.com, or visit the Stack Auth dashboard at https://app.stack-auth.com.\n\nURL: ${request.protocol}://${request.host}${request.url}`,
    }),
  );

  server.setErrorHandler(async (error, request: FastifyRequest, reply) =>
    sendResult(
      request,
      reply,
      errorResult(error, request.id, app.log, stackHeader(request.headers, "project-id")),
    ),
  );

  return server;
}

function checkAccess(route: ResolvedRoute, auth: RequestAuth | null): void {
  if (route.access === "public") return;
  if (!auth) throw new KnownError("ACCESS_TYPE_REQUIRED");
  if (!route.access.includes(auth.type)) {
    throw new KnownError("INSUFFICIENT_ACCESS_TYPE", auth.type, [...route.access] as AccessType[]);
  }
}

function structuredCloneIfObject(value: unknown): unknown {
  return value && typeof value === "object" ? { ...(value as object) } : value;
}
