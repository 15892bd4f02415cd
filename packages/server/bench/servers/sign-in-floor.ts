// References for the sign-in bench: the least a password sign-in can do, in three steps — a bare Fastify
// endpoint that checks the password against one argon2id hash (through the server's own hashing slots);
// the same after reading that hash from PostgreSQL by e-mail; and the same again, recording a session row
// once the password matched. Nothing of Latchkey's (no tenancy, tokens, rate limit or analytics), so
// sign-ins measured next to them show what Latchkey adds to the least any sign-in must do.
import Fastify from "fastify";
import pg from "pg";
import { hashPassword, verifyPassword } from "../../src/features/auth/passwords.ts";

type FloorStep = "hash" | "hash+read" | "hash+read+write";

const email = "floor@example.com";
const password = "bench password 123";
const passwordHash = await hashPassword(password);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 8 });
await pool.query(
  `CREATE TABLE IF NOT EXISTS bench_floor_credentials (email text PRIMARY KEY, password_hash text NOT NULL);
   CREATE TABLE IF NOT EXISTS bench_floor_sessions (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
);
await pool.query(
  `INSERT INTO bench_floor_credentials VALUES ($1, $2)
   ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash`,
  [email, passwordHash],
);

const server = Fastify({ logger: false });
server.post<{ Params: { step: FloorStep }; Body: { email: string; password: string } }>(
  "/:step/sign-in",
  async (request, reply) => {
    const { step } = request.params;
    let stored = passwordHash;
    if (step !== "hash") {
      const { rows } = await pool.query<{ password_hash: string }>({
        name: "read-credential",
        text: "SELECT password_hash FROM bench_floor_credentials WHERE email = $1",
        values: [request.body.email],
      });
      if (!rows[0]) return reply.code(400).send({ ok: false });
      stored = rows[0].password_hash;
    }
    const { ok } = await verifyPassword(stored, request.body.password);
    if (!ok) return reply.code(400).send({ ok });
    if (step === "hash+read+write") {
      await pool.query({
        name: "record-session",
        text: "INSERT INTO bench_floor_sessions (email) VALUES ($1)",
        values: [request.body.email],
      });
    }
    return { ok };
  },
);
await server.listen({ port: 0, host: "127.0.0.1" });
const address = server.server.address();
console.log(
  JSON.stringify({ port: typeof address === "object" && address ? address.port : 0, email, password }),
);
process.on("SIGTERM", () =>
  server
    .close()
    .then(() => pool.end())
    .then(() => process.exit(0)),
);
