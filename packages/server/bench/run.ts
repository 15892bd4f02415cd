/**
 * `npm run bench -- <name>`: runs one benchmark, prints its figures and writes them to
 * `bench/results/<name>.json`. Benchmarks are not tests: nothing here asserts on time.
 */
const benches: Record<string, () => Promise<Record<string, unknown>>> = {
  pipeline: async () => (await import("./pipeline.ts")).runPipelineBench(),
  auth: async () => (await import("./auth.ts")).runAuthBench(),
  ingest: async () => (await import("./ingest.ts")).runIngestBench(),
  sync: async () => (await import("./sync.ts")).runSyncBench(),
  metrics: async () => (await import("./metrics.ts")).runMetricsBench(),
};

const name = process.argv[2];
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(`Usage: npm run bench -- <${Object.keys(benches).join("|")}>`);
  process.exit(1);
}
const { writeResults } = await import("./support.ts");
const results = await bench();
const file = writeResults(name!, results);
console.log(`\nWrote ${file}`);
process.exit(0);
