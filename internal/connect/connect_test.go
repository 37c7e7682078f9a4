package connect_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/rpc/encryption"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/internal/connect"
)

// pki is a throwaway CA with a server and a client certificate, as PEM files.
type pki struct {
	caFile, certFile, keyFile string // client side
	pool                      *x509.CertPool
	server                    tls.Certificate
	client                    tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "syncflow test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP, dns []string) (tls.Certificate, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		require.NoError(t, err)
		return pair, certPEM, keyPEM
	}

	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	// The server certificate also serves the server's own internal clients,
	// so it is valid for both uses.
	p.server, _, _ = issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	var certPEM, keyPEM []byte
	p.client, certPEM, keyPEM = issue(3, "syncflow-worker", x509.ExtKeyUsageClientAuth, nil, nil)

	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return path
	}
	p.caFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.certFile = write("client.pem", certPEM)
	p.keyFile = write("client-key.pem", keyPEM)
	return p
}

// tlsProvider makes the test server's frontend require mutual TLS; traffic
// between the server's own services stays in-process and plain.
type tlsProvider struct{ p *pki }

func (tp tlsProvider) GetInternodeServerConfig() (*tls.Config, error) { return nil, nil }
func (tp tlsProvider) GetInternodeClientConfig() (*tls.Config, error) { return nil, nil }
func (tp tlsProvider) GetFrontendServerConfig() (*tls.Config, error) {
	return &tls.Config{
		Certificates: []tls.Certificate{tp.p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    tp.p.pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
func (tp tlsProvider) GetFrontendClientConfig() (*tls.Config, error) {
	// The server's internal workers dial the frontend too.
	return &tls.Config{
		Certificates: []tls.Certificate{tp.p.client},
		RootCAs:      tp.p.pool,
		ServerName:   "127.0.0.1",
		MinVersion:   tls.VersionTLS12,
	}, nil
}
func (tp tlsProvider) GetRemoteClusterClientConfig(string) (*tls.Config, error) {
	return tp.GetFrontendClientConfig()
}
func (tp tlsProvider) GetExpiringCerts(time.Duration) (encryption.CertExpirationMap, encryption.CertExpirationMap, error) {
	return nil, nil, nil
}

var _ encryption.TLSConfigProvider = tlsProvider{}

// envMap is an Options.Env over a map, so tests never read the real
// environment (which may hold a developer's TEMPORAL_* settings).
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// noConfigFile points at a file that does not exist, so a developer's own
// profiles file cannot leak into a test.
func noConfigFile(t *testing.T) string { return filepath.Join(t.TempDir(), "none.toml") }

func TestDialMutualTLS(t *testing.T) {
	p := newPKI(t)
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithTLSConfigFactory(tlsProvider{p})))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := map[string]string{
		"TEMPORAL_ADDRESS":                 ts.GetFrontendHostPort(),
		"TEMPORAL_NAMESPACE":               ts.GetDefaultNamespace(),
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    p.certFile,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     p.keyFile,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": p.caFile,
	}
	o := connect.Options{Env: envMap(env), ConfigFile: noConfigFile(t)}

	host, ns, useTLS := connect.Describe(o)
	assert.Equal(t, ts.GetFrontendHostPort(), host)
	assert.Equal(t, ts.GetDefaultNamespace(), ns)
	assert.True(t, useTLS)

	c, err := connect.Dial(ctx, o)
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	require.NoError(t, err)
	assert.Equal(t, ns, resp.GetNamespaceInfo().GetName())

	t.Run("search attributes are registered once", func(t *testing.T) {
		attrs := map[string]enums.IndexedValueType{
			"SyncTestKeyword": enums.INDEXED_VALUE_TYPE_KEYWORD,
			"SyncTestInt":     enums.INDEXED_VALUE_TYPE_INT,
		}
		require.NoError(t, connect.EnsureSearchAttributes(ctx, c, ns, attrs))
		require.NoError(t, connect.EnsureSearchAttributes(ctx, c, ns, attrs), "second call must be a no-op")
		list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		require.NoError(t, err)
		for name, typ := range attrs {
			assert.Equal(t, typ, list.GetCustomAttributes()[name], name)
		}

		err = connect.EnsureSearchAttributes(ctx, c, ns, map[string]enums.IndexedValueType{"SyncTestInt": enums.INDEXED_VALUE_TYPE_KEYWORD})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "SyncTestInt is")
	})

	t.Run("plain text against the TLS server fails", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		plain := map[string]string{"TEMPORAL_ADDRESS": env["TEMPORAL_ADDRESS"], "TEMPORAL_NAMESPACE": ns}
		c, err := connect.Dial(ctx, connect.Options{Env: envMap(plain), ConfigFile: noConfigFile(t)})
		if err == nil {
			c.Close()
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), ts.GetFrontendHostPort())
	})

	t.Run("TLS without a client certificate fails", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		noCert := map[string]string{
			"TEMPORAL_ADDRESS":                 env["TEMPORAL_ADDRESS"],
			"TEMPORAL_NAMESPACE":               ns,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": p.caFile,
		}
		c, err := connect.Dial(ctx, connect.Options{Env: envMap(noCert), ConfigFile: noConfigFile(t)})
		if err == nil {
			c.Close()
		}
		require.Error(t, err)
	})
}

func TestDialUnreachableNamesTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = connect.Dial(ctx, connect.Options{Env: envMap(map[string]string{"TEMPORAL_ADDRESS": addr}), ConfigFile: noConfigFile(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach Temporal at "+addr)
	assert.Contains(t, err.Error(), "go run ./worker --dev")
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "temporal.toml")
	require.NoError(t, os.WriteFile(toml, []byte(`
[profile.default]
address = "default.example:7233"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"
api_key = "secret-key"
`), 0o600))

	tests := []struct {
		name    string
		o       connect.Options
		host    string
		ns      string
		useTLS  bool
		wantErr bool
	}{
		{name: "defaults", o: connect.Options{Env: envMap(nil), ConfigFile: noConfigFile(t)},
			host: "localhost:7233", ns: "default"},
		{name: "environment", o: connect.Options{Env: envMap(map[string]string{"TEMPORAL_ADDRESS": "t:1", "TEMPORAL_NAMESPACE": "n"}), ConfigFile: noConfigFile(t)},
			host: "t:1", ns: "n"},
		{name: "default profile", o: connect.Options{Env: envMap(nil), ConfigFile: toml},
			host: "default.example:7233", ns: "default"},
		{name: "named profile with API key implies TLS", o: connect.Options{Env: envMap(nil), ConfigFile: toml, Profile: "cloud"},
			host: "ns.acct.tmprl.cloud:7233", ns: "ns.acct", useTLS: true},
		{name: "profile from TEMPORAL_PROFILE and file from TEMPORAL_CONFIG_FILE", o: connect.Options{Env: envMap(map[string]string{"TEMPORAL_PROFILE": "cloud", "TEMPORAL_CONFIG_FILE": toml})},
			host: "ns.acct.tmprl.cloud:7233", ns: "ns.acct", useTLS: true},
		{name: "environment beats the profile", o: connect.Options{Env: envMap(map[string]string{"TEMPORAL_ADDRESS": "env:2"}), ConfigFile: toml, Profile: "cloud"},
			host: "env:2", ns: "ns.acct", useTLS: true},
		{name: "explicit host port beats everything", o: connect.Options{Env: envMap(map[string]string{"TEMPORAL_ADDRESS": "env:2"}), ConfigFile: toml, HostPort: "127.0.0.1:7999"},
			host: "127.0.0.1:7999", ns: "default"},
		{name: "unknown profile", o: connect.Options{Env: envMap(nil), ConfigFile: toml, Profile: "nope"},
			host: "localhost:7233", ns: "default", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, ns, useTLS := connect.Describe(tt.o)
			assert.Equal(t, tt.host, host)
			assert.Equal(t, tt.ns, ns)
			assert.Equal(t, tt.useTLS, useTLS)
			_, err := connect.ClientOptions(tt.o)
			assert.Equal(t, tt.wantErr, err != nil, "ClientOptions error: %v", err)
			if err != nil {
				assert.NotContains(t, err.Error(), "secret-key")
			}
		})
	}
}

func TestClientOptionsCADataWithoutPath(t *testing.T) {
	p := newPKI(t)
	ca, err := os.ReadFile(p.caFile)
	require.NoError(t, err)
	opts, err := connect.ClientOptions(connect.Options{
		Env:        envMap(map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_DATA": string(ca)}),
		ConfigFile: noConfigFile(t),
	})
	require.NoError(t, err)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	require.NotNil(t, opts.ConnectionOptions.TLS.RootCAs)
	assert.True(t, opts.ConnectionOptions.TLS.RootCAs.Equal(p.pool))

	_, err = connect.ClientOptions(connect.Options{
		Env:        envMap(map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_DATA": "not pem"}),
		ConfigFile: noConfigFile(t),
	})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "PEM"), err.Error())
	assert.False(t, errors.Is(err, connect.ErrNotPermitted))
}
