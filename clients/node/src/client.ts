/**
 * Typed, promise-based clients of the four services on one channel, and the helpers
 * most callers need: rich errors and waiting on a sync through WatchSecretSync.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeRichError, type RichError } from "./errors";
import type { AuditServiceClient } from "./generated/hanzo/kms/secretsync/v1/AuditService";
import type { AzureConnectionServiceClient } from "./generated/hanzo/kms/secretsync/v1/AzureConnectionService";
import type { SecretSourceServiceClient } from "./generated/hanzo/kms/secretsync/v1/SecretSourceService";
import type { SecretSync__Output } from "./generated/hanzo/kms/secretsync/v1/SecretSync";
import type { SecretSyncServiceClient } from "./generated/hanzo/kms/secretsync/v1/SecretSyncService";
import type { TokenServiceClient } from "./generated/hanzo/kms/secretsync/v1/TokenService";
import { loadContract } from "./load";

/**
 * The RPCs of a generated client (its PascalCase methods, as named in the protos):
 * unary ones return a promise, server-streaming ones the call, an async iterable.
 * Types come from the last overload, (request, callback) or (request, options).
 */
export type PromiseClient<C> = {
  [K in keyof C as K extends string ? (K extends Capitalize<K> ? K : never) : never]: C[K] extends (
    argument: infer Request,
    callback: grpc.requestCallback<infer Response>,
  ) => grpc.ClientUnaryCall
    ? (request: Request, options?: grpc.CallOptions) => Promise<Response>
    : C[K] extends (argument: infer Request, options?: grpc.CallOptions) => grpc.ClientReadableStream<infer Response>
      ? (request: Request, options?: grpc.CallOptions) => grpc.ClientReadableStream<Response>
      : never;
};

type MethodTable = Record<string, { responseStream: boolean }>;
type AnyMethod = (...args: unknown[]) => unknown;

export function promiseClient<C extends grpc.Client>(client: C): PromiseClient<C> {
  const methods = (client.constructor as unknown as { service: MethodTable }).service;
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(methods)) {
    const rpc = (client as unknown as Record<string, AnyMethod>)[name].bind(client);
    wrapped[name] = method.responseStream
      ? (request: unknown, options: grpc.CallOptions = {}) => rpc(request, options)
      : (request: unknown, options: grpc.CallOptions = {}) =>
          new Promise((resolve, reject) =>
            rpc(request, options, (error: grpc.ServiceError | null, response: unknown) =>
              error ? reject(error) : resolve(response),
            ),
          );
  }
  return wrapped as PromiseClient<C>;
}

/** TLS to the service (docs/tls.md): PEM contents, not paths. */
export interface TlsOptions {
  /** CA certificates the server's certificate must chain to (default: the system's). */
  ca?: Buffer;
  /** A client certificate chain and its key, for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectOptions {
  /**
   * TLS, as the service serves outside development mode. Without `tls` or `credentials`
   * the channel is insecure (plain-text HTTP/2), which the service accepts only on
   * loopback in development mode.
   */
  tls?: TlsOptions;
  /** Channel credentials of your own; wins over `tls`. */
  credentials?: grpc.ChannelCredentials;
  /**
   * A service token (`sst_...`) or a JWT, sent as `authorization: Bearer <token>` on
   * every call. Needed unless the service runs with authentication off (development).
   */
  token?: string;
  /** Where the contract's .proto files are (default: the repository's protos/). */
  protoDir?: string;
}

export interface SecretSyncClients {
  syncs: PromiseClient<SecretSyncServiceClient>;
  sources: PromiseClient<SecretSourceServiceClient>;
  connections: PromiseClient<AzureConnectionServiceClient>;
  audit: PromiseClient<AuditServiceClient>;
  /** Service tokens: create (answered once), list, revoke; admin only (docs/auth.md). */
  tokens: PromiseClient<TokenServiceClient>;
  /** The google.rpc details of a failed call (undefined for other errors). */
  richError(error: unknown): RichError | undefined;
  close(): void;
}

/** Clients of SecretSyncService, SecretSourceService, AzureConnectionService, AuditService and TokenService. */
export function connect(target: string, options: ConnectOptions = {}): SecretSyncClients {
  const { contract, definition } = loadContract(options.protoDir);
  const v1 = contract.hanzo.kms.secretsync.v1;
  const credentials = options.credentials ?? channelCredentials(options.tls);
  const interceptors = options.token ? [bearer(options.token)] : [];
  const syncs = new v1.SecretSyncService(target, credentials, { interceptors });
  const shared = { channelOverride: syncs.getChannel(), interceptors }; // one connection for all
  const sources = new v1.SecretSourceService(target, credentials, shared);
  const connections = new v1.AzureConnectionService(target, credentials, shared);
  const audit = new v1.AuditService(target, credentials, shared);
  const tokens = new v1.TokenService(target, credentials, shared);
  return {
    syncs: promiseClient(syncs),
    sources: promiseClient(sources),
    connections: promiseClient(connections),
    audit: promiseClient(audit),
    tokens: promiseClient(tokens),
    richError: (error) => decodeRichError(error, definition),
    close: () => syncs.close(),
  };
}

function channelCredentials(tls: TlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/**
 * Adds the bearer token to each call's metadata. An interceptor rather than call
 * credentials: grpc-js sends call credentials only over TLS, and a development
 * service on loopback is plain text.
 */
function bearer(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * Watch a sync until `done` holds for it, and answer that state. Rejects when the
 * stream ends first (the sync was deleted, the server stopped) or after `timeoutMs`.
 */
export async function watchUntil(
  syncs: SecretSyncClients["syncs"],
  id: string,
  done: (sync: SecretSync__Output) => boolean,
  timeoutMs = 30_000,
): Promise<SecretSync__Output> {
  const call = syncs.WatchSecretSync({ id }, { deadline: Date.now() + timeoutMs });
  try {
    for await (const message of call) {
      if (message.secret_sync && done(message.secret_sync)) return message.secret_sync;
      if (message.deleted) break;
    }
  } finally {
    call.cancel();
  }
  throw new Error(`the watch of secret sync ${id} ended before the state was reached`);
}
