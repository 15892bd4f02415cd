import type { DataPoint } from "./schemas.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Days in every daily series: the 30 days before today (UTC) and today. */
export const SERIES_DAYS = 31;

/**
 * The time window of one metrics computation. Series run from `since` (UTC midnight 30 days before
 * today) to `untilExclusive` (the next UTC midnight), one point per UTC day.
 */
export interface MetricsWindow {
  nowMs: number;
  sinceMs: number;
  untilExclusiveMs: number;
  /** `YYYY-MM-DD` of every day of the window, oldest first. */
  days: string[];
}

export function metricsWindow(nowMs: number): MetricsWindow {
  const todayMs = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const sinceMs = todayMs - (SERIES_DAYS - 1) * DAY_MS;
  const days = Array.from({ length: SERIES_DAYS }, (_, index) => isoDay(sinceMs + index * DAY_MS));
  return { nowMs, sinceMs, untilExclusiveMs: todayMs + DAY_MS, days };
}

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A zero-filled series over the window from sparse `(day, value)` pairs; days outside are ignored. */
export function fillSeries(window: MetricsWindow, values: Iterable<readonly [string, number]>): DataPoint[] {
  const byDay = new Map(values);
  return window.days.map((date) => ({ date, activity: byDay.get(date) ?? 0 }));
}

/** Rounds to a number of decimals the way dashboards show rates (2.345 → 2.35). */
export function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round((value + Number.EPSILON) * factor) / factor;
}
