// Raw argon2id verifications with the server's own parameters, as the baseline for sign-in throughput:
// `verify` called directly, with the given number in flight (argv: seconds, in flight).
import { verify } from "@node-rs/argon2";
import { hashPassword } from "../../src/features/auth/passwords.ts";

const seconds = Number(process.argv[2] ?? 10);
const inFlight = Number(process.argv[3] ?? 8);
const hash = await hashPassword("bench password 123");
let done = 0;
const cpuBefore = process.cpuUsage();
const deadline = performance.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      if (!(await verify(hash, "bench password 123"))) throw new Error("verification failed");
      done++;
    }
  }),
);
const cpu = process.cpuUsage(cpuBefore);
console.log(
  JSON.stringify({
    verificationsPerSecond: Math.round(done / seconds),
    cpuMsPerVerification: Number(((cpu.user + cpu.system) / 1000 / done).toFixed(2)),
  }),
);
