import * as sdk102 from "stackframe-js-2-8-102";
import * as sdk108 from "stackframe-js-2-8-108";
import type { TestProject } from "../server.ts";

/** The two SDK versions Latchkey must serve: 2.8.102 sends `x-stack-*` headers, 2.8.108 `x-hexclave-*`. */
export const sdkVersions = [
  { name: "2.8.102", sdk: sdk102, headerPrefix: "x-stack-" },
  { name: "2.8.108", sdk: sdk108, headerPrefix: "x-hexclave-" },
] as const;

export type SdkModule = (typeof sdkVersions)[number]["sdk"];
// Both versions share one API surface; type them as the newer one.
type Sdk = typeof sdk108;

/** A server app and a client app of one SDK version for a project, keeping tokens in memory. */
export function sdkApps(anySdk: SdkModule, project: TestProject, baseUrl: string) {
  const sdk = anySdk as Sdk;
  const server = new sdk.StackServerApp({
    projectId: project.projectId,
    secretServerKey: project.keys.secret_server_key!,
    baseUrl,
    tokenStore: "memory",
  });
  const client = new sdk.StackClientApp({
    projectId: project.projectId,
    baseUrl,
    tokenStore: "memory",
  });
  return { server, client };
}
