import { imageSize } from "image-size";
import { StatusError } from "../../errors/index.ts";

/** Upstream's limits for an uploaded profile image. */
export const MAX_IMAGE_BYTES = 1_000_000;
export const MAX_IMAGE_SIDE = 4096;

/**
 * The formats a profile image may have, by the name `image-size` reads from its first bytes. Vector
 * formats are left out on purpose: an SVG can carry script, and these images are served from the
 * API's own origin.
 */
const CONTENT_TYPES = {
  png: "image/png",
  jpg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
} as const;

export type ImageFormat = keyof typeof CONTENT_TYPES;

export const FILE_EXTENSIONS: Record<ImageFormat, string> = {
  png: "png",
  jpg: "jpeg",
  webp: "webp",
  gif: "gif",
};

export interface DecodedImage {
  body: Buffer;
  format: ImageFormat;
  contentType: string;
}

const DATA_URL = /^data:image\/[a-zA-Z0-9]+;base64,/;

export const isImageDataUrl = (value: string) => DATA_URL.test(value);

const isFormat = (type: string | undefined): type is ImageFormat =>
  type !== undefined && type in CONTENT_TYPES;

/**
 * Decodes a base64 image data URL and checks it is what it says: at most 1 MB, an actual PNG, JPEG,
 * WebP or GIF (by its bytes, not the type the URL claims), at most 4096 pixels a side. Anything else is
 * a 400 naming what is wrong.
 */
export function decodeImageDataUrl(dataUrl: string): DecodedImage {
  const base64 = dataUrl.replace(DATA_URL, "").replace(/\s+/g, "");
  // Checked before decoding too, so an oversized upload is refused without decoding it.
  if (base64.length > Math.ceil((MAX_IMAGE_BYTES * 4) / 3) + 4)
    throw tooLarge(Math.floor((base64.length * 3) / 4));
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 === 1) {
    throw new StatusError(400, "Invalid base64 image data");
  }
  const body = Buffer.from(base64, "base64");
  if (body.length > MAX_IMAGE_BYTES) throw tooLarge(body.length);
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(body);
  } catch {
    throw new StatusError(400, "Invalid image format or corrupted image data");
  }
  if (!isFormat(size.type)) {
    throw new StatusError(
      400,
      `Image type image/${size.type} is not allowed. Allowed types: ${Object.values(CONTENT_TYPES).join(", ")}`,
    );
  }
  if (!size.width || !size.height) throw new StatusError(400, "Unable to determine image dimensions");
  if (size.width > MAX_IMAGE_SIDE) {
    throw new StatusError(
      400,
      `Image width (${size.width}px) exceeds maximum allowed width (${MAX_IMAGE_SIDE}px)`,
    );
  }
  if (size.height > MAX_IMAGE_SIDE) {
    throw new StatusError(
      400,
      `Image height (${size.height}px) exceeds maximum allowed height (${MAX_IMAGE_SIDE}px)`,
    );
  }
  return { body, format: size.type, contentType: CONTENT_TYPES[size.type] };
}

const tooLarge = (bytes: number) =>
  new StatusError(400, `Image size (${bytes} bytes) exceeds maximum allowed size (${MAX_IMAGE_BYTES} bytes)`);
