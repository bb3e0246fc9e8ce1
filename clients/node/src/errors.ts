/**
 * Rich errors: the service puts a google.rpc.Status in the "grpc-status-details-bin"
 * trailer, whose details hold an ErrorInfo (a stable `reason`) and, for
 * INVALID_ARGUMENT, a BadRequest naming every bad field (see docs/api.md).
 */
import type * as grpc from "@grpc/grpc-js";
import type { MessageTypeDefinition, PackageDefinition } from "@grpc/proto-loader";
import type { BadRequest__Output } from "./generated/google/rpc/BadRequest";
import type { ErrorInfo__Output } from "./generated/google/rpc/ErrorInfo";
import type { Status__Output } from "./generated/google/rpc/Status";

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

export interface RichError {
  code: grpc.status;
  message: string;
  /** The ErrorInfo detail: `reason` (e.g. "NAME_TAKEN") and `domain`. */
  errorInfo?: ErrorInfo__Output;
  /** The BadRequest detail of INVALID_ARGUMENT: `field_violations` with field paths. */
  badRequest?: BadRequest__Output;
  /** Every detail by its full type name; `value` is undefined for a type not loaded. */
  details: { type: string; value: unknown }[];
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && "code" in error && "metadata" in error;
}

/** The rich details of a failed call, or undefined if it carries none. */
export function decodeRichError(
  error: unknown,
  definition: PackageDefinition,
): RichError | undefined {
  if (!isServiceError(error)) return undefined;
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!Buffer.isBuffer(raw)) return undefined;
  const status = decode<Status__Output>(definition, "google.rpc.Status", raw);
  if (status === undefined) return undefined;
  const details = status.details.map((any) => {
    // type_url is "type.googleapis.com/google.rpc.BadRequest": the name follows the last "/".
    const type = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    return { type, value: decode(definition, type, any.value) };
  });
  const find = <T>(type: string) => details.find((d) => d.type === type)?.value as T | undefined;
  return {
    code: status.code,
    message: status.message,
    errorInfo: find<ErrorInfo__Output>("google.rpc.ErrorInfo"),
    badRequest: find<BadRequest__Output>("google.rpc.BadRequest"),
    details,
  };
}

function decode<T>(definition: PackageDefinition, type: string, bytes: Buffer): T | undefined {
  const message = definition[type] as MessageTypeDefinition<unknown, T> | undefined;
  return message && "deserialize" in message ? message.deserialize(bytes) : undefined;
}
