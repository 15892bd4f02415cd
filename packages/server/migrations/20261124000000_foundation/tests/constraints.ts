import type pg from "pg";

/** The foundation's constraints reject bad rows, and project changes are announced to the caches. */
export async function postMigration(client: pg.Client): Promise<void> {
  const id = "11111111-2222-4333-8444-555555555555";
  await expectError(
    client.query("INSERT INTO projects (id, display_name, onboarding_status) VALUES ($1, 'x', 'bogus')", [
      id,
    ]),
    "projects_onboarding_status_check",
  );
  await expectError(
    client.query("INSERT INTO projects (id, display_name) VALUES ('not-a-uuid', 'x')"),
    "projects_id_format",
  );

  const notified = new Promise<string>((resolve) => {
    client.on("notification", (message) => {
      if (message.channel === "latchkey_project_changed") resolve(message.payload ?? "");
    });
  });
  await client.query("LISTEN latchkey_project_changed");
  await client.query("INSERT INTO projects (id, display_name) VALUES ($1, 'Announced')", [id]);
  const payload = await Promise.race([
    notified,
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error("no NOTIFY")), 2000)),
  ]);
  if (payload !== id) throw new Error(`expected NOTIFY payload ${id}, got ${payload}`);
  await client.query("UNLISTEN latchkey_project_changed");
}

async function expectError(promise: Promise<unknown>, constraint: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if ((error as { constraint?: string }).constraint === constraint) return;
    throw error;
  }
  throw new Error(`expected a violation of ${constraint}`);
}
