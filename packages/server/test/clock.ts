/**
 * Waits, if need be, until the current fixed window — windows start on multiples of their length since
 * the epoch: rate-limit windows, UTC days — has at least `marginMs` left, so that what a test writes
 * and then reads back falls in one window rather than straddling two.
 */
export async function awayFromWindowEnd(windowMs: number, marginMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

export const DAY_MS = 24 * 60 * 60 * 1000;
