import type { TSchema } from "typebox";
import type { RouteDefinition } from "./route.ts";

/**
 * The OpenAPI 3.1 document of the latest API, built from the same schemas that validate requests, so
 * the two cannot disagree. Served at `/api/v1/openapi.json`.
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], publicUrl: string): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    if (route.hidden) continue;
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}") || "/";
    const operation: Record<string, unknown> = {
      summary: route.summary,
      tags: route.tags ?? [],
      parameters: [
        ...parametersOf(route.schemas.params, "path"),
        ...parametersOf(route.schemas.query, "query"),
      ],
      security: route.access === "public" ? [] : route.access.map((type) => ({ [`${type}Access`]: [] })),
      responses: {
        [String(route.successStatus ?? 200)]: {
          description: "Success",
          ...(route.schemas.response
            ? { content: { "application/json": { schema: route.schemas.response } } }
            : {}),
        },
        "4XX": {
          description:
            "A known error `{code, error, details?}` with header `x-stack-known-error`, or a plain-text error.",
        },
      },
    };
    if (route.schemas.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: route.schemas.body } },
      };
    }
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }
  const headerScheme = (name: string, description: string) => ({
    type: "apiKey",
    in: "header",
    name,
    description,
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "Latchkey API",
      version: "1",
      description:
        "Stack Auth compatible REST API. Every `x-stack-*` header is also accepted as `x-hexclave-*`. Authenticate with `x-stack-access-type`, `x-stack-project-id` and the key matching the access type.",
    },
    servers: [{ url: `${publicUrl}/api/v1` }],
    paths,
    components: {
      securitySchemes: {
        clientAccess: headerScheme(
          "x-stack-publishable-client-key",
          "Client access (key optional unless the project requires it).",
        ),
        serverAccess: headerScheme("x-stack-secret-server-key", "Server access."),
        adminAccess: headerScheme("x-stack-super-secret-admin-key", "Admin access."),
      },
    },
  };
}

function parametersOf(schema: TSchema | undefined, location: "path" | "query"): object[] {
  const properties = (schema as { properties?: Record<string, TSchema> } | undefined)?.properties ?? {};
  const required = new Set((schema as { required?: string[] } | undefined)?.required ?? []);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === "path" || required.has(name),
    schema: property,
  }));
}
