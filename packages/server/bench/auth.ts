import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hash } from "@node-rs/argon2";
import { type CpuPerOperation, measureCpuPerOperation } from "./cpu-accounting.ts";
import { benchPostgres, type LoadResult, load, repoRoot, spawnBenchServer } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SIGN_IN_CONCURRENCY = 8;
/**
 * Sign-ins and raw verifications are measured in alternating rounds: this machine's speed drifts by
 * ±10 % over a minute, which measuring each once, one after the other, turns into the ratio.
 */
const ROUNDS = 3;
/**
 * The raw baseline is the better of two ways to call argon2id: as many in flight as the sign-in load
 * (libuv's pool then runs four at once), and one per core (what the server's hashing slots allow).
 */
const BASELINE_IN_FLIGHT = [SIGN_IN_CONCURRENCY, availableParallelism()];
/**
 * The least a password sign-in can do, step by step, measured next to sign-ins (bench/servers/
 * sign-in-floor.ts): how close to raw verification any HTTP server with its credentials in PostgreSQL
 * can get on this machine, where the server, PostgreSQL and the load generator share the cores.
 */
const FLOOR_STEPS = ["hash", "hash+read", "hash+read+write"] as const;
type FloorStep = (typeof FLOOR_STEPS)[number];
const FLOOR_STEP_LABELS: Record<FloorStep, string> = {
  hash: "HTTP endpoint that only verifies the hash",
  "hash+read": "…after reading the hash by e-mail (one prepared SELECT)",
  "hash+read+write": "…and recording a session row (one INSERT more)",
};
const here = path.dirname(fileURLToPath(import.meta.url));

interface IdentityServer {
  port: number;
  projectId: string;
  secretServerKey: string;
  email: string;
  password: string;
  accessToken: string;
}

/**
 * Sign-ins/s next to raw argon2id verifications/s with the same parameters (target ≥ 0.9), and
 * authenticated `GET /users/me` throughput and latency with the SQL statements each request runs.
 */
