// A reference for the sign-in bench: a bare Fastify endpoint that only checks a password against one
// argon2id hash, through the server's own hashing slots — the HTTP round trip and the hash, nothing of
// Latchkey's (no database, no tokens). Sign-ins measured next to it show what Latchkey adds on top.
import Fastify from "fastify";
import { hashPassword, verifyPassword } from "../../src/features/auth/passwords.ts";

const password = "bench password 123";
const hash = await hashPassword(password);
const server = Fastify({ logger: false });
server.post<{ Body: { email: string; password: string } }>("/sign-in", async (request, reply) => {
  const { ok } = await verifyPassword(hash, request.body.password);
  return ok ? { ok } : reply.code(400).send({ ok });
});
await server.listen({ port: 0, host: "127.0.0.1" });
const address = server.server.address();
console.log(JSON.stringify({ port: typeof address === "object" && address ? address.port : 0, password }));
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
