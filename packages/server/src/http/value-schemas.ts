import Type from "typebox";

/**
 * A point in time as epoch milliseconds, from 1970 (nothing a client sets expires before it) to the year
 * 275760, the last a JavaScript `Date` holds: beyond it PostgreSQL's timestamptz refuses the value
 * mid-write.
 */
export const timestampMillis = (options: { description?: string } = {}) =>
  Type.Number({ minimum: 0, maximum: 8_640_000_000_000_000, ...options });

/**
 * A page size. Stack Auth sets no maximum (a large limit reads everything); this one stops at the
 * largest exact integer, which keeps `1e309` (Infinity) and `1e20` from reaching PostgreSQL's bigint.
 */
export const pageLimit = () => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
