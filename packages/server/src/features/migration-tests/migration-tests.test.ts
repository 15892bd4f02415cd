import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const path = (version: string, query = "") => `/api/${version}/migration-tests/smart-route-handler${query}`;

describe("API versions: an old request is translated in, the answer comes back out", () => {
  it("v1: the route did not exist yet", async () => {
    const res = await api(test.url, path("v1"));
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("text/plain");
  });

  it("v2beta1: optional queryParam, defaulting to n/a, renamed on its way to latest", async () => {
    expect((await api(test.url, path("v2beta1"))).text).toContain(
      "The query parameter you passed in is: n/a",
    );
    expect((await api(test.url, path("v2beta1", "?queryParam=123"))).text).toContain(
      "The query parameter you passed in is: 123",
    );
    const newName = await api(test.url, path("v2beta1", "?queryParamNew=1"));
    expect(newName.body.code).toBe("SCHEMA_ERROR");
    expect(newName.body.error).toContain("query contains unknown properties: queryParamNew");
  });

  it("v2beta2: queryParam required", async () => {
    const missing = await api(test.url, path("v2beta2"));
    expect(missing.body.error).toContain("query.queryParam must be defined");
    expect((await api(test.url, path("v2beta2", "?queryParam=7"))).text).toContain(
      "The query parameter you passed in is: 7",
    );
    expect((await api(test.url, path("v2beta2", "?queryParamNew=7"))).body.error).toContain(
      "query contains unknown properties: queryParamNew",
    );
  });

  it("v2beta3: queryParamNew required, queryParam unknown", async () => {
    expect((await api(test.url, path("v2beta3"))).body.error).toContain(
      "query.queryParamNew must be defined",
    );
    expect((await api(test.url, path("v2beta3", "?queryParamNew=8"))).text).toContain(
      "The query parameter you passed in is: 8",
    );
    expect((await api(test.url, path("v2beta3", "?queryParam=8"))).body.error).toContain(
      "query contains unknown properties: queryParam",
    );
  });

  it("v2beta4, v2beta5 and latest: queryParamNew optional", async () => {
    for (const version of ["v2beta4", "v2beta5", "latest"]) {
      expect((await api(test.url, path(version))).text).toContain(
        "Looks like you didn't pass in the query parameter.",
      );
      expect((await api(test.url, path(version, "?queryParamNew=9"))).text).toContain(
        "The query parameter you passed in is: 9",
      );
      expect((await api(test.url, path(version, "?queryParam=9"))).body.code).toBe("SCHEMA_ERROR");
    }
    const list = await api(test.url, "/api/latest/migration-tests/?x=1");
    expect(list.text).toBe(
      `You are on ${test.url}/api/latest/migration-tests/?x=1. Please pick a migration test.\n\n- ${test.url}/api/latest/migration-tests/smart-route-handler`,
    );
  });

  it("serves every ordinary endpoint identically under every version", async () => {
    const project = await createTestProject(test);
    const headers = keyHeaders(project.projectId, "server", project.keys);
    const answers = await Promise.all(
      ["v1", "v2beta3", "latest"].map((v) => api(test.url, `/api/${v}/projects/current`, { headers })),
    );
    for (const res of answers) expect(res.body).toEqual(answers[0]!.body);
  });
});
