import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminHeaders,
  api,
  clientHeaders,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { CLIENT_UPLOADS_PER_HOUR } from "./store.ts";

/** Inline profile images: stored once, replaced by the URL they are served from. */
let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test);
  await patchEnvironmentConfig(test, project, { "teams.allowClientTeamCreation": true });
});
afterAll(() => test?.close());

/** A PNG header claiming the given size: what decides acceptance is read from the first bytes. */
function png(width: number, height: number): Buffer {
  const bytes = Buffer.alloc(33);
  Buffer.from("89504e470d0a1a0a", "hex").copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write("IHDR", 12);
  bytes.writeUInt32BE(width, 16);
  bytes.writeUInt32BE(height, 20);
  bytes[24] = 8;
  bytes[25] = 6;
  return bytes;
}
const jpeg = Buffer.from(
  "ffd8ffe000104a46494600010100000100010000ffc00011080002000303012200021101031101ffd9",
  "hex",
);
const dataUrl = (bytes: Buffer, type = "png") => `data:image/${type};base64,${bytes.toString("base64")}`;

const IMAGE_URL = /^http:\/\/.+\/api\/v1\/profile-images\/([a-z-]+)\/([0-9a-f-]{36})\.(png|jpeg|webp|gif)$/;

/** Fetches an image the way a browser's <img> does: no headers, by its path on this server. */
async function fetchImage(url: string) {
  const response = await fetch(`${test.url}${new URL(url).pathname}`);
  return { response, body: Buffer.from(await response.arrayBuffer()) };
}

