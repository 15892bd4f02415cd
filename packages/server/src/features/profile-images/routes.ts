import Type from "typebox";
import { StatusError } from "../../errors/index.ts";
import { bytes, defineRoute } from "../../http/route.ts";
import { IMAGE_FOLDERS, type ImageFolder } from "./store.ts";

const FILE_NAME = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(png|jpeg|webp|gif)$/;

export const profileImageRoutes = [
  defineRoute({
    method: "GET",
    path: "/profile-images/:folder/:file",
    summary: "A profile image uploaded inline (its URL is what profiles show)",
    tags: ["Profile images"],
    // Like the public bucket upstream serves them from: the URL, with its random id, is the capability.
    access: "public",
    schemas: { params: Type.Object({ folder: Type.String(), file: Type.String() }) },
    handler: async ({ app, params }) => {
      const id = FILE_NAME.exec(params.file)?.[1];
      const image =
        id && IMAGE_FOLDERS.includes(params.folder as ImageFolder)
          ? await app.database.db
              .selectFrom("profile_images")
              .select(["content_type", "body"])
              .where("id", "=", id)
              .where("folder", "=", params.folder as ImageFolder)
              .executeTakeFirst()
          : undefined;
      if (!image) throw new StatusError(404, "Image not found");
      return bytes(image.body, image.content_type, {
        // An image never changes under its URL: a new picture gets a new one.
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
      });
    },
  }),
];
