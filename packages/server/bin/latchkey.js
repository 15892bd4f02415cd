#!/usr/bin/env node
// Runs the TypeScript CLI directly: Latchkey ships its sources, not build output.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
