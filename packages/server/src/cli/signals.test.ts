import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runProcess } from "../../test/child-process.ts";

const signals = fileURLToPath(new URL("./signals.ts", import.meta.url));

/**
 * In a process of its own (the signal is real): SIGTERM arrives while another listener (embedded-
 * postgres's) still has it, before the event loop turns, and the takeover happens in between — as when
 * a supervisor stops Latchkey the moment it says it listens.
 */
const script = (takeOver: string) => `
  const { takeOverSignals } = await import(${JSON.stringify(signals)});
  process.on("SIGTERM", () => console.log("the replaced listener"));
  process.kill(process.pid, "SIGTERM");
  ${takeOver}
  setTimeout(() => { console.log("unheard"); process.exit(1); }, 2000);
`;

describe("takeOverSignals", () => {
  it("hears a signal that arrived just before it took over, and leaves no other listener", async () => {
    const result = await runProcess(process.execPath, [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      script(`
        takeOverSignals(["SIGTERM", "SIGINT"], (signal) => {
          console.log("heard " + signal + ", listeners " + process.listeners(signal).length);
          process.exit(0);
        });
      `),
    ]);
    expect(result.stdout.trim()).toBe("heard SIGTERM, listeners 1");
    expect(result.status).toBe(0);
  });

  it("is needed: removing every listener before adding one drops that signal", async () => {
    const result = await runProcess(process.execPath, [
      "--input-type=module",
      "-e",
      script(`
        process.removeAllListeners("SIGTERM");
        process.on("SIGTERM", () => { console.log("heard"); process.exit(0); });
      `).replace(/const \{ takeOverSignals \}.*\n/, ""),
    ]);
    expect(result.stdout.trim()).toBe("unheard");
  });
});
