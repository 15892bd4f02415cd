import type { TeamRecord } from "../users/records.ts";

export type AccessLevel = "client" | "server";

export function teamView(team: TeamRecord, level: AccessLevel) {
  const client = {
    id: team.id,
    display_name: team.display_name,
    profile_image_url: team.profile_image_url,
    client_metadata: team.client_metadata ?? null,
    client_read_only_metadata: team.client_read_only_metadata ?? null,
  };
  if (level === "client") return client;
  return {
    ...client,
    created_at_millis: new Date(team.created_at).getTime(),
    server_metadata: team.server_metadata ?? null,
  };
}
