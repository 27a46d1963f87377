// Starting a `weir serve` for the JavaScript client tests: the sim backend
// in script mode on a free loopback port.

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts `weir serve` on the sim backend with a script of rules; resolves
 * to the child process and its base URL once /health answers. */
export async function startWeir(scriptPath, extraArgs = [], decodeStepUs = 200) {
  const port = await freePort();
  const cache = mkdtempSync(join(tmpdir(), "weir-ai-sdk-"));
  const bin = process.env.WEIR_BIN ?? join(root, "target", "release", "weir");
  const child = spawn(bin, ["serve", "--port", String(port), "--cache-dir", cache,
    "--backend", "sim", "--sim-mode", "script", "--sim-script", scriptPath,
    "--sim-decode-step-us", String(decodeStepUs), "--sim-decode-us-per-seq", "0",
    "--num-kv-blocks", "2048", ...extraArgs],
    { stdio: "ignore" });
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return { child, baseURL: `http://127.0.0.1:${port}/v1` };
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error("weir did not start");
}
