// Package secretsync is a small Go client of the Hanzo KMS Secret Sync gRPC API
// (hanzo.kms.secretsync.v1): the generated clients of its five services on one
// connection, a bearer token on every call, TLS with a given CA, rich errors
// decoded, and waiting on a sync through WatchSecretSync.
//
// The generated code (package secretsyncv1) comes from protos/ with buf.gen.yaml;
// see clients/go/README.md.
package secretsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/ioutil"

	v1 "github.com/hanzoai/kms-secretsync/gen/go/hanzo/kms/secretsync/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Options say how to reach the service.
type Options struct {
	// Token is a service token ("sst_...") or a JWT, sent as
	// "authorization: Bearer <token>". Empty sends none.
	Token string
	// CAFile is a PEM bundle the server's certificate must chain to. With
	// neither CAFile nor TLS set, the system's roots are used.
	CAFile string
	// TLS overrides the TLS configuration (client certificates for mutual TLS).
	TLS *tls.Config
	// Insecure dials plaintext HTTP/2, which the service accepts only in
	// development mode on loopback. The token is sent all the same.
	Insecure bool
}

// Client holds one connection and the clients of every service on it.
type Client struct {
	conn        *grpc.ClientConn
	Syncs       v1.SecretSyncServiceClient
	Sources     v1.SecretSourceServiceClient
	Connections v1.AzureConnectionServiceClient
	Audit       v1.AuditServiceClient
	Tokens      v1.TokenServiceClient
}

// Dial connects lazily: the first call makes the connection.
func Dial(target string, options Options) (*Client, error) {
	dial := []grpc.DialOption{}
	if options.Insecure {
		dial = append(dial, grpc.WithInsecure())
	} else {
		config, err := tlsConfig(options)
		if err != nil {
			return nil, err
		}
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(config)))
	}
	if options.Token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{options.Token, !options.Insecure}))
	}
	conn, err := grpc.Dial(target, dial...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:        conn,
		Syncs:       v1.NewSecretSyncServiceClient(conn),
		Sources:     v1.NewSecretSourceServiceClient(conn),
		Connections: v1.NewAzureConnectionServiceClient(conn),
		Audit:       v1.NewAuditServiceClient(conn),
		Tokens:      v1.NewTokenServiceClient(conn),
	}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

func tlsConfig(options Options) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if options.TLS != nil {
		config = options.TLS.Clone()
	}
	if options.CAFile != "" {
		pem, err := ioutil.ReadFile(options.CAFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", options.CAFile)
		}
		config.RootCAs = roots
	}
	return config, nil
}

// bearer puts the token on each call. Over TLS only, unless the caller chose a
// plaintext development connection.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// ErrWatchEnded is returned by WatchUntil when the stream ends first.
var ErrWatchEnded = errors.New("the watch ended before the state was reached")

// WatchUntil follows a sync until done holds for it, and returns that state.
// Give ctx a deadline: the stream otherwise runs until the sync is deleted.
func WatchUntil(ctx context.Context, syncs v1.SecretSyncServiceClient, id string,
	done func(*v1.SecretSync) bool) (*v1.SecretSync, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := syncs.WatchSecretSync(ctx, &v1.WatchSecretSyncRequest{Id: id})
	if err != nil {
		return nil, err
	}
	for {
		message, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if sync := message.GetSecretSync(); sync != nil && done(sync) {
			return sync, nil
		}
		if message.GetDeleted() {
			return nil, ErrWatchEnded
		}
	}
}
