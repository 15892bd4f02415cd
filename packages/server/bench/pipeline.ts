import { benchPostgres, load, spawnBenchServer } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

/**
 * `GET /api/v1` with server-key authentication on warm caches, next to a bare Fastify hello-world
 * measured in the same run. The ratio is the figure (target ≥ 0.5): it shows what the request pipeline
 * — header parsing, key digest check, project and config lookup, query validation, response headers —
 * costs on top of the HTTP framework itself.
 */
export async function runPipelineBench(): Promise<Record<string, unknown>> {
  const postgres = await benchPostgres();
  try {
    const hello = await spawnBenchServer<{ port: number }>("hello.ts");
    await load({ url: `http://127.0.0.1:${hello.info.port}/`, seconds: 2, connections: CONNECTIONS });
    const baseline = await load({
      url: `http://127.0.0.1:${hello.info.port}/`,
      seconds: SECONDS,
      connections: CONNECTIONS,
    });
    await hello.stop();

    const latchkey = await spawnBenchServer<{ port: number; projectId: string; secretServerKey: string }>(
      "latchkey.ts",
      {
        DATABASE_URL: postgres.url,
      },
    );
    const headers = {
      "x-stack-project-id": latchkey.info.projectId,
      "x-stack-access-type": "server",
      "x-stack-secret-server-key": latchkey.info.secretServerKey,
    };
    const url = `http://127.0.0.1:${latchkey.info.port}/api/v1`;
    const probe = await fetch(url, { headers });
    const probeText = await probe.text();
    if (probe.status !== 200 || !probeText.includes("Authentication: Server")) {
      throw new Error(`the bench request does not authenticate: ${probe.status} ${probeText}`);
    }
    await load({ url, headers, seconds: 2, connections: CONNECTIONS });
    const pipeline = await load({ url, headers, seconds: SECONDS, connections: CONNECTIONS });
    await latchkey.stop();

    const ratio = Number((pipeline.requestsPerSecond / baseline.requestsPerSecond).toFixed(3));
    console.log(
      `\nGET /api/v1 with server key (warm caches): ${pipeline.requestsPerSecond} req/s, p50 ${pipeline.latencyP50Ms} ms, p99 ${pipeline.latencyP99Ms} ms, non-2xx ${pipeline.non2xx}`,
    );
    console.log(
      `bare Fastify hello-world:                   ${baseline.requestsPerSecond} req/s, p50 ${baseline.latencyP50Ms} ms, p99 ${baseline.latencyP99Ms} ms`,
    );
    console.log(`ratio: ${ratio} (target ≥ 0.5)`);
    return {
      settings: { seconds: SECONDS, connections: CONNECTIONS },
      latchkeyServerKeyRoot: pipeline,
      bareFastifyHelloWorld: baseline,
      ratio,
      target: 0.5,
    };
  } finally {
    await postgres.stop();
  }
}
