import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  // No db-sync sweeps: they take pool connections every 2 s, and this file counts checkouts.
  test = await startTestServer({ runSyncWorker: false });
  project = await createTestProject(test);
});
afterAll(() => test?.close());

/** Counts connection checkouts from the server's pool: every query the server runs needs one. */
function countPoolCheckouts(): { count(): number; stop(): void } {
  let checkouts = 0;
  const onAcquire = () => {
    checkouts++;
  };
  test.server.app.database.pool.on("acquire", onAcquire);
  return { count: () => checkouts, stop: () => test.server.app.database.pool.off("acquire", onAcquire) };
}

describe("project cache", () => {
  it("authenticates warm requests without touching the database", async () => {
    const headers = keyHeaders(project.projectId, "server", project.keys);
    expect((await api(test.url, "/api/v1", { headers })).status).toBe(200);

    const counter = countPoolCheckouts();
    try {
      for (let i = 0; i < 50; i++) {
        const res = await api(test.url, "/api/v1/projects/current", { headers });
        expect(res.status).toBe(200);
      }
      // Wrong keys and unknown projects are answered from memory too.
      const wrong = await api(test.url, "/api/v1", {
        headers: { ...headers, "x-stack-secret-server-key": "ssk_wrong" },
      });
      expect(wrong.body.code).toBe("INVALID_SECRET_SERVER_KEY");
      expect(counter.count()).toBe(0);
    } finally {
      counter.stop();
    }
  });

  it("sees changes made behind its back (raw SQL) through the NOTIFY trigger", async () => {
    const headers = keyHeaders(project.projectId, "client", project.keys);
    expect((await api(test.url, "/api/v1/projects/current", { headers })).body.display_name).toBe(
      "Test project",
    );

    const client = new pg.Client({ connectionString: test.database.url });
    await client.connect();
    await client.query("UPDATE projects SET display_name = 'Renamed by SQL' WHERE id = $1", [
      project.projectId,
    ]);
    await client.end();

    let name = "";
    for (let attempt = 0; attempt < 50 && name !== "Renamed by SQL"; attempt++) {
      name = (await api(test.url, "/api/v1/projects/current", { headers })).body.display_name;
      if (name !== "Renamed by SQL") await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(name).toBe("Renamed by SQL");
  });

  it("caches unknown projects without a query per request, and notices when one is created", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    const headers = { "x-stack-project-id": missing, "x-stack-access-type": "client" };
    expect((await api(test.url, "/api/v1", { headers })).body.code).toBe("CURRENT_PROJECT_NOT_FOUND");
    const counter = countPoolCheckouts();
    try {
      for (let i = 0; i < 20; i++) expect((await api(test.url, "/api/v1", { headers })).status).toBe(400);
      expect(counter.count()).toBe(0);
    } finally {
      counter.stop();
    }
    const { insertProject } = await import("./queries.ts");
    await insertProject(test.server.app.database.db, { id: missing, displayName: "Late arrival" });
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = (await api(test.url, "/api/v1", { headers })).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(200);
  });
});
