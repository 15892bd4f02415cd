import Type from "typebox";

/**
 * A point in time as epoch milliseconds, from 1970 (nothing a client sets expires before it) to the end
 * of the year 9999. PostgreSQL stores later years, but writes them with five digits, which no ISO 8601
 * parser reads back: a key set expiring in the year 10000 was stored and then never worked.
 */
export const timestampMillis = (options: { description?: string } = {}) =>
  Type.Number({ minimum: 0, maximum: LATEST_TIMESTAMP_MILLIS, ...options });

/** 9999-12-31T23:59:59.999Z. */
export const LATEST_TIMESTAMP_MILLIS = 253_402_300_799_999;

/**
 * A page size. Stack Auth sets no maximum (a large limit reads everything); this one stops at the
 * largest exact integer, which keeps `1e309` (Infinity) and `1e20` from reaching PostgreSQL's bigint.
 */
export const pageLimit = () => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
