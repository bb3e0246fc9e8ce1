/** Typed Node.js client of the Hanzo KMS Secret Sync API (hanzo.kms.secretsync.v1). */
export { connect, promiseClient, watchUntil } from "./client";
export type { ConnectOptions, PromiseClient, SecretSyncClients, TlsOptions } from "./client";
export { decodeRichError, isServiceError, STATUS_DETAILS_KEY } from "./errors";
export type { RichError } from "./errors";
export { defaultProtoDir, loadContract, LOADER_OPTIONS, PROTO_FILES } from "./load";
export type { Contract, LoadedContract } from "./load";
// Enums as values (e.g. JobStatus.JOB_STATUS_SUCCEEDED) and the message types.
export { AuditEventType } from "./generated/hanzo/kms/secretsync/v1/AuditEventType";
export { AzureCloud } from "./generated/hanzo/kms/secretsync/v1/AzureCloud";
export { ErrorReason } from "./generated/hanzo/kms/secretsync/v1/ErrorReason";
export { InitialSyncBehavior } from "./generated/hanzo/kms/secretsync/v1/InitialSyncBehavior";
export { JobStatus } from "./generated/hanzo/kms/secretsync/v1/JobStatus";
export { PlanAction } from "./generated/hanzo/kms/secretsync/v1/PlanAction";
export type { SecretSync__Output as SecretSync } from "./generated/hanzo/kms/secretsync/v1/SecretSync";
export type { CreateSecretSyncRequest } from "./generated/hanzo/kms/secretsync/v1/CreateSecretSyncRequest";
