import { existsSync, readdirSync, readFileSync } from "node:fs";

/** CPU time (user + system, in clock ticks) of processes and of one process's threads, from /proc. */
interface CpuSnapshot {
  processes: Map<number, { name: string; ticks: number }>;
  serverThreads: Map<number, number>;
}

const TICKS_PER_SECOND = 100;

function ticksOf(statPath: string): number {
  const stat = readFileSync(statPath, "utf8");
  // Fields after the parenthesised name: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function snapshot(serverPid: number): CpuSnapshot {
  const processes = new Map<number, { name: string; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const name = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      processes.set(Number(entry), { name, ticks: ticksOf(`/proc/${entry}/stat`) });
    } catch {
      // Gone meanwhile.
    }
  }
  const serverThreads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${serverPid}/task`)) {
    try {
      serverThreads.set(Number(tid), ticksOf(`/proc/${serverPid}/task/${tid}/stat`));
    } catch {
      // Gone meanwhile.
    }
  }
  return { processes, serverThreads };
}

/** Milliseconds of CPU per operation, by where it was spent. */
export interface CpuPerOperation {
  serverMainThreadMs: number;
  /** libuv's pool (password hashing, token signing) and the analytics engine's threads. */
  serverOtherThreadsMs: number;
  postgresMs: number;
  loadGeneratorMs: number;
  restOfMachineMs: number;
}

/**
 * Runs some load and splits the CPU it cost, per operation, between the server's main thread, its other
 * threads, PostgreSQL, the load generator (this process) and everything else — on a machine where all
 * of them share the cores, which is what bounds a throughput ratio. Null where /proc is missing.
 */
export async function measureCpuPerOperation<T extends { totalRequests: number }>(
  serverPid: number,
  run: () => Promise<T>,
): Promise<{ result: T; cpu: CpuPerOperation | null }> {
  if (!existsSync(`/proc/${serverPid}/task`)) return { result: await run(), cpu: null };
  const before = snapshot(serverPid);
  const result = await run();
  const after = snapshot(serverPid);
  const perOperation = (ticks: number) =>
    Number((((ticks / TICKS_PER_SECOND) * 1000) / Math.max(1, result.totalRequests)).toFixed(2));
  let mainThread = 0;
  let otherThreads = 0;
  for (const [tid, ticks] of after.serverThreads) {
    const spent = ticks - (before.serverThreads.get(tid) ?? 0);
    if (tid === serverPid) mainThread += spent;
    else otherThreads += spent;
  }
  let postgres = 0;
  let loadGenerator = 0;
  let rest = 0;
  for (const [pid, { name, ticks }] of after.processes) {
    const spent = ticks - (before.processes.get(pid)?.ticks ?? 0);
    if (pid === serverPid) continue;
    if (pid === process.pid) loadGenerator += spent;
    else if (name.startsWith("postgres")) postgres += spent;
    else rest += spent;
  }
  return {
    result,
    cpu: {
      serverMainThreadMs: perOperation(mainThread),
      serverOtherThreadsMs: perOperation(otherThreads),
      postgresMs: perOperation(postgres),
      loadGeneratorMs: perOperation(loadGenerator),
      restOfMachineMs: perOperation(rest),
    },
  };
}
