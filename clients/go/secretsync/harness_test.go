package secretsync_test

// What the scenario talks to, as real processes from the repository's venv: the Key
// Vault emulator (TLS with its own CA, token endpoint) and the service on a fresh
// SQLite store, serving TLS with a certificate of the emulator's CA, authentication on.
// SECRETSYNC_REPO (the repository) and SECRETSYNC_PYTHON (its venv's python) come from
// `make go-client-test`.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type emulator struct {
	VaultURL, TenantID, ClientID, ClientSecret, CAPath string
}

type stack struct {
	target   string
	token    string
	emulator emulator
}

func repo(t *testing.T) (string, string) {
	root := os.Getenv("SECRETSYNC_REPO")
	if root == "" {
		t.Fatal("SECRETSYNC_REPO is not set: run `make go-client-test`")
	}
	python := os.Getenv("SECRETSYNC_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
	}
	return root, python
}

func startStack(t *testing.T) stack {
	root, python := repo(t)
	dir, err := ioutil.TempDir("", "secretsync-go-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := func(env []string, args ...string) *exec.Cmd {
		cmd := exec.Command(python, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}

	emu := run(nil, "-m", "service", "emulator", "--port", "0",
		"--client-secret", "dev-secret", "--cert-dir", dir)
	facts := startAndRead(t, emu)

	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(dir, "root.key") // not the repository's data/
	if err := ioutil.WriteFile(keyFile, []byte(base64.RawURLEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	store := []string{
		"SECRET_SYNC_DATABASE_URL=sqlite:///" + filepath.Join(dir, "store.sqlite"),
		"SECRET_SYNC_ROOT_KEY_FILE=" + keyFile, // the store is encrypted: both need it
	}
	out, err := run(store, "-m", "service", "token", "create", "--bootstrap", "--output", "json").Output()
	if err != nil {
		t.Fatalf("token create --bootstrap: %v", err)
	}
	var bootstrap struct{ Token string }
	if err := json.Unmarshal(out, &bootstrap); err != nil || bootstrap.Token == "" {
		t.Fatalf("token create --bootstrap printed %q", out)
	}

	port := freePort(t)
	service := run(append(store,
		"SECRET_SYNC_AUTH=required",
		"SECRET_SYNC_CA_BUNDLE="+facts["ca_path"],
		"SECRET_SYNC_LOG_LEVEL=WARNING",
		"SECRET_SYNC_METRICS_LISTEN=off",
		// TLS with the emulator's server pair: issued for 127.0.0.1 by the CA we trust.
		"SECRET_SYNC_TLS_CERT_FILE="+filepath.Join(dir, "server.pem"),
		"SECRET_SYNC_TLS_KEY_FILE="+filepath.Join(dir, "server.key"),
	), "-m", "service", "serve", "--dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	var serviceLog bytes.Buffer
	service.Stderr = &serviceLog
	if err := service.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop(service)
		if t.Failed() {
			t.Logf("service log:\n%s", tail(serviceLog.String()))
		}
	})
	return stack{
		target: fmt.Sprintf("127.0.0.1:%d", port),
		token:  bootstrap.Token,
		emulator: emulator{
			VaultURL: facts["vault_url"], TenantID: facts["tenant_id"],
			ClientID: facts["client_id"], ClientSecret: facts["client_secret"],
			CAPath: facts["ca_path"],
		},
	}
}

// startAndRead starts the emulator and reads its key=value lines up to "ready".
func startAndRead(t *testing.T, cmd *exec.Cmd) map[string]string {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(cmd) })
	facts := map[string]string{}
	ready := make(chan error, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if lines.Text() == "ready" {
				ready <- nil
				go ioutil.ReadAll(stdout) // keep the pipe drained
				return
			}
			if at := strings.Index(lines.Text(), "="); at > 0 {
				facts[lines.Text()[:at]] = lines.Text()[at+1:]
			}
		}
		ready <- fmt.Errorf("the emulator exited before it was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the emulator did not start")
	}
	return facts
}

func freePort(t *testing.T) int {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

// stop sends SIGTERM (the service drains and closes its store), then SIGKILL.
func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func tail(text string) string {
	if len(text) > 4000 {
		return text[len(text)-4000:]
	}
	return text
}
