// Runs the real server entry (src/server.ts through tsx) as a child process, as `npm start` would.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  logs: () => Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function runServer(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  return runEntry("src/server.ts", env);
}

/** Any TypeScript entry of the project (a CLI, a test helper script) as a child process, with the server's test environment. */
export function runEntry(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, entry), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "test", LOG_PRETTY: "false", LOG_LEVEL: "info", PORT: "0", HOST: "127.0.0.1", DATABASE_URL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** A server process that was started and is perhaps not listening yet (start-up tests watch it start). */
export interface LaunchedServer {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  logs: () => Array<Record<string, unknown>>;
  /** Resolves once it says it listens; rejects if it exits first or takes longer than `timeoutMs`. */
  listening(timeoutMs?: number): Promise<ServerProcess>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function launchServer(env: Record<string, string>): LaunchedServer {
  const { child, output, exited } = runServer(env);
  const logs = () =>
    output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  const listening = async (timeoutMs = 60_000): Promise<ServerProcess> => {
    const url = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /ChillBill listening on (http:\/\/[^ ]+?) \(/.exec(output());
        if (!match) return false;
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(match[1]);
        return true;
      };
      const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${output()}`)), timeoutMs);
      if (check()) return;
      child.stdout!.on("data", check);
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before listening:\n${output()}`));
      });
    });
    return { url, child, logs, stop };
  };
  return { child, output, exited, logs, listening, stop };
}

export async function startServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  return launchServer(env).listening(timeoutMs);
}

/** A server on its own embedded database and upload folder in a temporary directory, removed by dispose(). */
export async function startIsolatedServer(prefix: string, env: Record<string, string>): Promise<ServerProcess & { dispose(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), `chillbill-${prefix}-`));
  const server = await startServer({ PGLITE_DATA_DIR: path.join(dir, "data"), UPLOAD_DIR: path.join(dir, "uploads"), ...env });
  return {
    ...server,
    dispose: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
