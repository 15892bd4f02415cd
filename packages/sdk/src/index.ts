export {
  createReplayRecorder,
  type ReplayRecorder,
  type ReplayRecorderOptions,
} from "./analytics/replay-recorder.ts";
export { createEventTracker, type EventTracker, type TrackerOptions } from "./analytics/tracker.ts";
export { type ConnectionOptions, uuid } from "./transport.ts";
