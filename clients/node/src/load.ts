/**
 * Loading the contract at run time: the repository's .proto files (protos/), plus
 * google.rpc's Status and error details (vendored from googleapis) for rich errors.
 */
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as AuditGrpc } from "./generated/audit_service";
import type { ProtoGrpcType as ConnectionGrpc } from "./generated/azure_connection_service";
import type { ProtoGrpcType as DetailsGrpc } from "./generated/error_details";
import type { ProtoGrpcType as SourceGrpc } from "./generated/secret_source_service";
import type { ProtoGrpcType as SyncGrpc } from "./generated/secret_sync_service";
import type { ProtoGrpcType as StatusGrpc } from "./generated/status";
import type { ProtoGrpcType as TokenGrpc } from "./generated/token_service";

/** The package's root directory: this file runs as dist/src/load.js. */
export const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");

/** The services' files (with what they import) and the rich error details. */
export const PROTO_FILES = [
  "hanzo/kms/secretsync/v1/secret_sync_service.proto",
  "hanzo/kms/secretsync/v1/secret_source_service.proto",
  "hanzo/kms/secretsync/v1/azure_connection_service.proto",
  "hanzo/kms/secretsync/v1/audit_service.proto",
  "hanzo/kms/secretsync/v1/token_service.proto",
  "hanzo/kms/secretsync/v1/error_reason.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
];

/**
 * How messages become JavaScript objects. These must match the flags of `npm run gen`:
 * the generated types describe objects loaded exactly so (snake_case field names as in
 * the protos and docs/api.md, enums as their names, 64-bit integers as strings).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Everything the files declare, typed by proto-loader-gen-types. */
export type Contract = SyncGrpc &
  SourceGrpc &
  ConnectionGrpc &
  AuditGrpc &
  TokenGrpc &
  StatusGrpc &
  DetailsGrpc;

export interface LoadedContract {
  contract: Contract;
  /** Message definitions by full name, e.g. "google.rpc.BadRequest" (for decoding Any). */
  definition: protoLoader.PackageDefinition;
}

/** The contract's protos: $SECRETSYNC_PROTO_DIR, else the repository's protos/. */
export function defaultProtoDir(): string {
  return process.env.SECRETSYNC_PROTO_DIR ?? path.resolve(PACKAGE_ROOT, "..", "..", "protos");
}

export function loadContract(protoDir: string = defaultProtoDir()): LoadedContract {
  const definition = protoLoader.loadSync(PROTO_FILES, {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir, path.join(PACKAGE_ROOT, "vendor", "googleapis")],
  });
  const contract = grpc.loadPackageDefinition(definition) as unknown as Contract;
  return { contract, definition };
}