async function storedImages(): Promise<number> {
  const row = await test.server.app.database.db
    .selectFrom("profile_images")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("profile images", () => {
  it("stores a user's inline image and answers with the URL that serves it", async () => {
    const image = png(64, 64);
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(image) },
    });
    expect(created.status).toBe(201);
    const url: string = created.body.profile_image_url;
    expect(url).toMatch(IMAGE_URL);
    expect(IMAGE_URL.exec(url)?.[1]).toBe("user-profile-images");
    const { response, body } = await fetchImage(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(body.equals(image)).toBe(true);
    // Reading the user back shows the same URL, not the image.
    const read = await api(test.url, `/api/v1/users/${created.body.id}`, { headers: serverHeaders(project) });
    expect(read.body.profile_image_url).toBe(url);
  });

  it("takes a client's image on PATCH /users/me, typed by its bytes, and refuses http URLs from clients", async () => {
    const session = await signUpWithPassword(test, project);
    const updated = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: clientHeaders(project, session.access_token),
      // The URL says png; the bytes are a JPEG, which is what it is stored and served as.
      body: { profile_image_url: dataUrl(jpeg, "png") },
    });
    expect(updated.status).toBe(200);
    const url: string = updated.body.profile_image_url;
    expect(url).toMatch(/\.jpeg$/);
    const { response, body } = await fetchImage(url);
    expect(response.headers.get("content-type")).toBe("image/jpeg");
    expect(body.equals(jpeg)).toBe(true);

    const sentBack = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: clientHeaders(project, session.access_token),
      body: { profile_image_url: url },
    });
    expect(sentBack.status).toBe(400);
    expect(sentBack.text).toBe("Invalid profile image URL");
    const removed = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: clientHeaders(project, session.access_token),
      body: { profile_image_url: null },
    });
    expect(removed.body.profile_image_url).toBeNull();
  });

  it("keeps http(s) URLs from servers as they are", async () => {
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: "https://images.example.com/a.png" },
    });
    expect(created.body.profile_image_url).toBe("https://images.example.com/a.png");
  });

  it("gives a server that copies one profile's stored picture to another a copy of its own", async () => {
    const image = png(8, 8);
    const first = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(image) },
    });
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: serverHeaders(project),
      body: { display_name: "Copied picture", profile_image_url: first.body.profile_image_url },
    });
    const copy: string = team.body.profile_image_url;
    expect(copy).toMatch(IMAGE_URL);
    expect(IMAGE_URL.exec(copy)?.[1]).toBe("team-profile-images");
    expect(copy).not.toBe(first.body.profile_image_url);
    // Clearing the first profile's picture takes its own image only.
    await api(test.url, `/api/v1/users/${first.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: null },
    });
    expect((await fetchImage(first.body.profile_image_url)).response.status).toBe(404);
    const kept = await fetchImage(copy);
    expect(kept.response.status).toBe(200);
    expect(kept.body.equals(image)).toBe(true);
    // A copy is named by what the image is, whatever extension the URL sent had.
    const renamed = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: serverHeaders(project),
      body: { display_name: "Renamed copy", profile_image_url: copy.replace(/\.png$/, ".jpg") },
    });
    expect(renamed.body.profile_image_url).toMatch(/\.png$/);
    expect((await fetchImage(renamed.body.profile_image_url)).response.status).toBe(200);
    // A profile's own URL sent back with the rest of it stays as it is.
    const echoed = await api(test.url, `/api/v1/teams/${team.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { display_name: "Copied picture", profile_image_url: copy },
    });
    expect(echoed.body.profile_image_url).toBe(copy);
    expect((await fetchImage(copy)).response.status).toBe(200);
  });

  it("refuses what is not a small PNG, JPEG, WebP or GIF with a 400 naming why, storing nothing", async () => {
    const before = await storedImages();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    const cases: [string, string | RegExp][] = [
      [
        dataUrl(svg, "svg"),
        "Image type image/svg is not allowed. Allowed types: image/png, image/jpeg, image/webp, image/gif",
      ],
      [`data:image/svg+xml;base64,${svg.toString("base64")}`, "Invalid profile image URL"],
      [dataUrl(Buffer.from("not an image at all")), "Invalid image format or corrupted image data"],
      ["data:image/png;base64,@@@not-base64@@@", "Invalid base64 image data"],
      [dataUrl(png(5000, 10)), "Image width (5000px) exceeds maximum allowed width (4096px)"],
      [dataUrl(png(10, 4097)), "Image height (4097px) exceeds maximum allowed height (4096px)"],
      [
        dataUrl(Buffer.concat([png(10, 10), Buffer.alloc(1_000_000)])),
        /^Image size \(\d+ bytes\) exceeds maximum allowed size \(1000000 bytes\)$/,
      ],
      ["ftp://example.com/a.png", "Invalid profile image URL"],
    ];
    for (const [value, message] of cases) {
      const res = await api(test.url, "/api/v1/users", {
        method: "POST",
        headers: serverHeaders(project),
        body: { profile_image_url: value },
      });
      expect(res.status, value.slice(0, 40)).toBe(400);
      expect(res.text).toMatch(message);
    }
    expect(await storedImages()).toBe(before);
  });

  it("stores team and member-profile images under their own folders; a refused write keeps none", async () => {
    const session = await signUpWithPassword(test, project);
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: clientHeaders(project, session.access_token),
      body: { display_name: "Pictured", profile_image_url: dataUrl(png(8, 8)), creator_user_id: "me" },
    });
    expect(team.status).toBe(201);
    expect(IMAGE_URL.exec(team.body.profile_image_url)?.[1]).toBe("team-profile-images");

    const patched = await api(test.url, `/api/v1/teams/${team.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(9, 9)) },
    });
    expect(IMAGE_URL.exec(patched.body.profile_image_url)?.[1]).toBe("team-profile-images");
    expect((await fetchImage(patched.body.profile_image_url)).body.equals(png(9, 9))).toBe(true);

    const profile = await api(test.url, `/api/v1/team-member-profiles/${team.body.id}/me`, {
      method: "PATCH",
      headers: clientHeaders(project, session.access_token),
      body: { profile_image_url: dataUrl(png(7, 7)) },
    });
    expect(profile.status).toBe(200);
    expect(IMAGE_URL.exec(profile.body.profile_image_url)?.[1]).toBe("team-member-profile-images");

    const before = await storedImages();
    const stranger = await signUpWithPassword(test, project);
    const notMember = await api(
      test.url,
      `/api/v1/team-member-profiles/${team.body.id}/${stranger.user_id}`,
      {
        method: "PATCH",
        headers: serverHeaders(project),
        body: { profile_image_url: dataUrl(png(6, 6)) },
      },
    );
    expect(notMember.status).toBe(404);
    expect(notMember.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");
    expect(await storedImages()).toBe(before);
  });

  it("answers 404 for an unknown image, another folder's id and malformed names", async () => {
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(4, 4)) },
    });
    const [, , id, extension] = IMAGE_URL.exec(created.body.profile_image_url)!;
    for (const path of [
      `/api/v1/profile-images/user-profile-images/00000000-0000-4000-8000-000000000000.png`,
      `/api/v1/profile-images/team-profile-images/${id}.${extension}`,
      `/api/v1/profile-images/user-profile-images/${id}.svg`,
      `/api/v1/profile-images/user-profile-images/..%2F${id}.png`,
      `/api/v1/profile-images/elsewhere/${id}.png`,
    ]) {
      const res = await api(test.url, path);
      expect(res.status, path).toBe(404);
      expect(res.text).toBe("Image not found");
    }
  });

  it("deletes a project's images with the project; other projects' images stay", async () => {
    const other = await createTestProject(test, "Other");
    const mine = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(3, 3)) },
    });
    const theirs = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(other),
      body: { profile_image_url: dataUrl(png(2, 2)) },
    });
    // Project A's server key cannot change project B's user, image or not.
    const crossed = await api(test.url, `/api/v1/users/${theirs.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(5, 5)) },
    });
    expect(crossed.status).toBe(404);
    expect(crossed.body.code).toBe("USER_NOT_FOUND");

    const deleted = await api(test.url, "/api/v1/internal/projects/current", {
      method: "DELETE",
      headers: adminHeaders(other),
    });
    expect(deleted.status).toBe(200);
    expect((await fetchImage(theirs.body.profile_image_url)).response.status).toBe(404);
    expect((await fetchImage(mine.body.profile_image_url)).response.status).toBe(200);
  });

  it("drops a picture when its profile replaces or removes it, or is deleted — only in its own project", async () => {
    const status = async (url: string) => (await fetchImage(url)).response.status;
    const user = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(11, 11)) },
    });
    const first: string = user.body.profile_image_url;
    const replaced = await api(test.url, `/api/v1/users/${user.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(12, 12)) },
    });
    const second: string = replaced.body.profile_image_url;
    expect(await status(first)).toBe(404);
    expect(await status(second)).toBe(200);
    // Another field changing leaves the picture alone.
    await api(test.url, `/api/v1/users/${user.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { display_name: "Renamed" },
    });
    expect(await status(second)).toBe(200);
    await api(test.url, `/api/v1/users/${user.body.id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: null },
    });
    expect(await status(second)).toBe(404);

    // A team's picture and a member's go with the team and with the user.
    const session = await signUpWithPassword(test, project);
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: clientHeaders(project, session.access_token),
      body: { display_name: "Short-lived", profile_image_url: dataUrl(png(13, 13)), creator_user_id: "me" },
    });
    const member = await api(test.url, `/api/v1/team-member-profiles/${team.body.id}/me`, {
      method: "PATCH",
      headers: clientHeaders(project, session.access_token),
      body: { profile_image_url: dataUrl(png(14, 14)) },
    });
    await api(test.url, `/api/v1/users/${session.user_id}`, {
      method: "DELETE",
      headers: serverHeaders(project),
    });
    expect(await status(member.body.profile_image_url)).toBe(404);
    expect(await status(team.body.profile_image_url)).toBe(200);
    await api(test.url, `/api/v1/teams/${team.body.id}`, {
      method: "DELETE",
      headers: serverHeaders(project),
    });
    expect(await status(team.body.profile_image_url)).toBe(404);

    // Another project's server may point a profile at this picture; clearing it there deletes nothing here.
    const kept = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(15, 15)) },
    });
    const other = await createTestProject(test, "Borrower");
    const borrower = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: serverHeaders(other),
      body: { profile_image_url: kept.body.profile_image_url },
    });
    await api(test.url, `/api/v1/users/${borrower.body.id}`, {
      method: "DELETE",
      headers: serverHeaders(other),
    });
    expect(await status(kept.body.profile_image_url)).toBe(200);
  });

  it("lets a client's user upload 30 pictures an hour, counting only the ones kept; servers are not limited", async () => {
    const session = await signUpWithPassword(test, project);
    const upload = (image: string, headers = clientHeaders(project, session.access_token)) =>
      api(test.url, "/api/v1/users/me", { method: "PATCH", headers, body: { profile_image_url: image } });
    // A refused picture is not kept, so it does not count.
    expect((await upload(dataUrl(png(5000, 1)))).status).toBe(400);
    for (let i = 1; i <= CLIENT_UPLOADS_PER_HOUR; i++)
      expect((await upload(dataUrl(png(i, i)))).status).toBe(200);
    const over = await upload(dataUrl(png(2, 2)));
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    const me = await api(test.url, "/api/v1/users/me", {
      headers: clientHeaders(project, session.access_token),
    });
    expect(me.body.profile_image_url).toMatch(IMAGE_URL);
    expect((await fetchImage(me.body.profile_image_url)).body.readUInt32BE(16)).toBe(CLIENT_UPLOADS_PER_HOUR);
    // Another user of the project has a budget of their own; a server uploads for anyone.
    const other = await signUpWithPassword(test, project);
    expect((await upload(dataUrl(png(3, 3)), clientHeaders(project, other.access_token))).status).toBe(200);
    const byServer = await api(test.url, `/api/v1/users/${session.user_id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { profile_image_url: dataUrl(png(4, 4)) },
    });
    expect(byServer.status).toBe(200);
  });
});
