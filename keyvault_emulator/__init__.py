"""An Azure Key Vault (secrets) emulator that the real, unmodified Azure SDK talks to.

It serves, over HTTPS with a throwaway CA, both the vault's secrets REST API and a small
Entra ID stand-in (OIDC discovery + client-credentials token grant), so
`azure-identity` and `azure-keyvault-secrets` work fully offline.

Run it on its own::

    python -m keyvault_emulator --port 8443 [--tenant T --client-id C
        --client-secret S] [--latency-ms 20] [--lenient] [--extra-vault other]

It is as strict as Key Vault by default (long-running delete/recover/purge, throttling,
known api-versions only): see README.md for what it models, how to relax it, and the
one list of where it knowingly differs from Azure.

It prints vault_url=, authority=, tenant_id=, client_id=, client_secret=, ca_path= and
admin_url= lines, then "ready". Or from Python / tests::

    with KeyVaultEmulator() as emulator:          # a free port, a fresh CA
        url, ca_path = emulator.url, str(emulator.ca_path)

How a client connects (both objects need the CA; REQUESTS_CA_BUNDLE works too)::

    credential = ClientSecretCredential(
        tenant_id, client_id, client_secret,
        authority=url,                      # tokens come from the emulator itself
        disable_instance_discovery=True,    # else MSAL asks login.microsoftonline.com
        connection_verify=ca_path,
    )
    client = SecretClient(
        vault_url=url, credential=credential,
        verify_challenge_resource=False,    # 127.0.0.1 is not a *.vault.azure.net host
        connection_verify=ca_path,
    )

The first vault request carries no token; the emulator answers 401 with
`WWW-Authenticate: Bearer authorization="https://<emulator>/<tenant>",
resource="https://vault.azure.net"`, the SDK gets a token from
`/<tenant>/oauth2/v2.0/token` and repeats the request.

Mind that azure-core retries 408/429/5xx and dropped connections itself (10 tries,
honouring Retry-After): pass `retry_total=0` to SecretClient to see raw errors.

Vault selection: a Host naming a vault (myvault.vault.azure.net:PORT) picks that vault;
an IP or localhost picks the listener's vault (`vault_name`, default "emulator");
`emulator.add_vault(name)` serves another vault on a port of its own.

Test controls: `emulator.faults` (latency, fail_next, fail_fraction, drop_next,
set_rate_limit, short_pages), `emulator.counts()` / `reset_counts()`,
`emulator.add_principal(id, secret, permissions)`, `emulator.timing` (deletion,
recovery and purge windows), `emulator.seed_certificate(name)`, `emulator.deny(code, ...)`
(403 kinds) and `emulator.vault()` for direct access to the store; the same over HTTP
under /_emulator/ (see admin.py).
"""

from keyvault_emulator.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_TENANT,
    DEFAULT_VAULT,
    KeyVaultEmulator,
)
from keyvault_emulator.ratelimit import RateLimit

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_TENANT",
    "DEFAULT_VAULT",
    "KeyVaultEmulator",
    "RateLimit",
]
