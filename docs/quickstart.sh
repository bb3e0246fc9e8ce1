# Shell 3 of the README's quick start: run from the repository root while shell 1 runs
# the Key Vault emulator and shell 2 the service. tests/cli/test_quickstart.py runs
# this very file against a fresh service and emulator, so it stays true.
set -eu
kms() { .venv/bin/python -m service "$@"; }     # the operator CLI (docs/cli.md)
VAULT=${VAULT:-https://127.0.0.1:8443}          # the vault_url shell 1 printed
CA=${CA:-data/emulator/ca.pem}                  # the ca_path shell 1 printed
TENANT=e0000000-0000-4000-8000-000000000001     # the emulator's tenant_id and client_id
CLIENT=c0000000-0000-4000-8000-000000000001

kms project create --name Shop --slug shop
kms env create --project shop --slug dev --name Development
kms folder create --project shop --env dev --path /app
# Values come from stdin, or a hidden prompt if you leave out the pipe; never from argv.
echo 's3cret' | kms secret set --project shop --env dev --path /app DB_PASSWORD
echo 'dev-secret' | kms connection create --project shop --name emulator \
    --tenant-id "$TENANT" --client-id "$CLIENT" --authority-host "$VAULT"
kms connection validate --project shop emulator --vault-url "$VAULT"
kms sync create --project shop --name app-to-vault --connection emulator \
    --env dev --path /app --vault-url "$VAULT"
kms sync watch --project shop app-to-vault --until succeeded --timeout 60
kms sync list --project shop
kms sync trigger --project shop app-to-vault --dry-run
# The secret is in the vault (DB_PASSWORD becomes DB-PASSWORD): read it with the Azure SDK.
.venv/bin/python -c "
from azure.identity import ClientSecretCredential; from azure.keyvault.secrets import SecretClient
c = ClientSecretCredential('$TENANT', '$CLIENT', 'dev-secret', authority='$VAULT',
                           disable_instance_discovery=True, connection_verify='$CA')
v = SecretClient('$VAULT', c, verify_challenge_resource=False, connection_verify='$CA')
print('DB-PASSWORD =', v.get_secret('DB-PASSWORD').value)"
