/**
 * Bad input gets a 4xx in the Stack Auth shape, never a 5xx: every route the server registers (hidden ones
 * too, read from the same arrays the server is built from, so a new route is covered the day it is added)
 * is sent a bounded battery of hostile values derived from its own schemas, once per access type it allows.
 * A shippable distillation of a 75,000-request exploratory sweep; the value classes are the ones that
 * found bugs there.
 */
import pLimit from "p-limit";
import type { TSchema } from "typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccessType,
  adminHeaders,
  api,
  createTestProject,
  keyHeaders,
  patchEnvironmentConfig,
  type SignedUpUser,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../test/server.ts";
import { httpRoutes } from "../routes.ts";
import { isUuid } from "./requirements.ts";
import type { RouteDefinition } from "./route.ts";

/** The parts of a JSON schema the battery is derived from. */
interface SchemaView {
  type?: string;
  anyOf?: SchemaView[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  minItems?: number;
  items?: SchemaView;
  properties?: Record<string, SchemaView>;
  required?: string[];
}

const schemaView = (schema: TSchema | undefined): SchemaView => (schema ?? {}) as SchemaView;

// ---------------------------------------------------------------------------------------------------
// The state routes need to get past "not found"

/** One project with a signed-in user and one of each row the routes address. */
interface World {
  project: TestProject;
  user: SignedUpUser;
  teamId: string;
  contactChannelId: string;
  sessionId: string;
  userApiKey: { id: string; value: string };
  teamApiKey: { id: string; value: string };
  projectPermissionId: string;
}

/** A setup request: one that fails stops the test, which would otherwise probe a world that is not there. */
async function setUp(test: TestServer, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await api(test.url, `/api/v1${path}`, { method: body ? "POST" : "GET", headers, body });
  if (res.status >= 300) throw new Error(`setup ${path} failed: ${res.status} ${res.text}`);
  return res.body;
}

async function createWorld(test: TestServer, project: TestProject): Promise<World> {
  // All off by default: their routes would stop at that check.
  await patchEnvironmentConfig(test, project, {
    "apps.installed.analytics": { enabled: true },
    "apiKeys.enabled.user": true,
    "apiKeys.enabled.team": true,
    "teams.allowClientTeamCreation": true,
    "users.allowClientUserDeletion": true,
  });
  const user = await signUpWithPassword(test, project);
  const server = serverHeaders(project);
  const team = await setUp(test, "/teams", server, { display_name: "Team", creator_user_id: user.user_id });
  const [channels, sessions, userApiKey, teamApiKey, permission] = await Promise.all([
    setUp(test, `/contact-channels?user_id=${user.user_id}`, server),
    setUp(test, `/auth/sessions?user_id=${user.user_id}`, server),
    setUp(test, "/user-api-keys", server, {
      user_id: user.user_id,
      description: "k",
      expires_at_millis: null,
    }),
    setUp(test, "/team-api-keys", server, { team_id: team.id, description: "k", expires_at_millis: null }),
    setUp(test, "/project-permission-definitions", adminHeaders(project), { id: "probe_permission" }),
  ]);
  return {
    project,
    user,
    teamId: team.id,
    contactChannelId: channels.items[0].id,
    sessionId: sessions.items[0].id,
    userApiKey,
    teamApiKey,
    projectPermissionId: permission.id,
  };
}

// ---------------------------------------------------------------------------------------------------
// Who calls

type Caller = "anonymous" | AccessType;

/** A public route serves anyone, and still reads the auth headers when they are sent. */
const callersOf = (route: RouteDefinition): readonly Caller[] =>
  route.access === "public" ? ["anonymous", "client", "server", "admin"] : route.access;

/** Keyed callers are signed in as the world's user, so routes about "me" get past sign-in checks. */
function headersOf(caller: Caller, world: World): Record<string, string> {
  if (caller === "anonymous") return {};
  const { projectId, keys } = world.project;
  return {
    ...keyHeaders(projectId, caller, keys),
    "x-stack-access-token": world.user.access_token,
    "x-stack-refresh-token": world.user.refresh_token,
  };
}

// ---------------------------------------------------------------------------------------------------
// Well-formed values: every field but the probed one is valid, so a hostile value that passes
// validation reaches the handler and the database

const FIXED_UUID = "3f1c2a6e-8d4b-4c7a-9e2f-5b6d7c8e9f01";

/** The world's own rows by field name. */
function ownValue(name: string, route: RouteDefinition, world: World): string | undefined {
  const teamScoped = route.path.startsWith("/team-");
  switch (name) {
    case "user_id":
    case "creator_user_id":
      return world.user.user_id;
    case "team_id":
    case "owner_team_id":
      return world.teamId;
    case "contact_channel_id":
      return world.contactChannelId;
    case "session_id":
      return world.sessionId;
    case "project_id":
    case "client_id":
      return world.project.projectId;
    case "client_secret":
      return world.project.keys.publishable_client_key;
    case "refresh_token":
      return world.user.refresh_token;
    case "email":
      return world.user.email;
    case "password":
    case "old_password":
    case "new_password":
      return world.user.password;
    case "api_key_id":
      if (route.path.startsWith("/internal/")) return world.project.keys.id;
      return teamScoped ? world.teamApiKey.id : world.userApiKey.id;
    case "api_key":
      return teamScoped ? world.teamApiKey.value : world.userApiKey.value;
    case "permission_id":
      return teamScoped ? "team_member" : world.projectPermissionId;
    default:
      return undefined;
  }
}

/** Strings whose meaning no schema spells out: what a real client would send. */
const SAMPLE_BY_NAME: Record<string, string> = {
  callback_url: "http://localhost:3000/handler",
  verification_callback_url: "http://localhost:3000/handler",
  config_string: "{}",
  config_override_string: "{}",
  grant_type: "refresh_token",
  query: "SELECT 1",
};

/** Strings that between them satisfy every format, pattern and length the schemas ask for. */
const SAMPLE_STRINGS = ["probe", FIXED_UUID, "probe@example.com", "123456", "US", "p".repeat(45)];

function fits(text: string, schema: SchemaView): boolean {
  if (schema.format === "uuid" && !isUuid(text)) return false;
  if (schema.format === "email" && !text.includes("@")) return false;
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(text)) return false;
  return (
    text.length >= (schema.minLength ?? 0) && text.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY)
  );
}

