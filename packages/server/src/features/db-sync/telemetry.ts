/** What this process's pipeline has done since it started, for the status endpoint and the CLI. */
export const telemetry = {
  sequencer: {
    passes: 0,
    rows_stamped: 0,
    last_pass_at_millis: null as number | null,
    last_error: null as string | null,
  },
  engine: {
    runs: 0,
    rows_applied: 0,
    failed_runs: 0,
    last_run_at_millis: null as number | null,
    /** Commit-to-apply latency is measured by the benchmark; here the last run's duration. */
    last_run_duration_ms: null as number | null,
  },
};
