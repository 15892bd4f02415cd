import Type from "typebox";
import { defineRoute, json, text } from "../../http/route.ts";

/**
 * `GET /api/v1`: a human-readable auth probe. It reports how the request authenticated, which makes it
 * the quickest way to check a set of headers.
 */
export const apiRootRoutes = [
  defineRoute({
    method: "GET",
    path: "",
    summary: "Authentication probe",
    tags: ["Meta"],
    access: "public",
    // Declared empty, as upstream does here: any query parameter is refused (routes that declare no
    // query ignore one).
    schemas: { query: Type.Object({}, { additionalProperties: false }) },
    handler: async ({ auth }) => {
      const lines = [
        "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.",
        "",
      ];
      if (!auth) {
        lines.push("Authentication: None");
      } else {
        lines.push(`Authentication: ${auth.type[0]!.toUpperCase()}${auth.type.slice(1)}`);
        lines.push(`  Project: ${auth.project.id}`);
        const email = auth.user?.channels.find((c) => c.is_primary)?.value;
        lines.push(`  User: ${auth.user ? (email ?? auth.user.id) : "None"}`);
      }
      return text(lines.join("\n"));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/backend-urls",
    summary: "The API's base URLs (asked by SDKs configured without an explicit base URL)",
    hidden: true,
    tags: ["Meta"],
    access: "public",
    schemas: {},
    handler: async ({ app }) => json({ urls: [app.env.publicUrl] }),
  }),
];
