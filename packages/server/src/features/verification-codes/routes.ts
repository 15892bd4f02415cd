import Type from "typebox";
import { defineRoute, json } from "../../http/route.ts";
import { type CodePurpose, checkCode } from "./codes.ts";

/** An e-mailed code as request bodies carry it: exactly 45 characters, any case. */
export const codeBody = Type.Object(
  { code: Type.String({ minLength: 45, maxLength: 45 }) },
  { additionalProperties: false },
);

/** The `…/check-code` endpoint of a code flow: validates a code of that purpose without using it. */
export function checkCodeRoute(path: string, purpose: CodePurpose, summary: string, tags: string[]) {
  return defineRoute({
    method: "POST",
    path,
    summary,
    tags,
    access: ["client", "server", "admin"],
    schemas: { body: codeBody },
    handler: async ({ auth, body, app }) => {
      await checkCode(app.database.db, {
        tenancyId: auth.tenancy.id,
        purpose,
        code: body.code,
        consume: false,
      });
      return json({ is_code_valid: true });
    },
  });
}
