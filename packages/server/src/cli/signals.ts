/**
 * Makes `handler` the only listener `process.listeners` shows for each signal. It is added before the
 * others go: with no listener left for a moment, Node stops watching the signal and drops one that
 * arrived meanwhile (a supervisor's SIGTERM right after start-up would go unheard). Listeners hidden
 * from `process.listeners` stay: under the `tsx` command a hidden one tells the parent the
 * signal arrived, without which the parent kills this process 60 ms later.
 */
export function takeOverSignals(
  signals: readonly NodeJS.Signals[],
  handler: (signal: NodeJS.Signals) => void,
) {
  for (const signal of signals) {
    const listener = () => handler(signal);
    process.on(signal, listener);
    for (const other of process.listeners(signal)) {
      if (other !== listener) process.removeListener(signal, other);
    }
  }
}
