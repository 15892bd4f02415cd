import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindLock } from "../../../test/database.ts";
import {
  api,
  createTestProject,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";

/** Contact channels written by concurrent requests: each answers as if it ran alone. */
let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Channel concurrency project");
});
afterAll(() => test?.close());

const channels = (path = "", request: { method?: string; body?: unknown } = {}) =>
  api(test.url, `/api/v1/contact-channels${path}`, { headers: serverHeaders(project), ...request });

const addChannel = (userId: string, value: string, isPrimary = false) =>
  channels("", {
    method: "POST",
    body: { user_id: userId, type: "email", value, used_for_auth: false, is_primary: isPrimary },
  });

/** Holds the user row (as a user update or delete does) while `request` reaches it, then runs `meanwhile`. */
const whileUserLocked = <T>(userId: string, request: () => Promise<T>, meanwhile: string[]) =>
  behindLock(
    test.database.url,
    { lock: "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", meanwhile, params: [userId] },
    request,
  );

describe("contact channels under concurrent requests", () => {
  it("keeps one primary channel when several are made primary at once", async () => {
    const user = await signUpWithPassword(test, project);
    const added = await Promise.all(
      Array.from({ length: 6 }, () => addChannel(user.user_id, uniqueEmail("primary"), true)),
    );
    expect(added.map((answer) => answer.status)).toEqual(Array(6).fill(201));
    const others = await Promise.all(
      Array.from({ length: 4 }, () => addChannel(user.user_id, uniqueEmail())),
    );
    const promoted = await Promise.all(
      others.map((other) =>
        channels(`/${user.user_id}/${other.body.id}`, { method: "PATCH", body: { is_primary: true } }),
      ),
    );
    expect(promoted.map((answer) => answer.status)).toEqual(Array(4).fill(200));
    const list = await channels(`?user_id=${user.user_id}`);
    expect(list.body.items.filter((channel: { is_primary: boolean }) => channel.is_primary)).toHaveLength(1);
  });

  it("answers a change to a channel deleted meanwhile with not-found", async () => {
    const user = await signUpWithPassword(test, project);
    const channel = await addChannel(user.user_id, uniqueEmail("doomed"));
    const patched = await whileUserLocked(
      user.user_id,
      () => channels(`/${user.user_id}/${channel.body.id}`, { method: "PATCH", body: { is_primary: true } }),
      ["DELETE FROM contact_channels WHERE user_id = $1 AND NOT is_primary"],
    );
    expect(patched.status).toBe(400);
    expect(patched.text).toBe("Contact channel not found");
    const deletes = await Promise.all(
      [1, 2, 3].map(() => channels(`/${user.user_id}/${channel.body.id}`, { method: "DELETE" })),
    );
    expect(deletes.map((answer) => answer.status)).toEqual([400, 400, 400]);
  });

  it("deletes a channel once when asked several times at once", async () => {
    const user = await signUpWithPassword(test, project);
    const channel = await addChannel(user.user_id, uniqueEmail("twice"));
    const deletes = await Promise.all(
      [1, 2, 3, 4].map(() => channels(`/${user.user_id}/${channel.body.id}`, { method: "DELETE" })),
    );
    expect(deletes.map((answer) => answer.status).sort()).toEqual([200, 400, 400, 400]);
  });

  it("answers a channel added to a user deleted meanwhile with the missing user", async () => {
    const user = await signUpWithPassword(test, project);
    const added = await whileUserLocked(user.user_id, () => addChannel(user.user_id, uniqueEmail("orphan")), [
      "DELETE FROM users WHERE id = $1",
    ]);
    expect(added.status).toBe(400);
    expect(added.body.code).toBe("USER_ID_DOES_NOT_EXIST");
  });

  it("makes a channel primary while the user's primary e-mail changes, without a deadlock", async () => {
    const user = await signUpWithPassword(test, project);
    const answers = await Promise.all([
      addChannel(user.user_id, uniqueEmail("racer"), true),
      api(test.url, `/api/v1/users/${user.user_id}`, {
        method: "PATCH",
        headers: serverHeaders(project),
        body: { primary_email: uniqueEmail("renamed") },
      }),
      addChannel(user.user_id, uniqueEmail("racer"), true),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([201, 200, 201]);
    const list = await channels(`?user_id=${user.user_id}`);
    expect(list.body.items.filter((channel: { is_primary: boolean }) => channel.is_primary)).toHaveLength(1);
  });
});