export async function runAuthBench(): Promise<Record<string, unknown>> {
  const postgres = await benchPostgres();
  try {
    const server = await spawnBenchServer<IdentityServer>(
      "identity.ts",
      { DATABASE_URL: postgres.url },
      true,
    );
    const ask = <T>(message: object) =>
      new Promise<T>((resolve) => {
        server.child.once("message", (reply) => resolve(reply as T));
        server.child.send(message);
      });
    const base = `http://127.0.0.1:${server.info.port}/api/v1`;
    const client = {
      "x-stack-project-id": server.info.projectId,
      "x-stack-access-type": "client",
      "content-type": "application/json",
    };

    const signInBody = JSON.stringify({ email: server.info.email, password: server.info.password });
    const floor = await spawnBenchServer<{ port: number; email: string; password: string }>(
      "sign-in-floor.ts",
      { DATABASE_URL: postgres.url },
    );
    const floorLoad = (step: FloorStep, seconds: number) =>
      load({
        url: `http://127.0.0.1:${floor.info.port}/${step}/sign-in`,
        method: "POST",
        body: JSON.stringify({ email: floor.info.email, password: floor.info.password }),
        headers: { "content-type": "application/json" },
        seconds,
        connections: SIGN_IN_CONCURRENCY,
      });
    for (const step of FLOOR_STEPS) await floorLoad(step, 2);
    await load({
      url: `${base}/auth/password/sign-in`,
      method: "POST",
      body: signInBody,
      headers: client,
      seconds: 2,
      connections: SIGN_IN_CONCURRENCY,
    });
    const rounds: {
      signInsPerSecond: number;
      argon2PerSecond: number;
      argon2PerSecondByInFlight: Record<number, number>;
      argon2CpuMsPerVerification: number;
      floorPerSecond: Record<FloorStep, number>;
      signInCpu: CpuPerOperation | null;
    }[] = [];
    const signInRuns: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const argon2PerSecondByInFlight: Record<number, number> = {};
      const argon2CpuMs: number[] = [];
      for (const inFlight of BASELINE_IN_FLIGHT) {
        const baseline = await runArgon2Baseline(SECONDS / 2 / BASELINE_IN_FLIGHT.length, inFlight);
        argon2PerSecondByInFlight[inFlight] = baseline.verificationsPerSecond;
        argon2CpuMs.push(baseline.cpuMsPerVerification);
      }
      const { result: run, cpu } = await measureCpuPerOperation(server.child.pid!, () =>
        load({
          url: `${base}/auth/password/sign-in`,
          method: "POST",
          body: signInBody,
          headers: client,
          seconds: SECONDS / 2,
          connections: SIGN_IN_CONCURRENCY,
        }),
      );
      signInRuns.push(run);
      const floorPerSecond = {} as Record<FloorStep, number>;
      for (const step of FLOOR_STEPS) {
        const reference = await floorLoad(step, SECONDS / 2);
        if (reference.non2xx > 0 || reference.errors > 0)
          throw new Error(`the ${step} reference refused the password`);
        floorPerSecond[step] = reference.requestsPerSecond;
      }
      rounds.push({
        signInsPerSecond: run.requestsPerSecond,
        argon2PerSecond: Math.max(...Object.values(argon2PerSecondByInFlight)),
        argon2PerSecondByInFlight,
        argon2CpuMsPerVerification: Math.min(...argon2CpuMs),
        floorPerSecond,
        signInCpu: cpu,
      });
    }
    const mean = (values: number[]) => Math.round(values.reduce((sum, v) => sum + v, 0) / values.length);
    const signIns = {
      requestsPerSecond: mean(rounds.map((r) => r.signInsPerSecond)),
      totalRequests: signInRuns.reduce((sum, r) => sum + r.totalRequests, 0),
      non2xx: signInRuns.reduce((sum, r) => sum + r.non2xx, 0),
      errors: signInRuns.reduce((sum, r) => sum + r.errors, 0),
      latencyP50Ms: signInRuns[signInRuns.length - 1]!.latencyP50Ms,
      latencyP99Ms: signInRuns[signInRuns.length - 1]!.latencyP99Ms,
    };
    const argon2 = { verificationsPerSecond: mean(rounds.map((r) => r.argon2PerSecond)) };
    const floorReferences = Object.fromEntries(
      FLOOR_STEPS.map((step) => {
        const perSecond = mean(rounds.map((r) => r.floorPerSecond[step]));
        return [
          step,
          {
            requestsPerSecond: perSecond,
            ofRawArgon2: Number((perSecond / argon2.verificationsPerSecond).toFixed(3)),
            signInsOfIt: Number((signIns.requestsPerSecond / perSecond).toFixed(3)),
          },
        ];
      }),
    ) as Record<FloorStep, { requestsPerSecond: number; ofRawArgon2: number; signInsOfIt: number }>;
    await floor.stop();

    const overhead = await signInOverhead(base, server.info, server.child.pid!);

    const meHeaders = { ...client, "x-stack-access-token": server.info.accessToken };
    await load({ url: `${base}/users/me`, headers: meHeaders, seconds: 2, connections: 50 });
    const before = await ask<{ statements: number }>({ type: "statements" });
    const me = await load({ url: `${base}/users/me`, headers: meHeaders, seconds: SECONDS, connections: 50 });
    const after = await ask<{ statements: number }>({ type: "statements" });
    const statementsPerRequest = Number(
      ((after.statements - before.statements) / me.totalRequests).toFixed(3),
    );
    const verification = await ask<{ verificationsPerSecond: number; statements: number }>({
      type: "verify-tokens",
      iterations: 20_000,
    });
    await server.stop();

    const ratio = Number((signIns.requestsPerSecond / argon2.verificationsPerSecond).toFixed(3));
    for (const [i, r] of rounds.entries()) {
      console.log(
        `round ${i + 1}: sign-ins ${r.signInsPerSecond}/s, raw argon2id ${r.argon2PerSecond}/s (${Object.entries(
          r.argon2PerSecondByInFlight,
        )
          .map(([inFlight, perSecond]) => `${perSecond}/s with ${inFlight} in flight`)
          .join(", ")}) → ${(r.signInsPerSecond / r.argon2PerSecond).toFixed(3)}`,
      );
    }
    console.log(
      `\nPassword sign-ins: ${signIns.requestsPerSecond}/s (p50 ${signIns.latencyP50Ms} ms, non-2xx ${signIns.non2xx})`,
    );
    console.log(
      `Raw argon2id verifications (same parameters, best of ${BASELINE_IN_FLIGHT.join(" or ")} in flight): ${argon2.verificationsPerSecond}/s`,
    );
    console.log(`ratio: ${ratio} (target ≥ 0.9)`);
    console.log(
      "References on the same load and hashing slots, nothing of Latchkey's (no tenancy, tokens, rate limit, analytics):",
    );
    for (const step of FLOOR_STEPS) {
      const reference = floorReferences[step];
      console.log(
        `  ${FLOOR_STEP_LABELS[step]}: ${reference.requestsPerSecond}/s = ${reference.ofRawArgon2} of raw — sign-ins reach ${reference.signInsOfIt} of it`,
      );
    }
    const cpuRounds = rounds.flatMap((r) => (r.signInCpu ? [r.signInCpu] : []));
    const meanOf = (pick: (cpu: CpuPerOperation) => number) =>
      Number((cpuRounds.reduce((sum, cpu) => sum + pick(cpu), 0) / Math.max(1, cpuRounds.length)).toFixed(2));
    const signInCpu = cpuRounds.length
      ? {
          serverMainThreadMs: meanOf((cpu) => cpu.serverMainThreadMs),
          serverOtherThreadsMs: meanOf((cpu) => cpu.serverOtherThreadsMs),
          postgresMs: meanOf((cpu) => cpu.postgresMs),
          loadGeneratorMs: meanOf((cpu) => cpu.loadGeneratorMs),
          restOfMachineMs: meanOf((cpu) => cpu.restOfMachineMs),
        }
      : null;
    const argon2CpuMsPerVerification = Number(
      (rounds.reduce((sum, r) => sum + r.argon2CpuMsPerVerification, 0) / rounds.length).toFixed(2),
    );
    if (signInCpu) {
      console.log(
        `CPU per sign-in: server main thread ${signInCpu.serverMainThreadMs} ms, server's other threads (hashing, signing) ${signInCpu.serverOtherThreadsMs} ms, PostgreSQL ${signInCpu.postgresMs} ms, load generator ${signInCpu.loadGeneratorMs} ms, rest ${signInCpu.restOfMachineMs} ms — one raw verification costs ${argon2CpuMsPerVerification} ms`,
      );
    }
    const overheadMs = overhead.cpu ? cpuTotal(overhead.cpu) : null;
    const ceiling = overheadMs === null ? null : ceilingRatio(argon2CpuMsPerVerification, overheadMs);
    if (overhead.cpu) {
      console.log(
        `A sign-in's own cost, with a user whose hash is near-free (argon2id, 64 KiB, 1 pass): ${overhead.run.requestsPerSecond}/s, CPU per sign-in ${overheadMs} ms (server main thread ${overhead.cpu.serverMainThreadMs}, other threads ${overhead.cpu.serverOtherThreadsMs}, PostgreSQL ${overhead.cpu.postgresMs}, load generator ${overhead.cpu.loadGeneratorMs}, rest ${overhead.cpu.restOfMachineMs}) — next to a ${argon2CpuMsPerVerification} ms verification, that alone caps the ratio at ${ceiling} on a machine where all of it shares the cores`,
      );
    }
    console.log(
      `GET /users/me with an access token: ${me.requestsPerSecond} req/s, p50 ${me.latencyP50Ms} ms, p99 ${me.latencyP99Ms} ms, non-2xx ${me.non2xx}`,
    );
    console.log(`SQL statements per /users/me request: ${statementsPerRequest} (target ≤ 1)`);
    console.log(
      `Token verification: ${verification.verificationsPerSecond}/s, SQL statements in 20,000 verifications: ${verification.statements}`,
    );
    return {
      settings: {
        seconds: SECONDS,
        rounds: ROUNDS,
        secondsPerRound: SECONDS / 2,
        signInConcurrency: SIGN_IN_CONCURRENCY,
        baselineInFlight: BASELINE_IN_FLIGHT,
        usersMeConnections: 50,
      },
      rounds,
      passwordSignIns: signIns,
      rawArgon2idVerificationsPerSecond: argon2.verificationsPerSecond,
      rawArgon2idCpuMsPerVerification: argon2CpuMsPerVerification,
      cpuPerSignIn: signInCpu,
      signInToArgon2Ratio: ratio,
      floorReferences,
      signInOverhead: {
        requestsPerSecond: overhead.run.requestsPerSecond,
        non2xx: overhead.run.non2xx,
        cpuPerSignIn: overhead.cpu,
        cpuMsPerSignIn: overheadMs,
        ratioCeiling: ceiling,
      },
      usersMe: me,
      sqlStatementsPerUsersMeRequest: statementsPerRequest,
      tokenVerification: verification,
      targets: {
        signInToArgon2Ratio: 0.9,
        sqlStatementsPerUsersMeRequest: 1,
        tokenVerificationStatements: 0,
      },
    };
  } finally {
    await postgres.stop();
  }
}

