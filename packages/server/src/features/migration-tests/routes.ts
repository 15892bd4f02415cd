import Type from "typebox";
import { defineMigrationRoute, defineRoute, text } from "../../http/route.ts";
import type { MigrationFolders } from "../../http/versions.ts";

/**
 * Demonstration of API-version translation, kept as a living test of the mechanism. The latest handler
 * takes an optional `queryParamNew`. Older versions knew the parameter as `queryParam`:
 * - v2beta4 folder (serves v2beta3): `queryParamNew` required;
 * - v2beta3 folder (serves v2beta2): `queryParam` required, renamed to `queryParamNew`;
 * - v2beta2 folder (serves v2beta1): `queryParam` optional, defaulting to "n/a";
 * - v2beta1 folder (serves v1): the route did not exist yet.
 */
const PATH = "/migration-tests/smart-route-handler";

export const migrationTestRoutes = [
  defineRoute({
    method: "GET",
    path: "/migration-tests",
    summary: "List the API-version demonstration routes",
    hidden: true,
    access: "public",
    schemas: {},
    handler: async () => text(`Migration test routes:\n\n  GET /api/<version>${PATH}\n`),
  }),
  defineRoute({
    method: "GET",
    path: PATH,
    summary: "API-version demonstration route",
    hidden: true,
    access: "public",
    schemas: {
      query: Type.Object({ queryParamNew: Type.Optional(Type.String()) }, { additionalProperties: false }),
    },
    handler: async ({ query }) =>
      text(
        query.queryParamNew === undefined
          ? "No query param was passed."
          : `Query param: ${query.queryParamNew}`,
      ),
  }),
];

const withNew = (required: boolean) =>
  Type.Object(
    { queryParamNew: required ? Type.String() : Type.Optional(Type.String()) },
    { additionalProperties: false },
  );

export const migrationTestFolders: MigrationFolders = {
  v2beta1: [defineMigrationRoute({ method: "GET", path: PATH, schemas: {}, handler: null })],
  v2beta2: [
    defineMigrationRoute({
      method: "GET",
      path: PATH,
      schemas: {
        query: Type.Object({ queryParam: Type.Optional(Type.String()) }, { additionalProperties: false }),
      },
      handler: async ({ query }, next) => next({ query: { queryParam: query.queryParam ?? "n/a" } }),
    }),
  ],
  v2beta3: [
    defineMigrationRoute({
      method: "GET",
      path: PATH,
      schemas: { query: Type.Object({ queryParam: Type.String() }, { additionalProperties: false }) },
      handler: async ({ query }, next) => next({ query: { queryParamNew: query.queryParam } }),
    }),
  ],
  v2beta4: [
    defineMigrationRoute({
      method: "GET",
      path: PATH,
      schemas: { query: withNew(true) },
      handler: async ({ query }, next) => next({ query }),
    }),
  ],
};
