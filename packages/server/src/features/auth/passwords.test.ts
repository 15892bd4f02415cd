import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { hashingSlots, hashPassword, verifyPassword } from "./passwords.ts";

describe("password hashing slots", () => {
  it("runs one hash per core and queues the rest, every one finishing", async () => {
    const hash = await hashPassword("slot test password");
    const cores = availableParallelism();
    const checks = Array.from({ length: cores * 3 }, () => verifyPassword(hash, "slot test password"));
    // verifyPassword hands its job to the slots synchronously: the queue is visible straight away.
    expect(hashingSlots.activeCount + hashingSlots.pendingCount).toBe(cores * 3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(hashingSlots.activeCount).toBe(cores);
    const results = await Promise.all(checks);
    expect(results.every((r) => r.ok && !r.needsRehash)).toBe(true);
    expect(hashingSlots.activeCount + hashingSlots.pendingCount).toBe(0);
  });
});
