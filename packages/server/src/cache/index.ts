export {
  type CacheRequest,
  type CacheResult,
  type CacheState,
  PersistentCache,
  type PersistentCacheOptions,
} from "./persistent-cache.ts";
