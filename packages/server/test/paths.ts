import { readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const PREFIX = "latchkey-test-analytics-";

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Where the test processes of one run keep embedded analytics (chDB) data, one folder per process,
 * named after the run's main process: two runs at once (a full run and a single file) must not delete
 * each other's data. Folders of runs that died without cleaning up are removed here.
 */
export function analyticsRootForThisRun(): string {
  for (const entry of readdirSync(os.tmpdir())) {
    const pid = entry.startsWith(PREFIX) ? Number(entry.slice(PREFIX.length)) : Number.NaN;
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
      rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
    }
  }
  return path.join(os.tmpdir(), `${PREFIX}${process.pid}`);
}
