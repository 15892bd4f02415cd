/**
 * A second process for the cache's cross-process single-flight test: asks the shared cache for one key
 * whose computation is slow and records every computation in `cache_test_loads`. Prints the value.
 * Usage: tsx test/cache-contender.ts <database url> <key>
 */
import { sql } from "kysely";
import { PersistentCache } from "../src/cache/index.ts";
import { openDatabase } from "../src/db/database.ts";

const [url, key] = process.argv.slice(2);
if (!url || !key) throw new Error("usage: cache-contender <database url> <key>");
const database = openDatabase(url, { maxConnections: 2 });
try {
  const cache = new PersistentCache(database.db);
  const { value } = await cache.getOrSet({
    namespace: "contention-test",
    key,
    freshMs: 60_000,
    load: async () => {
      await sql`INSERT INTO cache_test_loads (pid) VALUES (${process.pid})`.execute(database.db);
      await new Promise((resolve) => setTimeout(resolve, 800));
      return { computedBy: process.pid };
    },
  });
  console.log(JSON.stringify(value));
} finally {
  await database.close();
}
