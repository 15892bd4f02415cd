import Type from "typebox";

/**
 * A point in time as epoch milliseconds, within what both a JavaScript `Date` and PostgreSQL's
 * timestamptz hold (1970 to the year 275760): beyond it the database refuses the value mid-write.
 */
export const timestampMillis = (options: { description?: string } = {}) =>
  Type.Number({ minimum: 0, maximum: 8_640_000_000_000_000, ...options });

/**
 * A page size. Stack Auth sets no maximum (a large limit reads everything); this one stops at the
 * largest exact integer, which keeps `1e309` (Infinity) and `1e20` from reaching PostgreSQL's bigint.
 */
export const pageLimit = () => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
