/**
 * The Node client end to end: a real service and the Key Vault emulator in their own
 * processes, spoken to over real sockets. The steps share one project, in order.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { connect, ErrorReason, JobStatus, type SecretSyncClients, watchUntil } from "../src";
import { eventually, type Stack, startStack, vaultValue } from "./harness";

const VALUE = `s3cret-from-node-${randomUUID()}`;

async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new assert.AssertionError({ message: "the call succeeded" });
}

describe("the Node client against the service and the Key Vault emulator", { timeout: 60_000 }, () => {
  let stack: Stack;
  let kms: SecretSyncClients;
  let projectId = "";
  let syncId = "";
  let jobId = "";
  const triggerRequestId = `node-trigger-${randomUUID()}`;

  before(async () => {
    stack = await startStack();
    kms = connect(stack.target, { token: stack.token, tls: { ca: stack.ca } });
    await eventually(() => kms.sources.ListProjects({}, { deadline: Date.now() + 2000 }));
  });

  after(async () => {
    kms?.close();
    await stack?.stop();
  });

  it("creates a project, an environment, a folder and a secret", async () => {
    const { project } = await kms.sources.CreateProject({
      name: "Node client",
      slug: `node-${randomUUID().slice(0, 8)}`,
    });
    projectId = project!.id;
    await kms.sources.CreateEnvironment({ project_id: projectId, slug: "dev", name: "Development" });
    const where = { project_id: projectId, environment: "dev", path: "/app" };
    const { folder } = await kms.sources.CreateFolder(where);
    assert.equal(folder?.path, "/app");
    const { secret } = await kms.sources.SetSecret({ ...where, secret: { key: "DB_PASSWORD", value: VALUE } });
    assert.equal(secret?.version, "1"); // int64 arrives as a string
    assert.equal(secret?.value, ""); // SetSecret never answers the value
    const { secrets } = await kms.sources.ListSecrets({ ...where, include_values: true });
    assert.deepEqual(secrets.map((s) => [s.key, s.value]), [["DB_PASSWORD", VALUE]]);
  });

  it("syncs it into the vault: connection, sync, trigger, watch until succeeded", async () => {
    const emulator = stack.emulator;
    const { connection } = await kms.connections.CreateAzureConnection({
      project_id: projectId,
      name: "emulator",
      cloud: "AZURE_CLOUD_PUBLIC",
      client_secret_auth: {
        tenant_id: emulator.tenant_id,
        client_id: emulator.client_id,
        client_secret: emulator.client_secret,
        authority_host: emulator.vault_url,
      },
    });
    const { result } = await kms.connections.ValidateAzureConnection({
      connection_id: connection!.id,
      vault_base_url: emulator.vault_url,
    });
    assert.equal(result?.ok, true, result?.message);

    const { secret_sync: created } = await kms.syncs.CreateSecretSync({
      project_id: projectId,
      name: "node-sync",
      connection_id: connection!.id,
      environment: "dev",
      secret_path: "/app",
      is_enabled: false, // only the trigger below runs a job
      sync_options: { initial_sync_behavior: "INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION" },
      destination_config: { vault_base_url: emulator.vault_url },
    });
    syncId = created!.id;
    const { job_id } = await kms.syncs.TriggerSecretSync({ id: syncId, request_id: triggerRequestId });
    assert.ok(job_id);
    jobId = job_id;

    const finished = await watchUntil(
      kms.syncs,
      created!.id,
      (sync) =>
        sync.last_sync_job_id === job_id &&
        [JobStatus.JOB_STATUS_SUCCEEDED, JobStatus.JOB_STATUS_FAILED].includes(sync.sync_status as never),
    );
    assert.equal(finished.sync_status, JobStatus.JOB_STATUS_SUCCEEDED, finished.last_sync_message);
    assert.ok(Number(finished.last_synced_at?.seconds) > 0);
    assert.equal(await vaultValue(emulator, "DB-PASSWORD"), VALUE);
  });

  it("is refused without a token, and with a made-up one", async () => {
    for (const token of [undefined, "sst_00000000000000000000000000000000_not-a-token"]) {
      const stranger = connect(stack.target, { token, tls: { ca: stack.ca } });
      try {
        const refused = stranger.richError(await failure(stranger.sources.ListProjects({})));
        assert.equal(refused?.code, grpc.status.UNAUTHENTICATED);
        assert.equal(refused?.errorInfo?.reason, token ? "TOKEN_INVALID" : "TOKEN_MISSING");
        assert.ok(!refused?.message.includes("not-a-token"));
      } finally {
        stranger.close();
      }
    }
  });

  it("reads a rich error's field violations and reason", async () => {
    const invalid = await failure(
      kms.syncs.CreateSecretSync({
        project_id: projectId,
        name: "Not A Slug",
        connection_id: randomUUID(),
        environment: "dev",
        secret_path: "/app",
        destination_config: { vault_base_url: "http://example.com/vault" },
      }),
    );
    const rich = kms.richError(invalid);
    assert.equal(rich?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(rich?.errorInfo?.reason, "INVALID_ARGUMENT");
    assert.equal(rich?.errorInfo?.domain, "secretsync.kms.hanzo.ai");
    // Every rule a field breaks is one violation: the vault URL breaks three here.
    const fields = [...new Set(rich?.badRequest?.field_violations.map((v) => v.field))].sort();
    assert.deepEqual(fields, [
      "destination_config.vault_base_url",
      "name",
      "sync_options.initial_sync_behavior",
    ]);
    assert.ok(rich?.badRequest?.field_violations.every((v) => v.description.length > 0));

    const missing = kms.richError(await failure(kms.syncs.GetSecretSync({ id: randomUUID() })));
    assert.equal(missing?.code, grpc.status.NOT_FOUND);
    assert.equal(missing?.errorInfo?.reason, "SECRET_SYNC_NOT_FOUND");
    assert.equal(missing?.badRequest, undefined);
    assert.equal(missing?.errorInfo?.metadata.resource_type, "secret_sync"); // which resource
  });

  it("reads the audit trail: the sync's life and the secret written, never its value", async () => {
    const listed = (request: Parameters<typeof kms.audit.ListAuditEvents>[0], type: string) =>
      eventually(async () => {
        const { events } = await kms.audit.ListAuditEvents({ project_id: projectId, ...request });
        if (!events.some((e) => e.event_type === type)) throw new Error(`no ${type} in the audit log yet`);
        return events;
      }, 10);
    const trail = await listed({ resource_id: syncId, order: "AUDIT_ORDER_OLDEST_FIRST" }, "secret_sync.job_succeeded");
    const types = trail.map((e) => e.event_type);
    assert.equal(types[0], "secret_sync.created");
    assert.equal(trail[0].actor, "admin"); // the bootstrap token's principal
    const requested = trail.find((e) => e.event_type === "secret_sync.sync_requested");
    assert.equal(requested?.request_id, triggerRequestId);
    assert.equal(requested?.job_id, jobId);
    const succeeded = trail.find((e) => e.event_type === "secret_sync.job_succeeded");
    assert.equal(succeeded?.job_id, jobId);
    assert.equal(succeeded?.summary?.job_status, JobStatus.JOB_STATUS_SUCCEEDED);

    const written = await listed({ event_types: ["secret.set"] }, "secret.set");
    assert.deepEqual(written[0].summary?.secret_keys, ["DB_PASSWORD"]);
    assert.ok(!JSON.stringify([...trail, ...written]).includes(VALUE));
  });

  it("speaks TLS only: a plaintext channel to the service gets no answer", async () => {
    const plain = connect(stack.target, { token: stack.token });
    try {
      const refused = await failure(plain.sources.ListProjects({}, { deadline: Date.now() + 3000 }));
      assert.ok(refused instanceof Error && "code" in refused);
      assert.notEqual((refused as grpc.ServiceError).code, grpc.status.OK);
    } finally {
      plain.close();
    }
  });

  it("makes, lists and revokes a service token, which then is refused", async () => {
    const { service_token, token } = await kms.tokens.CreateServiceToken({
      name: "node-reader",
      principal: "node-reader",
      grants: [{ project_id: projectId, actions: ["read"] }],
    });
    assert.ok(token.startsWith("sst_"));
    const { service_tokens } = await kms.tokens.ListServiceTokens({});
    const listed = service_tokens.find((t) => t.id === service_token?.id);
    assert.equal(listed?.principal, "node-reader");
    assert.ok(!JSON.stringify(service_tokens).includes(token)); // never the token itself

    const reader = connect(stack.target, { token, tls: { ca: stack.ca } });
    try {
      const { secrets } = await reader.sources.ListSecrets({ project_id: projectId, environment: "dev", path: "/app" });
      assert.deepEqual(secrets.map((s) => s.key), ["DB_PASSWORD"]);
      await kms.tokens.RevokeServiceToken({ id: service_token!.id });
      const revoked = await eventually(async () => {
        const rich = reader.richError(await failure(reader.sources.ListProjects({})));
        if (rich?.errorInfo?.reason !== ErrorReason.TOKEN_REVOKED) throw new Error("not revoked yet");
        return rich;
      }, 10);
      assert.equal(revoked.code, grpc.status.UNAUTHENTICATED);
    } finally {
      reader.close();
    }
  });
});
