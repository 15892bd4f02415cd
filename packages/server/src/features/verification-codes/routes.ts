import Type from "typebox";
import { KnownError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json } from "../../http/route.ts";
import type { Db } from "../users/records.ts";
import { type CodePurpose, checkCode } from "./codes.ts";

/** An e-mailed code as request bodies carry it: exactly 45 characters, any case. */
export const codeBody = Type.Object(
  { code: Type.String({ minLength: 45, maxLength: 45 }) },
  { additionalProperties: false },
);

/**
 * The `…/check-code` endpoint of a code flow: validates a code of that purpose without using it.
 * `countMiss` records a code that matched nothing, for flows whose codes are partly typed by hand and
 * could otherwise be guessed here without limit.
 */
export function checkCodeRoute(
  path: string,
  purpose: CodePurpose,
  summary: string,
  tags: string[],
  countMiss?: (auth: RequestAuth, db: Db, code: string) => Promise<void>,
) {
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
      }).catch(async (error) => {
        if (countMiss && error instanceof KnownError && error.code === "VERIFICATION_CODE_NOT_FOUND")
          await countMiss(auth, app.database.db, body.code);
        throw error;
      });
      return json({ is_code_valid: true });
    },
  });
}
