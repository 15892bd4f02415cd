import pg from "pg";
import { describe, expect, it } from "vitest";
import { KnownError } from "../errors/index.ts";
import { errorResult } from "./errors.ts";

describe("errorResult", () => {
  const logged: string[] = [];
  const result = (error: unknown) => errorResult(error, "req-1", (line) => logged.push(line));

  it("answers a lost concurrency conflict of PostgreSQL with a retryable 503", () => {
    for (const code of ["40P01", "40001", "55P03"]) {
      const conflict = Object.assign(new Error("deadlock detected"), { code });
      expect(result(conflict)).toMatchObject({ status: 503, headers: { "retry-after": "1" } });
    }
    expect(logged.at(-1)).toContain("55P03");
  });

  it("answers a request that waited too long for a pooled connection with a retryable 503", () => {
    const answer = result(new Error("timeout exceeded when trying to connect"));
    expect(answer).toMatchObject({ status: 503, headers: { "retry-after": "5" } });
    expect(result(new Error("Connection terminated due to connection timeout")).status).toBe(503);
    expect(logged.at(-1)).toContain("for a database connection");
  });

  it("keeps other database errors a 500 with the request id, and known errors their own status", () => {
    const broken = Object.assign(new Error("relation does not exist"), { code: "42P01" });
    const answer = result(broken);
    expect(answer.status).toBe(500);
    expect(answer.body).toContain("req-1");
    expect(result(new KnownError("USER_NOT_FOUND")).status).toBe(404);
  });

  it("answers a value PostgreSQL refused (a data exception) as a schema error, and logs it", () => {
    const refused = Object.assign(
      new pg.DatabaseError('value "1e20" is out of range for type bigint', 0, "error"),
      {
        code: "22003",
      },
    );
    const answer = result(refused);
    expect(answer).toMatchObject({ status: 400, headers: { "x-stack-known-error": "SCHEMA_ERROR" } });
    expect((answer.body as { error: string }).error).toContain("out of range for type bigint");
    expect(logged.at(-1)).toContain("22003");
    // The same SQLSTATE from anything but PostgreSQL is nobody's input.
    expect(result(Object.assign(new Error("odd"), { code: "22003" })).status).toBe(500);
    // A division by zero is a data exception too, but the server's own.
    const ours = Object.assign(new pg.DatabaseError("division by zero", 0, "error"), { code: "22012" });
    expect(result(ours).status).toBe(500);
  });

  it("answers a write that points at a row deleted meanwhile with that row's not-found error", () => {
    const violation = (constraint: string, detail: string) =>
      Object.assign(new pg.DatabaseError("violates foreign key constraint", 0, "error"), {
        code: "23503",
        constraint,
        detail,
      });
    const membership = result(
      violation(
        "team_member_permissions_tenancy_id_team_id_user_id_fkey",
        'Key (tenancy_id, team_id, user_id)=(t-1, team-2, user-3) is not present in table "team_members".',
      ),
    );
    expect(membership).toMatchObject({
      status: 404,
      headers: { "x-stack-known-error": "TEAM_MEMBERSHIP_NOT_FOUND" },
    });
    expect((membership.body as { details: unknown }).details).toEqual({
      team_id: "team-2",
      user_id: "user-3",
    });
    const team = result(
      violation(
        "team_members_tenancy_id_team_id_fkey",
        // Another server language: only the words change.
        "La llave (tenancy_id, team_id)=(t-1, team-2) no está presente en la tabla «teams».",
      ),
    );
    expect(team.body).toMatchObject({ code: "TEAM_NOT_FOUND", details: { team_id: "team-2" } });
    const user = result(
      violation("sessions_tenancy_id_user_id_fkey", "Key (tenancy_id, user_id)=(t-1, u-1)"),
    );
    expect(user.body).toMatchObject({ code: "USER_NOT_FOUND" });
    const tenancy = result(violation("users_tenancy_id_fkey", ""));
    expect(tenancy).toMatchObject({ kind: "text", status: 404 });
    // With the request's project known: what its keys are answered once it is gone.
    const project = errorResult(
      violation("environment_config_overrides_project_id_fkey", ""),
      "r",
      () => {},
      "p-1",
    );
    expect(project.body).toMatchObject({ code: "CURRENT_PROJECT_NOT_FOUND", details: { project_id: "p-1" } });
    expect(logged.at(-1)).toContain("reference to a deleted row");
  });
});
