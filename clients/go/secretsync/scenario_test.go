package secretsync_test

// The Go client end to end, as a Go team would use code generated from protos/: a
// project, a secret, a connection to the emulator, a sync triggered and watched until
// it succeeded, the vault read back, one rich error decoded, one audit page, the
// service tokens. The steps share one project, in order.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io/ioutil"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hanzoai/kms-secretsync/clients/go/secretsync"
	v1 "github.com/hanzoai/kms-secretsync/gen/go/hanzo/kms/secretsync/v1"
	"google.golang.org/grpc/codes"
)

func unique() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestScenario(t *testing.T) {
	s := startStack(t)
	kms, err := secretsync.Dial(s.target, secretsync.Options{Token: s.token, CAFile: s.emulator.CAPath})
	if err != nil {
		t.Fatal(err)
	}
	defer kms.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eventually(t, func() error {
		call, done := context.WithTimeout(ctx, 2*time.Second)
		defer done()
		_, err := kms.Sources.ListProjects(call, &v1.ListProjectsRequest{})
		return err
	})

	value := "s3cret-from-go-" + unique()
	project, err := kms.Sources.CreateProject(ctx, &v1.CreateProjectRequest{Name: "Go client", Slug: "go-" + unique()})
	must(t, err)
	projectID := project.GetProject().GetId()
	_, err = kms.Sources.CreateEnvironment(ctx, &v1.CreateEnvironmentRequest{ProjectId: projectID, Slug: "dev", Name: "Development"})
	must(t, err)
	_, err = kms.Sources.CreateFolder(ctx, &v1.CreateFolderRequest{ProjectId: projectID, Environment: "dev", Path: "/app"})
	must(t, err)
	_, err = kms.Sources.SetSecret(ctx, &v1.SetSecretRequest{ProjectId: projectID, Environment: "dev", Path: "/app",
		Secret: &v1.Secret{Key: "DB_PASSWORD", Value: value}})
	must(t, err)

	emu := s.emulator
	connection, err := kms.Connections.CreateAzureConnection(ctx, &v1.CreateAzureConnectionRequest{
		ProjectId: projectID, Name: "emulator", Cloud: v1.AzureCloud_AZURE_CLOUD_PUBLIC,
		Auth: &v1.CreateAzureConnectionRequest_ClientSecretAuth{ClientSecretAuth: &v1.ClientSecretAuth{
			TenantId: emu.TenantID, ClientId: emu.ClientID, ClientSecret: emu.ClientSecret,
			AuthorityHost: emu.VaultURL,
		}},
	})
	must(t, err)
	connectionID := connection.GetConnection().GetId()
	created, err := kms.Syncs.CreateSecretSync(ctx, &v1.CreateSecretSyncRequest{
		ProjectId: projectID, Name: "go-sync", ConnectionId: connectionID,
		Environment: "dev", SecretPath: "/app",
		IsEnabled:         false, // only the trigger below runs a job
		SyncOptions:       &v1.SyncOptions{InitialSyncBehavior: v1.InitialSyncBehavior_INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION},
		DestinationConfig: &v1.AzureKeyVaultDestinationConfig{VaultBaseUrl: emu.VaultURL},
	})
	must(t, err)
	sync := created.GetSecretSync()
	if sync.GetConnection().GetName() != "emulator" {
		t.Errorf("the sync's connection summary is named %q", sync.GetConnection().GetName())
	}

	requestID := "go-trigger-" + unique()
	trigger, err := kms.Syncs.TriggerSecretSync(ctx, &v1.TriggerSecretSyncRequest{Id: sync.GetId(), RequestId: requestID})
	must(t, err)
	finished, err := secretsync.WatchUntil(ctx, kms.Syncs, sync.GetId(), func(s *v1.SecretSync) bool {
		return s.GetLastSyncJobId() == trigger.GetJobId() &&
			(s.GetSyncStatus() == v1.JobStatus_JOB_STATUS_SUCCEEDED || s.GetSyncStatus() == v1.JobStatus_JOB_STATUS_FAILED)
	})
	must(t, err)
	if finished.GetSyncStatus() != v1.JobStatus_JOB_STATUS_SUCCEEDED {
		t.Fatalf("the sync ended %v: %s", finished.GetSyncStatus(), finished.GetLastSyncMessage())
	}
	if got := vaultValue(t, emu, "DB-PASSWORD"); got != value {
		t.Fatalf("the vault holds %q", got)
	}

	// One rich error: every bad field named, the reason as the contract's constant.
	_, err = kms.Syncs.CreateSecretSync(ctx, &v1.CreateSecretSyncRequest{
		ProjectId: projectID, Name: "Not A Slug", ConnectionId: connectionID,
		Environment: "dev", SecretPath: "/app",
		DestinationConfig: &v1.AzureKeyVaultDestinationConfig{VaultBaseUrl: "http://example.com/vault"},
	})
	rich, ok := secretsync.Rich(err)
	if !ok || rich.Code != codes.InvalidArgument || rich.Reason != v1.ErrorReason_INVALID_ARGUMENT {
		t.Fatalf("not the rich INVALID_ARGUMENT expected: %v", err)
	}
	fields := strings.Join(rich.Fields(), ",")
	for _, field := range []string{"name", "destination_config.vault_base_url", "sync_options.initial_sync_behavior"} {
		if !strings.Contains(fields, field) {
			t.Errorf("%s is not among the bad fields %s", field, fields)
		}
	}
	_, err = kms.Syncs.GetSecretSync(ctx, &v1.GetSecretSyncRequest{Id: "00000000-0000-4000-8000-000000000000"})
	missing, _ := secretsync.Rich(err)
	if missing.Code != codes.NotFound || missing.Reason != v1.ErrorReason_SECRET_SYNC_NOT_FOUND {
		t.Fatalf("not SECRET_SYNC_NOT_FOUND: %v", err)
	}
	if missing.Metadata["resource_type"] != "secret_sync" {
		t.Errorf("the error's metadata names no resource: %v", missing.Metadata)
	}

	// One audit page, oldest first: the sync's creation, then its job requested.
	var page *v1.ListAuditEventsResponse
	eventually(t, func() error {
		page, err = kms.Audit.ListAuditEvents(ctx, &v1.ListAuditEventsRequest{
			ProjectId: projectID, ResourceId: sync.GetId(),
			Order: v1.AuditOrder_AUDIT_ORDER_OLDEST_FIRST, PageSize: 2,
		})
		if err == nil && len(page.GetEvents()) < 2 {
			return errNotYet
		}
		return err
	})
	first := page.GetEvents()[0]
	if secretsync.EventType(first.GetEventType()) != v1.AuditEventType_AUDIT_EVENT_TYPE_SECRET_SYNC_CREATED ||
		first.GetActor() != "admin" {
		t.Errorf("the first event is %s by %s", first.GetEventType(), first.GetActor())
	}
	if page.GetNextPageToken() == "" {
		t.Error("the sync's trail has more than 2 events, but the page has no next token")
	}
	for _, event := range page.GetEvents() {
		if strings.Contains(event.String(), value) {
			t.Error("a secret value is in the audit log")
		}
	}

	// The service tokens: the bootstrap one, never its secret.
	tokens, err := kms.Tokens.ListServiceTokens(ctx, &v1.ListServiceTokensRequest{})
	must(t, err)
	if len(tokens.GetServiceTokens()) != 1 || strings.Contains(tokens.String(), s.token) {
		t.Errorf("unexpected token list: %v", tokens)
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually retries attempt for up to 30 seconds: the service starts, views follow.
func eventually(t *testing.T, attempt func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := attempt()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// vaultValue reads a secret as the vault holds it, over its REST API with a real token.
func vaultValue(t *testing.T, emu emulator, name string) string {
	pem, err := ioutil.ReadFile(emu.CAPath)
	must(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	answer, err := client.PostForm(emu.VaultURL+"/"+emu.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {emu.ClientID},
		"client_secret": {emu.ClientSecret}, "scope": {"https://vault.azure.net/.default"},
	})
	must(t, err)
	var token struct {
		AccessToken string `json:"access_token"`
	}
	must(t, json.NewDecoder(answer.Body).Decode(&token))
	answer.Body.Close()
	request, _ := http.NewRequest("GET", emu.VaultURL+"/secrets/"+name+"?api-version=7.5", nil)
	request.Header.Set("Authorization", "Bearer "+token.AccessToken)
	answer, err = client.Do(request)
	must(t, err)
	defer answer.Body.Close()
	var secret struct{ Value string }
	must(t, json.NewDecoder(answer.Body).Decode(&secret))
	return secret.Value
}
