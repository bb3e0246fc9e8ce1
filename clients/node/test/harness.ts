/**
 * What the client test talks to, as real processes from the repository's venv: the Key
 * Vault emulator (TLS with its own CA, token endpoint) and the service in development
 * mode on a fresh SQLite store, trusting the emulator's CA and serving TLS with the
 * emulator's server certificate (issued for 127.0.0.1 by that CA, which the client trusts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PACKAGE_ROOT } from "../src/load";

export const REPO = path.resolve(PACKAGE_ROOT, "..", "..");
const PYTHON = process.env.SECRETSYNC_PYTHON ?? path.join(REPO, ".venv", "bin", "python");
const START_SECONDS = 30;

/** What the emulator prints on start (vault_url=..., tenant_id=..., ...). */
export interface Emulator {
  vault_url: string;
  tenant_id: string;
  client_id: string;
  client_secret: string;
  ca_path: string;
}

export interface Stack {
  target: string; // host:port of the service
  emulator: Emulator;
  token: string; // an admin service token: the service runs with authentication on
  ca: Buffer; // the CA of the service's TLS certificate
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "secretsync-node-client-"));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(end));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const emulator = await startEmulator(dir, children);
    const port = await freePort();
    const keyFile = path.join(dir, "root.key"); // not the repository's data/
    await writeFile(keyFile, randomBytes(32).toString("base64url"), { mode: 0o600 });
    const store = {
      SECRET_SYNC_DATABASE_URL: `sqlite:///${dir}/store.sqlite`,
      SECRET_SYNC_ROOT_KEY_FILE: keyFile, // the store is encrypted: both processes need it
    };
    const token = await bootstrapToken(store);
    const service = python(["-m", "service", "serve", "--dev", "--listen", `127.0.0.1:${port}`], {
      ...store,
      SECRET_SYNC_AUTH: "required", // on, as in production, though in development mode
      SECRET_SYNC_CA_BUNDLE: emulator.ca_path,
      SECRET_SYNC_LOG_LEVEL: "WARNING",
      SECRET_SYNC_METRICS_LISTEN: "off", // its fixed default port may be taken by another run
      SECRET_SYNC_TLS_CERT_FILE: path.join(dir, "server.pem"),
      SECRET_SYNC_TLS_KEY_FILE: path.join(dir, "server.key"),
    });
    children.push(service);
    const ca = readFileSync(emulator.ca_path);
    return { target: `127.0.0.1:${port}`, emulator, token, ca, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function python(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(PYTHON, args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Keep the tail of stderr: it explains a process that failed to start.
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  child.once("exit", (code) => {
    if (code && !child.killed) process.stderr.write(`${args.join(" ")} exited ${code}:\n${stderr}`);
  });
  return child;
}

/** The first admin token, written straight into the fresh store (docs/auth.md). */
async function bootstrapToken(env: Record<string, string>): Promise<string> {
  const child = python(["-m", "service", "token", "create", "--bootstrap", "--output", "json"], env);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`token create --bootstrap exited with ${code}`);
  return JSON.parse(stdout).token;
}

async function startEmulator(dir: string, children: ChildProcess[]): Promise<Emulator> {
  const child = python(["-m", "keyvault_emulator", "--port", "0",
    "--client-secret", "dev-secret", "--cert-dir", dir]);
  children.push(child);
  const facts: Record<string, string> = {};
  let buffered = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the emulator did not start")), START_SECONDS * 1000);
    child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)));
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "ready") {
          clearTimeout(timer);
          resolve();
        }
        const at = line.indexOf("=");
        if (at > 0) facts[line.slice(0, at)] = line.slice(at + 1);
      }
    });
  });
  return facts as unknown as Emulator;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** SIGTERM (the service drains and closes its store), then SIGKILL if it lingers. */
function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Retry `attempt` until it succeeds: the service accepts calls once it has started. */
export async function eventually<T>(attempt: () => Promise<T>, seconds = START_SECONDS): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** A secret's value as the vault holds it, read over its REST API with a real token. */
export async function vaultValue(emulator: Emulator, name: string): Promise<string | undefined> {
  const ca = readFileSync(emulator.ca_path);
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: emulator.client_id,
    client_secret: emulator.client_secret,
    scope: "https://vault.azure.net/.default",
  }).toString();
  const token = await request(`${emulator.vault_url}/${emulator.tenant_id}/oauth2/v2.0/token`, ca,
    { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }, form);
  const secret = await request(`${emulator.vault_url}/secrets/${name}?api-version=7.5`, ca,
    { headers: { authorization: `Bearer ${token.body.access_token}` } });
  return secret.status === 200 ? secret.body.value : undefined;
}

interface JsonResponse {
  status: number;
  body: Record<string, string>;
}

function request(url: string, ca: Buffer, options: https.RequestOptions, body?: string): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...options, ca }, (response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text || "{}") }));
    });
    req.once("error", reject);
    req.end(body);
  });
}
