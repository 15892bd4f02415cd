import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { assertImportablePasswordHash, hashingSlots, hashPassword, verifyPassword } from "./passwords.ts";

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

describe("importable password hashes", () => {
  const refusal = (passwordHash: string) => {
    try {
      assertImportablePasswordHash(passwordHash);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("takes argon2 and bcrypt hashes with the costs libraries use", async () => {
    expect(refusal(await hashPassword("an ordinary password"))).toBeNull();
    expect(refusal("$argon2i$v=19$m=65536,t=4,p=4$c29tZXNhbHQ$aGFzaA")).toBeNull();
    expect(refusal("$argon2d$m=262144,t=10,p=16$c29tZXNhbHQ$aGFzaA")).toBeNull();
    expect(refusal("$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234")).toBeNull();
    expect(refusal("$2y$15$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234")).toBeNull();
  });

  it("refuses other formats, and costs that would hold a hashing slot for minutes or hours", () => {
    for (const format of ["plain", "$argon2id$c29tZXNhbHQ$aGFzaA", "$5$rounds=5000$salt$hash", "$2b$ab$x"])
      expect(refusal(format)).toContain("only bcrypt and argon2 hashes");
    for (const costly of [
      "$argon2id$v=19$m=8,t=20000000,p=1$c29tZXNhbHQ$aGFzaA",
      "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$aGFzaA",
      "$argon2id$v=19$m=19456,t=2,p=64$c29tZXNhbHQ$aGFzaA",
      "$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    ])
      expect(refusal(costly)).toContain("its cost is above what this server verifies");
  });
});
