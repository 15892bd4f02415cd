import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../test/server.ts";
import {
  type AnalyticsMigration,
  applyAnalyticsMigrations,
  discoverAnalyticsMigrations,
} from "./migrations.ts";

let test: TestServer;
beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const migration = (name: string, statements: string[], checksum = name): AnalyticsMigration => ({
  name,
  statements,
  checksum,
});

describe("analytics migrations", () => {
  it("were applied at start-up, and applying again does nothing", async () => {
    const { engine } = test.server.app.analytics;
    const again = await applyAnalyticsMigrations(engine, test.database.url, discoverAnalyticsMigrations());
    expect(again).toEqual([]);
    const tables = await engine.query(
      "SELECT name FROM system.tables WHERE database = 'analytics_internal' ORDER BY name",
    );
    expect(tables.text).toContain('"name":"events"');
  });

  it("applies a new one once and refuses one edited after it was applied", async () => {
    const { engine } = test.server.app.analytics;
    const suffix = Date.now();
    const added = migration(`99990101000000_probe_${suffix}`, [
      `CREATE TABLE IF NOT EXISTS analytics_internal.probe_${suffix} (id UInt64) ENGINE = MergeTree ORDER BY id`,
    ]);
    expect(await applyAnalyticsMigrations(engine, test.database.url, [added])).toEqual([added.name]);
    expect(await applyAnalyticsMigrations(engine, test.database.url, [added])).toEqual([]);
    await expect(
      applyAnalyticsMigrations(engine, test.database.url, [{ ...added, checksum: "edited" }]),
    ).rejects.toThrow(/changed after being applied/);
  });

  it("names the file and the statement that failed, and records nothing", async () => {
    const { engine } = test.server.app.analytics;
    const broken = migration(`99990102000000_broken_${Date.now()}`, ["SELECT 1", "CREATE TABLE nonsense ("]);
    const failure = applyAnalyticsMigrations(engine, test.database.url, [broken]);
    await expect(failure).rejects.toThrow(`Analytics migration ${broken.name}/clickhouse.sql failed`);
    await expect(failure).rejects.toThrow("Failing statement:\nCREATE TABLE nonsense (");
    await expect(applyAnalyticsMigrations(engine, test.database.url, [broken])).rejects.toThrow(/failed/);
  });
});
