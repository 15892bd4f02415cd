import type { FastifyRequest } from "fastify";
import type { Static, TSchema } from "typebox";
import type { AppContext } from "../app-context.ts";
import type { AccessType, RequestAuth } from "./authenticate.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * `public`: anyone; the auth headers are still checked when sent. An access-type list: the request must
 * carry one of them (no access type ⇒ `ACCESS_TYPE_REQUIRED`, another one ⇒ `INSUFFICIENT_ACCESS_TYPE`).
 */
export type RouteAccess = "public" | readonly AccessType[];

type AuthFor<A extends RouteAccess> = A extends "public" ? RequestAuth | null : RequestAuth;

type StaticOr<S, Fallback> = S extends TSchema ? Static<S> : Fallback;

export interface RouteRequest<Body, Query, Params, Auth> {
  auth: Auth;
  body: Body;
  query: Query;
  params: Params;
  app: AppContext;
  raw: FastifyRequest;
}

export type RouteResult =
  | { kind: "json"; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: "text"; status: number; body: string; headers?: Record<string, string> }
  | { kind: "bytes"; status: number; body: Buffer; contentType: string; headers?: Record<string, string> };

export const json = (body: unknown, status = 200, headers?: Record<string, string>): RouteResult => ({
  kind: "json",
  status,
  body,
  headers,
});

export const text = (body: string, status = 200, headers?: Record<string, string>): RouteResult => ({
  kind: "text",
  status,
  body,
  headers,
});

/** A file (an image): its bytes as they are, under their own content type. */
export const bytes = (body: Buffer, contentType: string, headers?: Record<string, string>): RouteResult => ({
  kind: "bytes",
  status: 200,
  body,
  contentType,
  headers,
});

export const success = () => json({ success: true });

export interface RouteSchemas {
  body?: TSchema;
  query?: TSchema;
  params?: TSchema;
  /** The success body, for the OpenAPI document. */
  response?: TSchema;
}

export interface RouteDefinition<A extends RouteAccess = RouteAccess, S extends RouteSchemas = RouteSchemas> {
  method: HttpMethod;
  /** Relative to `/api/<version>`, Fastify syntax for params: `/internal/api-keys/:api_key_id`. */
  path: string;
  summary: string;
  tags?: string[];
  /** Left out of the OpenAPI document (internal dashboard routes, demo routes). */
  hidden?: boolean;
  access: A;
  schemas: S;
  /** Status of a successful answer (for the OpenAPI document; the handler's result decides). */
  successStatus?: number;
  /**
   * The body's strings may hold what PostgreSQL cannot store (NUL, unpaired surrogates), which every
   * other route refuses: for routes that keep their bodies elsewhere (the analytics store, replay blobs),
   * where refusing would drop a whole batch of a visitor's events over one odd character.
   */
  bodyMayHoldAnyText?: boolean;
  /** How deep the body's JSON may nest, when a route's data legitimately nests past `MAX_NESTING_DEPTH`. */
  maxBodyDepth?: number;
  handler: (
    request: RouteRequest<
      StaticOr<S["body"], undefined>,
      StaticOr<S["query"], Record<string, never>>,
      StaticOr<S["params"], Record<string, never>>,
      AuthFor<A>
    >,
  ) => Promise<RouteResult>;
}

/** Identity function that gives a route definition its types. */
export function defineRoute<const A extends RouteAccess, const S extends RouteSchemas>(
  route: RouteDefinition<A, S>,
): RouteDefinition {
  return route as unknown as RouteDefinition;
}

/**
 * A route that serves requests made to API versions older than the folder it belongs to. It validates
 * with its own (old) schemas, then translates the request for the next newer version and calls it via
 * `next`, and may translate the answer back.
 */
export interface MigrationRouteDefinition<S extends RouteSchemas = RouteSchemas> {
  method: HttpMethod;
  path: string;
  schemas: S;
  /** `null` makes the route not exist for older versions (404). */
  handler:
    | null
    | ((
        request: RouteRequest<
          StaticOr<S["body"], undefined>,
          StaticOr<S["query"], Record<string, never>>,
          StaticOr<S["params"], Record<string, never>>,
          RequestAuth | null
        >,
        next: (translated: { body?: unknown; query?: unknown; params?: unknown }) => Promise<RouteResult>,
      ) => Promise<RouteResult>);
}

export function defineMigrationRoute<const S extends RouteSchemas>(
  route: MigrationRouteDefinition<S>,
): MigrationRouteDefinition {
  return route as unknown as MigrationRouteDefinition;
}
