// The baseline: a bare Fastify hello-world, the fastest an HTTP answer can be on this stack.
import Fastify from "fastify";

const server = Fastify({ logger: false });
server.get("/", async () => "hello world");
await server.listen({ port: 0, host: "127.0.0.1" });
const address = server.server.address();
console.log(JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 }));
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