function validValue(name: string, schema: SchemaView, route: RouteDefinition, world: World): unknown {
  const own = ownValue(name, route, world);
  if (own !== undefined) return own;
  if (schema.const !== undefined) return schema.const;
  if (schema.anyOf) {
    const branch = schema.anyOf.find((b) => b.type !== "null") ?? schema.anyOf[0]!;
    return validValue(name, branch, route, world);
  }
  switch (schema.type) {
    case "string":
      return SAMPLE_BY_NAME[name] ?? SAMPLE_STRINGS.find((text) => fits(text, schema)) ?? "probe";
    case "number":
    case "integer":
      return schema.minimum ?? 1;
    case "boolean":
      return true;
    case "array":
      return Array.from({ length: schema.minItems ?? 0 }, () =>
        validValue("", schema.items ?? {}, route, world),
      );
    case "object":
      return requiredFields(schema, route, world);
    default:
      return {};
  }
}

/** Only the required fields: optional ones left out are what most clients send. */
function requiredFields(schema: SchemaView, route: RouteDefinition, world: World): Record<string, unknown> {
  return Object.fromEntries(
    (schema.required ?? []).map((name) => [
      name,
      validValue(name, schema.properties?.[name] ?? {}, route, world),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------------
// Hostile values

/** Text that does not compress as a repeated letter would, so its whole length reaches the database. */
function incompressibleText(length: number): string {
  let seed = 1;
  let text = "";
  while (text.length < length) {
    seed = (seed * 48_271) % 2_147_483_647;
    text += seed.toString(36);
  }
  return text.slice(0, length);
}

const nestedObjectJson = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** A hostile body value as JSON text: `1e309` has no other spelling (it parses to Infinity). */
interface HostileJson {
  label: string;
  json: string;
}

const HOSTILE_STRINGS: HostileJson[] = [
  { label: "empty string", json: '""' },
  { label: "NUL", json: JSON.stringify("a\u0000b") },
  { label: "lone surrogate", json: JSON.stringify("a\ud800b") },
  { label: "urn:uuid", json: JSON.stringify(`urn:uuid:${FIXED_UUID}`) },
  { label: "10,000 characters", json: JSON.stringify(incompressibleText(10_000)) },
];
const HOSTILE_NUMBERS: HostileJson[] = [
  { label: "1e309", json: "1e309" },
  { label: "1e20", json: "1e20" },
  { label: "-1", json: "-1" },
];
const HOSTILE_STRUCTURES: HostileJson[] = [{ label: "600 levels deep", json: nestedObjectJson(600) }];

/** JSON types a schema accepts; `null` stands for any type (free-form metadata). */
function acceptedTypes(schema: SchemaView): Set<string> | null {
  if (schema.const !== undefined) return new Set([typeof schema.const]);
  if (schema.anyOf) {
    const branches = schema.anyOf.map(acceptedTypes);
    return branches.includes(null) ? null : new Set(branches.flatMap((types) => [...(types ?? [])]));
  }
  if (schema.type === undefined) return null;
  return new Set([schema.type === "integer" ? "number" : schema.type]);
}

/** A handful per field, chosen by what the field accepts: values of its type probe past validation. */
function hostileValuesFor(schema: SchemaView): HostileJson[] {
  const types = acceptedTypes(schema);
  if (types === null) return [...HOSTILE_STRINGS, ...HOSTILE_NUMBERS, ...HOSTILE_STRUCTURES];
  return [
    { label: "wrong type", json: types.has("string") ? "12345" : '"12345"' },
    ...(types.has("string") ? HOSTILE_STRINGS : []),
    ...(types.has("number") ? HOSTILE_NUMBERS : []),
    ...(types.has("object") || types.has("array") ? HOSTILE_STRUCTURES : []),
  ];
}

/** Hostile URL text, percent-encoded as sent; a path or query string has no types, nor nesting. */
const HOSTILE_URL_TEXT: { label: string; encoded: string }[] = [
  { label: "empty string", encoded: "" },
  { label: "NUL", encoded: "a%00b" },
  // U+D800 encoded as if it were a character: the nearest a URL gets to a lone surrogate.
  { label: "lone surrogate", encoded: "a%ED%A0%80b" },
  { label: "urn:uuid", encoded: encodeURIComponent(`urn:uuid:${FIXED_UUID}`) },
  { label: "1e309", encoded: "1e309" },
  { label: "1e20", encoded: "1e20" },
  { label: "-1", encoded: "-1" },
  // Past the router's 500-character parameter limit, within Node's 16 KB for a request head.
  { label: "2,000 characters", encoded: incompressibleText(2_000) },
];

/** Whole bodies, broken or empty. GET requests carry none: fetch refuses to send one. */
const HOSTILE_BODIES: { label: string; body: string | Buffer; contentType: string }[] = [
  { label: "invalid JSON", body: '{"a":', contentType: "application/json" },
  { label: "JSON array", body: "[1,2,3]", contentType: "application/json" },
  {
    label: "octet-stream bytes",
    body: Buffer.from([0x00, 0xff, 0x7b, 0x22]),
    contentType: "application/octet-stream",
  },
  { label: "empty body", body: "", contentType: "application/json" },
  {
    label: "array 100,000 levels deep",
    body: `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
    contentType: "application/json",
  },
  { label: "empty object", body: "{}", contentType: "application/json" },
];

// ---------------------------------------------------------------------------------------------------
// Probes: one request each

interface Probe {
  caller: Caller;
  method: string;
  path: string;
  label: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** JSON text of `body` with one field's value replaced by raw JSON text. */
function withField(body: Record<string, unknown>, field: string, json: string): string {
  const marker = "\u0001hostile\u0001";
  return JSON.stringify({ ...body, [field]: marker }).replace(JSON.stringify(marker), json);
}

function urlOf(route: RouteDefinition, params: Record<string, string>, query: [string, string][]): string {
  const path = route.path.replace(/:(\w+)/g, (_, name: string) => params[name]!);
  const search = query.map(([key, value]) => `${key}=${value}`).join("&");
  return `/api/v1${path}${search ? `?${search}` : ""}`;
}

/**
 * The battery for one route and caller: each path parameter, query field and body field hostile in
 * turn with the rest well-formed, then whole hostile bodies, then the well-formed request itself —
 * last, because on a DELETE it removes what the others address.
 */
function probesFor(route: RouteDefinition, caller: Caller, world: World): Probe[] {
  const encoded = (name: string, schema: SchemaView) =>
    encodeURIComponent(String(validValue(name, schema, route, world)));
  const paramSchema = schemaView(route.schemas.params);
  const querySchema = schemaView(route.schemas.query);
  const params = Object.fromEntries(
    Object.entries(paramSchema.properties ?? {}).map(([name, schema]) => [name, encoded(name, schema)]),
  );
  // Query fields that name the world's rows go along even when optional: some routes want one anyway.
  const query = Object.entries(querySchema.properties ?? {})
    .filter(([name]) => querySchema.required?.includes(name) || ownValue(name, route, world) !== undefined)
    .map(([name, schema]): [string, string] => [name, encoded(name, schema)]);
  const bodySchema = route.schemas.body ? schemaView(route.schemas.body) : undefined;
  const body = bodySchema ? requiredFields(bodySchema, route, world) : undefined;
  const bodyText = body ? JSON.stringify(body) : undefined;

  const headers = headersOf(caller, world);
  const probes: Probe[] = [];
  const probe = (label: string, url: string, sent?: { body: string | Buffer; contentType: string }) =>
    probes.push({
      caller,
      method: route.method,
      path: url,
      label,
      headers: sent ? { ...headers, "content-type": sent.contentType } : headers,
      body: sent?.body,
    });
  const json = (text: string | undefined) =>
    text === undefined ? undefined : { body: text, contentType: "application/json" };

  for (const name of Object.keys(params)) {
    for (const { label, encoded } of HOSTILE_URL_TEXT) {
      probe(`path ${name}: ${label}`, urlOf(route, { ...params, [name]: encoded }, query), json(bodyText));
    }
  }
  for (const name of Object.keys(querySchema.properties ?? {})) {
    const others = query.filter(([key]) => key !== name);
    for (const { label, encoded } of HOSTILE_URL_TEXT) {
      probe(`query ${name}: ${label}`, urlOf(route, params, [...others, [name, encoded]]), json(bodyText));
    }
    // A repeated key is the query string's wrong type: an array.
    probe(
      `query ${name}: repeated`,
      urlOf(route, params, [...others, [name, "a"], [name, "b"]]),
      json(bodyText),
    );
  }
  const url = urlOf(route, params, query);
  if (body && bodySchema) {
    for (const [name, schema] of Object.entries(bodySchema.properties ?? {})) {
      for (const { label, json: value } of hostileValuesFor(schema)) {
        probe(`body ${name}: ${label}`, url, json(withField(body, name, value)));
      }
    }
  }
  if (route.method !== "GET") {
    for (const { label, body: hostile, contentType } of HOSTILE_BODIES) {
      probe(`whole body: ${label}`, url, { body: hostile, contentType });
    }
  }
  probe("well-formed request", url, json(bodyText));
  return probes;
}

// ---------------------------------------------------------------------------------------------------
// Checking the answers

/** What was wrong with an answer. */
interface Finding {
  status: number;
  text: string;
  problem: string;
}

/** Sends one probe: the status it got, and what was wrong with the answer (null when nothing). */
async function send(test: TestServer, probe: Probe): Promise<{ status: number; finding: Finding | null }> {
  let res: Awaited<ReturnType<typeof api>>;
  try {
    res = await api(test.url, probe.path, {
      method: probe.method,
      headers: probe.headers,
      rawBody: probe.body,
    });
  } catch (error) {
    // A connection dropped mid-answer, or JSON that does not parse.
    return { status: 0, finding: { status: 0, text: String(error), problem: "no readable answer" } };
  }
  const fail = (problem: string) => ({
    status: res.status,
    finding: { status: res.status, text: res.text, problem },
  });
  const fine = { status: res.status, finding: null };
  if (res.status >= 500) return fail("server error");
  if (res.status < 400) return fine;
  const contentType = res.headers.get("content-type") ?? "";
  if (!contentType.startsWith("application/json")) {
    return contentType.startsWith("text/plain") ? fine : fail(`error answered as "${contentType}"`);
  }
  const { code, error } = res.body ?? {};
  if (typeof code !== "string" || typeof error !== "string")
    return fail("error without code and error strings");
  if (res.headers.get("x-stack-known-error") !== code) return fail("x-stack-known-error differs from code");
  // The last-resort net of errors.ts turns a value PostgreSQL refused into a 400: validation missed it.
  if (error.includes("the database refused a value"))
    return fail("validation let through what PostgreSQL refused");
  return fine;
}

/** One line per failure: the request, then the answer (its first 300 characters, on one line). */
function describeFailure(probe: Probe, finding: Finding): string {
  const path = probe.path.length > 200 ? `${probe.path.slice(0, 200)}…` : probe.path;
  const answer = finding.text.slice(0, 300).replace(/\s+/g, " ");
  return `${probe.method} ${path} [${probe.caller}] ${probe.label} → ${finding.status} ${finding.problem}: ${answer}`;
}

/** Runs `task` over the items, at most `concurrency` at a time; the results come in the items' order. */
function mapConcurrently<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>) {
  const limit = pLimit(concurrency);
  return Promise.all(items.map((item) => limit(() => task(item))));
}

// ---------------------------------------------------------------------------------------------------

let test: TestServer;

beforeAll(async () => {
  // Sign-in attempts past the limit would all answer 429 before reaching the password check.
  test = await startTestServer({ signInRateLimit: 1_000_000 });
});
afterAll(() => test?.close());

describe("hostile input", () => {
  it("gets a 4xx in the Stack Auth shape on every route, never a 5xx", async () => {
    // The internal project, so the dashboard's /internal/projects routes get past EXPECTED_INTERNAL_PROJECT.
    const shared = await createWorld(test, { projectId: "internal", keys: test.internalKeys });
    const batteries = httpRoutes.latest.flatMap((route) =>
      callersOf(route).map((caller) => ({ route, caller })),
    );
    // A few at a time: each DELETE world is a dozen writes, and more at once would only queue them.
    const probes = await mapConcurrently(batteries, 4, async ({ route, caller }) => {
      // A DELETE's first success removes what the rest of its battery, and every other route's, addresses.
      const world =
        route.method === "DELETE" ? await createWorld(test, await createTestProject(test)) : shared;
      return probesFor(route, caller, world);
    });
    const sent = probes.flat();
    const answers = await mapConcurrently(sent, 8, (probe) => send(test, probe));
    const failures = sent.flatMap((probe, index) => {
      const found = answers[index]!.finding;
      return found ? [describeFailure(probe, found)] : [];
    });
    expect(failures).toEqual([]);
    // A battery that never gets past authentication or "not found" tests nothing: most well-formed
    // requests must succeed (some cannot: a sign-up of the world's own address, a made-up code).
    const wellFormed = sent.flatMap((probe, index) =>
      probe.label === "well-formed request" ? [answers[index]!.status] : [],
    );
    expect(wellFormed.filter((status) => status < 400).length).toBeGreaterThan(wellFormed.length / 2);
  }, 120_000);
});
