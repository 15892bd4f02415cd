import { StatusError } from "../../errors/index.ts";
import { bodyBytes } from "../../http/body-parsers.ts";
import { defineRoute, json } from "../../http/route.ts";
import { assertIngestionAllowed } from "../analytics/ingestion.ts";
import {
  assertReplayExists,
  chunkEvents,
  chunkView,
  mapWithConcurrency,
  selectChunk,
  selectChunks,
} from "./chunks.ts";
import { clampedLimit, listReplays, parseReplayFilters } from "./listing.ts";
import {
  chunkParams,
  MAX_REPLAY_BODY_BYTES,
  MAX_REPLAY_BODY_DEPTH,
  MAX_REPLAY_EVENTS,
  pageQuery,
  replayBatchBody,
  replayListQuery,
  replayParams,
  sliceQuery,
} from "./schemas.ts";
import { storeReplayBatch } from "./upload.ts";

const adminTags = ["Session Replays"];

export const sessionReplayRoutes = [
  defineRoute({
    method: "POST",
    path: "/session-replays/batch",
    summary: "Upload a batch of recorded rrweb events",
    hidden: true,
    tags: adminTags,
    bodyMayHoldAnyText: true,
    maxBodyDepth: MAX_REPLAY_BODY_DEPTH,
    access: ["client", "server", "admin"],
    schemas: { body: replayBatchBody },
    handler: async ({ app, auth, body, raw }) => {
      const { user, refreshTokenId } = assertIngestionAllowed(auth, "session replays");
      if (bodyBytes(raw, body) > MAX_REPLAY_BODY_BYTES) {
        throw new StatusError(413, `Request body too large (max ${MAX_REPLAY_BODY_BYTES} bytes)`);
      }
      if (body.events.length === 0) throw new StatusError(400, "events must not be empty");
      if (body.events.length > MAX_REPLAY_EVENTS) {
        throw new StatusError(400, `Too many events (max ${MAX_REPLAY_EVENTS})`);
      }
      const stored = await storeReplayBatch(
        app,
        {
          tenancyId: auth.tenancy.id,
          projectId: auth.project.id,
          branchId: auth.tenancy.branchId,
          userId: user.id,
          refreshTokenId,
        },
        body,
      );
      return json(stored);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/session-replays",
    summary: "List recorded session replays",
    hidden: true,
    tags: adminTags,
    access: ["admin"],
    schemas: { query: replayListQuery },
    handler: async ({ app, auth, query }) =>
      json(
        await listReplays(
          app,
          { tenancyId: auth.tenancy.id, projectId: auth.project.id, branchId: auth.tenancy.branchId },
          parseReplayFilters(query),
        ),
      ),
  }),
  defineRoute({
    method: "GET",
    path: "/internal/session-replays/:session_replay_id/chunks",
    summary: "List the uploaded chunks of a replay",
    hidden: true,
    tags: adminTags,
    access: ["admin"],
    schemas: { params: replayParams, query: pageQuery },
    handler: async ({ app, auth, params, query }) => {
      const replayId = params.session_replay_id;
      await assertReplayExists(app, auth.tenancy.id, replayId);
      const limit = clampedLimit(query.limit, 100, 500);
      const after = query.cursor ? await selectChunk(app, auth.tenancy.id, replayId, query.cursor) : null;
      const rows = await selectChunks(app, auth.tenancy.id, replayId, { after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      return json({
        items: page.map(chunkView),
        pagination: { next_cursor: rows.length > limit ? page[page.length - 1]!.id : null },
      });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/session-replays/:session_replay_id/chunks/:chunk_id/events",
    summary: "The rrweb events of one chunk",
    hidden: true,
    tags: adminTags,
    access: ["admin"],
    schemas: { params: chunkParams },
    handler: async ({ app, auth, params }) => {
      await assertReplayExists(app, auth.tenancy.id, params.session_replay_id);
      const chunk = await selectChunk(app, auth.tenancy.id, params.session_replay_id, params.chunk_id);
      return json({ events: await chunkEvents(app, params.session_replay_id, chunk) });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/session-replays/:session_replay_id/events",
    summary: "All chunks of a replay and the events of a slice of them",
    hidden: true,
    tags: adminTags,
    access: ["admin"],
    schemas: { params: replayParams, query: sliceQuery },
    handler: async ({ app, auth, params, query }) => {
      const replayId = params.session_replay_id;
      await assertReplayExists(app, auth.tenancy.id, replayId);
      const chunks = await selectChunks(app, auth.tenancy.id, replayId);
      const offset = Math.max(0, Number.parseInt(query.offset ?? "0", 10) || 0);
      const limit =
        query.limit === undefined ? chunks.length : Math.max(0, Number.parseInt(query.limit, 10) || 0);
      const slice = chunks.slice(offset, offset + limit);
      const chunkEventsList = await mapWithConcurrency(slice, 10, async (chunk) => ({
        chunk_id: chunk.id,
        events: await chunkEvents(app, replayId, chunk),
      }));
      return json({
        chunks: chunks.map((chunk) => {
          const { browser_session_id: _notListedHere, ...view } = chunkView(chunk);
          return view;
        }),
        chunk_events: chunkEventsList,
      });
    },
  }),
];
