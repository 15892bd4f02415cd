import { Readable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import { silentPostgres } from "../../../test/db-sync.ts";
import type { Mapping } from "./mappings.ts";
import { PostgresTarget } from "./postgres-target.ts";

let database: TestDatabase;
let target: PostgresTarget;

const mapping: Mapping = {
  name: "things",
  sourceTable: "teams",
  targetTable: "things",
  columns: [
    { name: "id", postgres: "uuid NOT NULL", clickhouse: "UUID", deletedValue: "NULL" },
    { name: "label", postgres: "text", clickhouse: "Nullable(String)", deletedValue: "NULL" },
  ],
  primaryKey: ["id"],
  liveRows: "",
};
const tenancy = "00000000-0000-4000-8000-000000000001";
const idOf = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

type Row = { n: number; label: string; seq: number; deleted?: boolean };
const copyText = (rows: Row[], withFlags: boolean) =>
  rows
    .map((r) => `${idOf(r.n)}\t${r.label}\t${r.seq}${withFlags ? `\t${r.deleted ? "t" : "f"}` : ""}\n`)
    .join("");

/** A page as the engine streams it: COPY text of (columns…, seq, deleted). */
const page = (rows: Row[]) => ({
  copyOut: () => Readable.from([copyText(rows, true)]),
  jsonRows: async () => [],
});

/** A page offered in bulk form too; records which form the target read. */
function bulkPage(rows: Row[], tombstoneSeqs: number[] = []) {
  const read = { bulk: false, full: false };
  return {
    read,
    copyOut: () => {
      read.full = true;
      return Readable.from([copyText(rows, true)]);
    },
    jsonRows: async () => [],
    bulk: {
      copyLiveRows: () => {
        read.bulk = true;
        return Readable.from([
          copyText(
            rows.filter((r) => !r.deleted),
            false,
          ),
        ]);
      },
      hasTombstonesUpTo: async (lastSeq: string) => tombstoneSeqs.some((seq) => seq <= Number(lastSeq)),
    },
  };
}

async function targetRows(): Promise<Map<string, { label: string; seq: number }>> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; label: string; seq: string }>(
      "SELECT id, label, _latchkey_seq::text AS seq FROM things",
    );
    return new Map(rows.map((row) => [row.id, { label: row.label, seq: Number(row.seq) }]));
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
  target = new PostgresTarget(database.url);
  await target.ensureTable(mapping);
});
afterAll(async () => {
  await target?.close();
  await database?.drop();
});

describe("PostgresTarget.applyPage", () => {
  it("loads a bulk page of new rows straight into the table", async () => {
    const first = Array.from({ length: 6_000 }, (_, i) => ({ n: i, label: `v1-${i}`, seq: 1_000 + i }));
    const changes = bulkPage(first);
    expect(await target.applyPage(tenancy, mapping, changes)).toEqual({ count: 6_000, lastSeq: "6999" });
    expect(changes.read).toEqual({ bulk: true, full: false });
    expect((await targetRows()).size).toBe(6_000);
    expect(await target.cursor(tenancy, mapping)).toBe("6999");
  });

  it("merges a bulk page holding rows the target already has; an older version never wins", async () => {
    const replay = [
      ...Array.from({ length: 6_000 }, (_, i) =>
        i % 2 === 0
          ? { n: i, label: `stale-${i}`, seq: 10 + i }
          : { n: i, label: `v2-${i}`, seq: 20_000 + i },
      ),
      ...Array.from({ length: 10 }, (_, i) => ({ n: 10_000 + i, label: `new-${i}`, seq: 30_000 + i })),
    ];
    const changes = bulkPage(replay);
    expect(await target.applyPage(tenancy, mapping, changes)).toEqual({ count: 6_010, lastSeq: "30009" });
    expect(changes.read).toEqual({ bulk: true, full: true });
    const rows = await targetRows();
    expect(rows.size).toBe(6_010);
    expect(rows.get(idOf(0))).toEqual({ label: "v1-0", seq: 1_000 });
    expect(rows.get(idOf(1))).toEqual({ label: "v2-1", seq: 20_001 });
    expect(rows.get(idOf(10_009))).toEqual({ label: "new-9", seq: 30_009 });
    expect([...rows.values()].filter((row) => row.label.startsWith("stale"))).toHaveLength(0);
    expect(await target.cursor(tenancy, mapping)).toBe("30009");
  });

  it("takes the full page when a tombstone falls among a bulk page's rows", async () => {
    const changes = bulkPage(
      [
        { n: 20_000, label: "fresh", seq: 40_000 },
        { n: 3, label: "", seq: 40_001, deleted: true },
        { n: 20_001, label: "fresh too", seq: 40_002 },
      ],
      [40_001],
    );
    expect(await target.applyPage(tenancy, mapping, changes)).toEqual({ count: 3, lastSeq: "40002" });
    expect(changes.read).toEqual({ bulk: true, full: true });
    const rows = await targetRows();
    expect(rows.get(idOf(20_000))).toEqual({ label: "fresh", seq: 40_000 });
    expect(rows.get(idOf(20_001))).toEqual({ label: "fresh too", seq: 40_002 });
    expect(rows.has(idOf(3))).toBe(false);
  });

  it("leaves tombstones after a bulk page's last row to the next (ordinary) page", async () => {
    const changes = bulkPage(
      [
        { n: 20_002, label: "last live row", seq: 41_000 },
        { n: 5, label: "", seq: 41_001, deleted: true },
      ],
      [41_001],
    );
    expect(await target.applyPage(tenancy, mapping, changes)).toEqual({ count: 1, lastSeq: "41000" });
    expect(changes.read).toEqual({ bulk: true, full: false });
    expect((await targetRows()).has(idOf(5))).toBe(true);
    expect(
      await target.applyPage(tenancy, mapping, page([{ n: 5, label: "", seq: 41_001, deleted: true }])),
    ).toEqual({
      count: 1,
      lastSeq: "41001",
    });
    expect((await targetRows()).has(idOf(5))).toBe(false);
  });

  it("applies a page's deletions after its upserts, never over a newer version", async () => {
    await target.applyPage(
      tenancy,
      mapping,
      page([
        { n: 1, label: "", seq: 50_000, deleted: true },
        { n: 2, label: "", seq: 5, deleted: true },
      ]),
    );
    const rows = await targetRows();
    expect(rows.has(idOf(1))).toBe(false);
    expect(rows.get(idOf(2))).toEqual({ label: "v1-2", seq: 1_002 });
  });
});

describe("a target that answers the login and then nothing", () => {
  it("fails each call after the timeout instead of holding the sync run for good", async () => {
    const silent = await silentPostgres();
    const stuck = new PostgresTarget(silent.url, { timeoutMs: 300 });
    try {
      await expect(stuck.cursor(tenancy, mapping)).rejects.toThrow(/timeout/i);
      await expect(stuck.applyPage(tenancy, mapping, page([{ n: 1, label: "a", seq: 1 }]))).rejects.toThrow(
        /timeout/i,
      );
    } finally {
      silent.close();
      await stuck.close();
    }
  });
});
