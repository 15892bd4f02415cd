import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { click, enableAnalytics, postEvents } from "../../../test/analytics.ts";
import {
  adminHeaders,
  api,
  clientHeaders,
  createTestProject,
  type SignedUpUser,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test);
  await enableAnalytics(test, project);
});
afterAll(() => test?.close());

const rrwebEvents = (count: number, from = Date.now()) =>
  Array.from({ length: count }, (_, i) => ({ type: 3, timestamp: from + i * 10, data: { source: 1, i } }));

function upload(user: SignedUpUser, body: Record<string, unknown> = {}, target = project) {
  return api(test.url, "/api/v1/session-replays/batch", {
    method: "POST",
    headers: clientHeaders(target, user.access_token, { "x-stack-allow-anonymous-user": "true" }),
    body: {
      browser_session_id: randomUUID(),
      session_replay_segment_id: randomUUID(),
      batch_id: randomUUID(),
      started_at_ms: Date.now(),
      sent_at_ms: Date.now(),
      events: rrwebEvents(2),
      ...body,
    },
  });
}

const admin = (path: string, target = project) =>
  api(test.url, `/api/v1/internal/session-replays${path}`, { headers: adminHeaders(target) });

describe("POST /session-replays/batch", () => {
  it("stores a batch once per batch id", async () => {
    const user = await signUpWithPassword(test, project);
    const batchId = randomUUID();
    const first = await upload(user, { batch_id: batchId });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ batch_id: batchId, deduped: false });
    expect(first.body.s3_key).toBe(
      `session-replays/${project.projectId}/main/${first.body.session_replay_id}/${batchId}.json.gz`,
    );
    const again = await upload(user, { batch_id: batchId });
    expect(again.body).toEqual({ ...first.body, deduped: true });
  });

  it("enforces its limits with upstream's plain messages", async () => {
    const user = await signUpWithPassword(test, project);
    const empty = await upload(user, { events: [] });
    expect([empty.status, empty.text]).toEqual([400, "events must not be empty"]);
    const many = await upload(user, { events: Array.from({ length: 5001 }, () => ({})) });
    expect([many.status, many.text]).toEqual([400, "Too many events (max 5000)"]);
    const huge = await upload(user, { events: [{ type: 2, payload: "x".repeat(1_100_000) }] });
    expect([huge.status, huge.text]).toEqual([413, "Request body too large (max 1000000 bytes)"]);
    const fractional = await upload(user, { started_at_ms: 123.4 });
    expect(fractional.body.code).toBe("SCHEMA_ERROR");
    expect(fractional.body.error).toContain("body.started_at_ms must be an integer");
    const badId = await upload(user, { browser_session_id: "x" });
    expect(badId.body.error).toContain("Invalid browser_session_id");
    const noTimestamps = await upload(user, { events: [{ type: 4 }, { hello: "world" }] });
    expect(noTimestamps.status).toBe(200);
    // Events without timestamps span the send time: one in the year 275760 would head every list.
    for (const field of ["sent_at_ms", "started_at_ms"]) {
      const farFuture = await upload(user, { [field]: 8_640_000_000_000_000, events: [{ type: 4 }] });
      expect(farFuture.body.code).toBe("SCHEMA_ERROR");
    }
  });

  it("measures a gzip-compressed batch by what it decompresses to", async () => {
    const user = await signUpWithPassword(test, project);
    const body = {
      browser_session_id: randomUUID(),
      session_replay_segment_id: randomUUID(),
      batch_id: randomUUID(),
      started_at_ms: Date.now(),
      sent_at_ms: Date.now(),
      events: [{ type: 2, timestamp: Date.now(), payload: "x".repeat(1_100_000) }],
    };
    const compressed = gzipSync(JSON.stringify(body));
    expect(compressed.length).toBeLessThan(100_000);
    const send = (bytes: Buffer) =>
      api(test.url, "/api/v1/session-replays/batch", {
        method: "POST",
        headers: {
          ...clientHeaders(project, user.access_token, { "x-stack-allow-anonymous-user": "true" }),
          "content-type": "application/octet-stream",
        },
        rawBody: bytes,
      });
    const refused = await send(compressed);
    expect([refused.status, refused.text]).toEqual([413, "Request body too large (max 1000000 bytes)"]);
    const small = gzipSync(JSON.stringify({ ...body, events: rrwebEvents(3) }));
    expect((await send(small)).status).toBe(200);
  });

  it("keeps a DOM snapshot nested as deep as a browser's parser builds, and reads it back whole", async () => {
    // An rrweb full snapshot: every element is a node whose children sit in a `childNodes` array.
    const domOf = (levels: number) => {
      let node: Record<string, unknown> = { type: 3, textContent: "leaf", id: levels + 1 };
      for (let level = levels; level > 0; level--)
        node = { type: 2, tagName: "div", id: level, childNodes: [node] };
      return node;
    };
    const snapshot = (levels: number) => ({ type: 2, timestamp: Date.now(), data: { node: domOf(levels) } });
    const user = await signUpWithPassword(test, project);
    const deep = await upload(user, { events: [snapshot(1000)] });
    expect(deep.status).toBe(200);
    const replayId = deep.body.session_replay_id;
    const chunks = await admin(`/${replayId}/chunks`);
    const stored = await admin(`/${replayId}/chunks/${chunks.body.items[0].id}/events`);
    expect(stored.body.events[0].data.node).toEqual(domOf(1000));
    const deeper = await upload(user, { events: [snapshot(1100)] });
    expect(deeper.body.code).toBe("SCHEMA_ERROR");
    expect(deeper.body.error).toContain("body is nested more than 2048 levels deep");
  });

  it("deletes a user's recordings with the user", async () => {
    const user = await signUpWithPassword(test, project);
    const uploaded = await upload(user);
    const blobs = async () =>
      (
        await test.server.app.database.pool.query("SELECT 1 FROM session_replay_blobs WHERE key = $1", [
          uploaded.body.s3_key,
        ])
      ).rows.length;
    expect(await blobs()).toBe(1);
    const deleted = await api(test.url, `/api/v1/users/${user.user_id}`, {
      method: "DELETE",
      headers: serverHeaders(project),
    });
    expect(deleted.status).toBe(200);
    expect(await blobs()).toBe(0);
  });

  it("needs analytics, a user and a session", async () => {
    const off = await createTestProject(test, "replays off");
    const user = await signUpWithPassword(test, off);
    const disabled = await upload(user, {}, off);
    expect(disabled.body.code).toBe("ANALYTICS_NOT_ENABLED");
    const anonymous = await api(test.url, "/api/v1/session-replays/batch", {
      method: "POST",
      headers: clientHeaders(project),
      body: {
        browser_session_id: randomUUID(),
        session_replay_segment_id: randomUUID(),
        batch_id: randomUUID(),
        started_at_ms: 0,
        sent_at_ms: 0,
        events: rrwebEvents(1),
      },
    });
    expect(anonymous.body.code).toBe("USER_AUTHENTICATION_REQUIRED");
  });

  it("groups batches by session, not by browser session", async () => {
    const user = await signUpWithPassword(test, project);
    const a = await upload(user, { browser_session_id: randomUUID() });
    const b = await upload(user, { browser_session_id: randomUUID() });
    expect(b.body.session_replay_id).toBe(a.body.session_replay_id);
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: clientHeaders(project),
      body: { email: user.email, password: user.password },
    });
    const c = await upload({ ...user, access_token: signIn.body.access_token });
    expect(c.body.session_replay_id).not.toBe(a.body.session_replay_id);
  });

  it("starts a new replay for batches recorded long ago", async () => {
    const user = await signUpWithPassword(test, project);
    const old = await upload(user, { events: rrwebEvents(2, 1.7e12) });
    const next = await upload(user, { events: rrwebEvents(2, 1.7e12) });
    expect(next.body.session_replay_id).not.toBe(old.body.session_replay_id);
  });
});

