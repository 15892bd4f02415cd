import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import { openDatabase } from "../../db/database.ts";
import { pruneEmailOutbox } from "../emails/outbox.ts";
import { checkCode, createCode, pruneExpiredCodes } from "./codes.ts";

/** What server housekeeping drops: verification codes a week past expiry, outbox e-mails after 30 days. */
let database: TestDatabase;
let handle: ReturnType<typeof openDatabase>;
let tenancyId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = openDatabase(database.url);
  const projectId = randomUUID();
  await sql`INSERT INTO projects (id, display_name) VALUES (${projectId}, 'Retention')`.execute(handle.db);
  const { rows } = await sql<{ id: string }>`
    INSERT INTO tenancies (project_id, branch_id) VALUES (${projectId}, 'main') RETURNING id`.execute(
    handle.db,
  );
  tenancyId = rows[0]!.id;
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const DAY = 24 * 3600 * 1000;

describe("retention", () => {
  it("drops verification codes a week past their expiry, in batches, and keeps the rest answering", async () => {
    const code = (lifetimeMs: number, email: string) =>
      createCode(handle.db, { tenancyId, purpose: "otp_sign_in", data: { email }, lifetimeMs });
    const live = await code(DAY, "live@example.com");
    const recentlyExpired = await code(-DAY, "recent@example.com");
    await code(-8 * DAY, "old@example.com");
    // A backlog past one batch of 10,000.
    await sql`INSERT INTO verification_codes (tenancy_id, purpose, code_hash, data, expires_at)
      SELECT ${tenancyId}, 'otp_sign_in', sha256(g::text::bytea), '{}', now() - interval '30 days'
        FROM generate_series(1, 12000) g`.execute(handle.db);

    // A shutdown stops it between batches: nothing before the first, one batch if it comes after that.
    expect(await pruneExpiredCodes(handle.db, { signal: AbortSignal.abort() })).toBe(0);
    let checks = 0;
    const abortedAfterOneBatch = {
      get aborted() {
        return checks++ > 0;
      },
    } as AbortSignal;
    expect(await pruneExpiredCodes(handle.db, { signal: abortedAfterOneBatch })).toBe(10_000);
    expect(await pruneExpiredCodes(handle.db)).toBe(2_001);
    const { rows } = await sql<{ email: string }>`
      SELECT data->>'email' AS email FROM verification_codes WHERE tenancy_id = ${tenancyId} ORDER BY 1`.execute(
      handle.db,
    );
    expect(rows.map((r) => r.email)).toEqual(["live@example.com", "recent@example.com"]);
    // Kept codes still answer as they did.
    await expect(
      checkCode(handle.db, { tenancyId, purpose: "otp_sign_in", code: recentlyExpired, consume: false }),
    ).rejects.toMatchObject({ code: "VERIFICATION_CODE_EXPIRED" });
    expect(
      await checkCode(handle.db, { tenancyId, purpose: "otp_sign_in", code: live, consume: false }),
    ).toEqual({
      email: "live@example.com",
    });
    expect(await pruneExpiredCodes(handle.db)).toBe(0);
  });

  it("answers a used code that has since expired as expired, as upstream does", async () => {
    const code = await createCode(handle.db, {
      tenancyId,
      purpose: "otp_sign_in",
      data: { email: "used@example.com" },
      lifetimeMs: DAY,
    });
    const use = () => checkCode(handle.db, { tenancyId, purpose: "otp_sign_in", code, consume: true });
    await use();
    await expect(use()).rejects.toMatchObject({ code: "VERIFICATION_CODE_ALREADY_USED" });
    await sql`UPDATE verification_codes SET expires_at = now() - interval '1 minute'
               WHERE tenancy_id = ${tenancyId} AND data->>'email' = 'used@example.com'`.execute(handle.db);
    await expect(use()).rejects.toMatchObject({ code: "VERIFICATION_CODE_EXPIRED" });
  });

  it("drops outbox e-mails older than 30 days, sent or not", async () => {
    await sql`INSERT INTO email_outbox (tenancy_id, to_address, subject, text_body, created_at, sent_at) VALUES
      (${tenancyId}, 'old-sent@example.com', 'Code', 'Your code', now() - interval '31 days', now() - interval '31 days'),
      (${tenancyId}, 'old-failed@example.com', 'Code', 'Your code', now() - interval '40 days', NULL),
      (${tenancyId}, 'recent@example.com', 'Code', 'Your code', now() - interval '29 days', NULL)`.execute(
      handle.db,
    );
    expect(await pruneEmailOutbox(handle.db)).toBe(2);
    const { rows } = await sql<{ to_address: string }>`
      SELECT to_address FROM email_outbox WHERE tenancy_id = ${tenancyId}`.execute(handle.db);
    expect(rows.map((r) => r.to_address)).toEqual(["recent@example.com"]);
  });
});