function runArgon2Baseline(
  seconds: number,
  inFlight: number,
): Promise<{ verificationsPerSecond: number; cpuMsPerVerification: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(here, "servers", "argon2.ts"), String(seconds), String(inFlight)],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(output.trim().split("\n").at(-1)!))
        : reject(new Error(`argon2 baseline exited ${code}`)),
    );
  });
}

const cpuTotal = (cpu: CpuPerOperation) =>
  Number(
    (
      cpu.serverMainThreadMs +
      cpu.serverOtherThreadsMs +
      cpu.postgresMs +
      cpu.loadGeneratorMs +
      cpu.restOfMachineMs
    ).toFixed(2),
  );

/** The best sign-in/verification ratio a sign-in costing `overheadMs` besides its hash could reach. */
const ceilingRatio = (hashMs: number, overheadMs: number) =>
  Number((hashMs / (hashMs + overheadMs)).toFixed(3));

/**
 * What a sign-in costs besides its hash: sign-ins of a user imported with an argon2id hash of 64 KiB and
 * one pass, whose verification takes a few microseconds, measured like the real ones.
 */
async function signInOverhead(
  base: string,
  server: IdentityServer,
  serverPid: number,
): Promise<{ run: LoadResult; cpu: CpuPerOperation | null }> {
  const email = "near-free-hash@example.com";
  const password = "near-free password";
  const nearFreeHash = await hash(password, { algorithm: 2, memoryCost: 64, timeCost: 1, parallelism: 1 });
  const created = await fetch(`${base}/users`, {
    method: "POST",
    headers: {
      "x-stack-project-id": server.projectId,
      "x-stack-access-type": "server",
      "x-stack-secret-server-key": server.secretServerKey,
      "content-type": "application/json",
    },
    body: JSON.stringify({
      primary_email: email,
      primary_email_auth_enabled: true,
      password_hash: nearFreeHash,
    }),
  });
  if (created.status !== 201) throw new Error(`creating the near-free-hash user: ${created.status}`);
  const options = {
    url: `${base}/auth/password/sign-in`,
    method: "POST" as const,
    body: JSON.stringify({ email, password }),
    headers: {
      "x-stack-project-id": server.projectId,
      "x-stack-access-type": "client",
      "content-type": "application/json",
    },
    connections: SIGN_IN_CONCURRENCY,
  };
  await load({ ...options, seconds: 2 });
  const { result: run, cpu } = await measureCpuPerOperation(serverPid, () =>
    load({ ...options, seconds: SECONDS / 2 }),
  );
  return { run, cpu };
}
