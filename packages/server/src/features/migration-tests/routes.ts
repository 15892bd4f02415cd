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

function demoText(queryParam: string | undefined): string {
  const line2 = queryParam
    ? `The query parameter you passed in is: ${queryParam}`
    : "Looks like you didn't pass in the query parameter. That's fine, read on below to see what this route does.";
  return [
    "Welcome to the migration test route for SmartRouteHandler! This route only exists for demonstration purposes and has no practical functionality.",
    line2,
    [
      "Here's what it does:",
      "",
      "- v1: This route does not yet exist; it shows a 404 error.",
      `- v2beta1: Takes an optional query parameter 'queryParam' and displays it. If not given, it defaults to the string "n/a".`,
      "- v2beta2: The query parameter is now required.",
      "- v2beta3: The query parameter is now called 'queryParamNew'.",
      "- v2beta4: The query parameter is now optional again (this is not actually a breaking change, so in a real scenario we wouldn't need a new version).",
    ].join("\n"),
  ].join("\n\n");
}

export const migrationTestRoutes = [
  defineRoute({
    method: "GET",
    path: "/migration-tests",
    summary: "List the API-version demonstration routes",
    hidden: true,
    access: "public",
    // Like upstream, any query is accepted here.
    schemas: { query: Type.Object({}, { additionalProperties: true }) },
    handler: async ({ raw }) => {
      const url = `${raw.protocol}://${raw.host}${raw.url}`;
      return text(
        `You are on ${url}. Please pick a migration test.\n\n- ${new URL("./smart-route-handler", url)}`,
      );
    },
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
    handler: async ({ query }) => text(demoText(query.queryParamNew)),
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
