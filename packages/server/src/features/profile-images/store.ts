import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { rateLimited } from "../auth/rate-limit.ts";
import type { Db } from "../users/records.ts";
import { decodeImageDataUrl, FILE_EXTENSIONS, isImageDataUrl } from "./images.ts";

/** Where an image belongs; part of its URL, as upstream's S3 keys have it. */
export const IMAGE_FOLDERS = [
  "user-profile-images",
  "team-profile-images",
  "team-member-profile-images",
] as const;
export type ImageFolder = (typeof IMAGE_FOLDERS)[number];

/** A URL served by this store, and the image's id in it. */
const STORED_IMAGE =
  /\/api\/v1\/profile-images\/[a-z-]+\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[a-z]+$/;

/** Pictures a signed-in user may upload from a client in any hour; servers are not limited. */
export const CLIENT_UPLOADS_PER_HOUR = 30;
/** The window of that budget, which rate-limit pruning must keep two of. */
export const CLIENT_UPLOAD_WINDOW_SECONDS = 3600;

/**
 * Counts a client's upload against its user's hourly budget (429 past it). It counts in the write's
 * transaction, so only uploads that are kept count: a refused write, this 429 included, takes its
 * count back.
 */
async function countClientUpload(db: Db, auth: RequestAuth): Promise<void> {
  if (auth.type !== "client" || !auth.user) return;
  await rateLimited(
    db,
    [{ bucket: `profile-image:${auth.tenancy.id}:${auth.user.id}`, limit: CLIENT_UPLOADS_PER_HOUR }],
    CLIENT_UPLOAD_WINDOW_SECONDS,
    sql<{ counted: boolean }>`SELECT true AS counted`,
  );
}

/** The path an image is served from, below `/api/v1`. */
export const imagePath = (folder: ImageFolder, file: string) => `/profile-images/${folder}/${file}`;

/**
 * What a `profile_image_url` field of a request is stored as. A base64 image data URL is checked, stored
 * and replaced by the URL it is served from; an http(s) URL is kept as sent, from servers only
 * (clients may only send images, so a client cannot make profiles point at arbitrary addresses); null
 * removes the picture and undefined leaves it alone. Pass the transaction of the write, so a refused
 * write leaves no image behind.
 *
 * A server that sends the URL of one of this project's stored pictures (copying one profile's picture
 * to another) gets a copy under a URL of its own: a picture goes when its profile's picture changes,
 * so a shared one would vanish from the other profile. A profile's own current URL sent back (an
 * update that echoes the whole profile) is kept as it is: `current` reads it, only when needed.
 */
export async function profileImageField(
  db: Db,
  app: AppContext,
  auth: RequestAuth,
  folder: ImageFolder,
  value: string | null | undefined,
  current?: () => Promise<string | null | undefined>,
): Promise<string | null | undefined> {
  if (value === null || value === undefined) return value;
  if (isImageDataUrl(value)) {
    await countClientUpload(db, auth);
    const image = decodeImageDataUrl(value);
    const file = `${randomUUID()}.${FILE_EXTENSIONS[image.format]}`;
    await db
      .insertInto("profile_images")
      .values({
        id: file.slice(0, 36),
        tenancy_id: auth.tenancy.id,
        folder,
        content_type: image.contentType,
        body: image.body,
      })
      .execute();
    return `${app.env.publicUrl}/api/v1${imagePath(folder, file)}`;
  }
  if (auth.type !== "client" && /^https?:\/\/\S+$/i.test(value)) {
    const stored = STORED_IMAGE.exec(value);
    if (!stored || (current && (await current()) === value)) return value;
    const id = randomUUID();
    const { rows } = await sql<{ content_type: string }>`
      INSERT INTO profile_images (id, tenancy_id, folder, content_type, body)
      SELECT ${id}::uuid, tenancy_id, ${folder}, content_type, body FROM profile_images
       WHERE tenancy_id = ${auth.tenancy.id} AND id = ${stored[1]}::uuid
      RETURNING content_type`.execute(db);
    // Another project's picture (or a deleted one) is not this store's to copy: kept as sent.
    if (rows.length === 0) return value;
    // Named by what the image is (image/png → .png), whatever extension the URL sent had.
    const extension = rows[0]!.content_type.slice("image/".length);
    return `${app.env.publicUrl}/api/v1${imagePath(folder, `${id}.${extension}`)}`;
  }
  throw new StatusError(400, "Invalid profile image URL");
}