describe("admin replay browsing", () => {
  it("lists replays, their chunks and events, with pagination", async () => {
    const user = await signUpWithPassword(test, project);
    const first = await upload(user, { events: rrwebEvents(3) });
    await upload(user, { events: rrwebEvents(4, Date.now() + 1000) });
    const replayId = first.body.session_replay_id;

    const list = await admin(`?user_ids=${user.user_id}`);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({
      id: replayId,
      project_user: { id: user.user_id, primary_email: user.email },
      chunk_count: 2,
      event_count: 7,
    });
    const chunks = await admin(`/${replayId}/chunks`);
    expect(chunks.body.items.map((c: { event_count: number }) => c.event_count)).toEqual([3, 4]);
    const paged = await admin(`/${replayId}/chunks?limit=1`);
    expect(paged.body.items).toHaveLength(1);
    const rest = await admin(`/${replayId}/chunks?limit=1&cursor=${paged.body.pagination.next_cursor}`);
    expect(rest.body.items[0].id).toBe(chunks.body.items[1].id);
    expect(rest.body.pagination.next_cursor).toBeNull();

    const chunkEvents = await admin(`/${replayId}/chunks/${chunks.body.items[0].id}/events`);
    expect(chunkEvents.body.events).toEqual(rrwebEvents(3, chunkEvents.body.events[0].timestamp));
    const all = await admin(`/${replayId}/events?offset=1&limit=1`);
    expect(all.body.chunks).toHaveLength(2);
    expect(all.body.chunk_events).toEqual([{ chunk_id: chunks.body.items[1].id, events: expect.any(Array) }]);
    expect(all.body.chunk_events[0].events).toHaveLength(4);
  });

  it("paginates replays with equal activity times without repeats", async () => {
    const users = await Promise.all([1, 2, 3].map(() => signUpWithPassword(test, project)));
    const at = Date.now() - 5000;
    for (const user of users) await upload(user, { events: [{ type: 3, timestamp: at }] });
    const ids = users.map((u) => u.user_id).join(",");
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await admin(`?limit=1&user_ids=${ids}${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.body.items.map((item: { id: string }) => item.id));
      cursor = page.body.pagination.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
  });

  it("answers not found for unknown or foreign ids", async () => {
    const user = await signUpWithPassword(test, project);
    const a = await upload(user, { events: rrwebEvents(1, 1.6e12) });
    const b = await upload(user, { events: rrwebEvents(1, 1.5e12) });
    const chunkOfB = (await admin(`/${b.body.session_replay_id}/chunks`)).body.items[0].id;
    const unknown = randomUUID();
    expect((await admin(`?cursor=${unknown}`)).body).toMatchObject({
      code: "ITEM_NOT_FOUND",
      details: { item_id: unknown },
    });
    expect((await admin(`/${a.body.session_replay_id}/chunks?cursor=${chunkOfB}`)).status).toBe(404);
    expect((await admin(`/${a.body.session_replay_id}/chunks/${chunkOfB}/events`)).status).toBe(404);
    expect((await admin("/not-a-uuid/chunks")).status).toBe(404);

    const other = await createTestProject(test, "replay outsider");
    expect((await admin(`/${a.body.session_replay_id}/chunks`, other)).status).toBe(404);
    const foreignList = await admin("", other);
    expect(foreignList.body.items).toEqual([]);
  });

  it("is for admins only", async () => {
    for (const headers of [clientHeaders(project), serverHeaders(project)]) {
      const res = await api(test.url, "/api/v1/internal/session-replays", { headers });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    }
  });

  it("filters by user, team, duration, time and clicks", async () => {
    const [short, long, clicker] = await Promise.all([1, 2, 3].map(() => signUpWithPassword(test, project)));
    const now = Date.now();
    const shortReplay = await upload(short!, { events: [{ timestamp: now - 5000 }, { timestamp: now }] });
    const longReplay = await upload(long!, {
      events: [{ timestamp: now - 30_000 }, { timestamp: now - 20_000 }],
    });
    const clickerReplay = await upload(clicker!, { events: [{ timestamp: now - 1000 }] });
    await postEvents(test, project, clicker!.access_token, [click(), click(), click()]);
    await postEvents(test, project, short!.access_token, [click()]);
    const ids = [short!, long!, clicker!].map((u) => u.user_id).join(",");
    const listed = async (filters: string) =>
      (await admin(`?user_ids=${ids}&${filters}`)).body.items.map((item: { id: string }) => item.id);

    expect(await listed("duration_ms_min=10000")).toEqual([longReplay.body.session_replay_id]);
    expect(await listed("duration_ms_max=9999")).not.toContain(longReplay.body.session_replay_id);
    expect(await listed(`last_event_at_to_millis=${now - 10_000}`)).toEqual([
      longReplay.body.session_replay_id,
    ]);
    expect(await listed(`last_event_at_from_millis=${now - 10_000}`)).not.toContain(
      longReplay.body.session_replay_id,
    );
    expect(await listed("click_count_min=2")).toEqual([clickerReplay.body.session_replay_id]);
    expect(await listed("click_count_min=9999")).toEqual([]);
    expect((await admin("?click_count_min=9999")).body.pagination).toEqual({ next_cursor: null });

    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: serverHeaders(project),
      body: { display_name: "Replay team" },
    });
    await api(test.url, `/api/v1/team-memberships/${team.body.id}/${short!.user_id}`, {
      method: "POST",
      headers: serverHeaders(project),
      body: {},
    });
    expect(await listed(`team_ids=${team.body.id}`)).toEqual([shortReplay.body.session_replay_id]);

    const bad = async (query: string) => {
      const res = await admin(`?${query}`);
      expect(res.status).toBe(400);
      return res.text;
    };
    expect(await bad("user_ids=nope")).toBe("user_ids must contain valid UUID values");
    expect(await bad("team_ids=nope")).toBe("team_ids must contain valid UUID values");
    expect(await bad("duration_ms_min=-1")).toBe("duration_ms_min must be a non-negative integer");
    expect(await bad("duration_ms_min=5&duration_ms_max=1")).toBe(
      "duration_ms_min must be less than or equal to duration_ms_max",
    );
    expect(await bad("last_event_at_from_millis=x")).toBe(
      "last_event_at_from_millis must be a non-negative timestamp in milliseconds",
    );
    expect(await bad("last_event_at_from_millis=5&last_event_at_to_millis=1")).toBe(
      "last_event_at_from_millis must be less than or equal to last_event_at_to_millis",
    );
  });
});
