package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
)

// requireProblem loads content and wants a problem at line, dataset and
// field whose message holds text; the rendered error names all four.
func requireProblem(t *testing.T, content string, line int, dataset, field, text string) {
	t.Helper()
	path := writeConfig(t, content)
	_, err := Load(path)
	require.Error(t, err)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	for _, p := range cerr.Problems {
		if strings.Contains(p.Message, text) {
			assert.Equal(t, line, p.Line, "line of %q", text)
			assert.Equal(t, dataset, p.Dataset)
			assert.Equal(t, field, p.Field)
			assert.Contains(t, err.Error(), path)
			return
		}
	}
	t.Fatalf("no problem mentions %q in:\n%v", text, err)
}

func TestLoadAuthProblems(t *testing.T) {
	ds := func(auth string) string {
		return header + `  - id: orders
    source:
      url: https://api.example.com/orders
      key: id
      pagination: {type: page}
      auth:
` + auth
	}
	requireProblem(t, ds("        type: bearer\n        token: sk_live_123\n"), 10, "orders", "source.auth.token", "must be a single reference such as ${API_TOKEN}, not contain the secret")
	requireProblem(t, ds("        type: oauth2_client_credentials\n        client_id: app\n        client_secret: ${S}\n"), 8, "orders", "source.auth.token_url", "required for oauth2_client_credentials")
	requireProblem(t, ds("        type: oauth2_client_credentials\n        token_url: https://auth.example.com/token\n        client_id: app\n        client_secret: hunter2\n"), 12, "orders", "source.auth.client_secret", "must be a single reference")
	requireProblem(t, ds("        type: oauth2_client_credentials\n        token_url: https://auth.example.com/token?client_secret=x\n        client_id: app\n        client_secret: ${S}\n"), 10, "orders", "source.auth.token_url", `query parameter "client_secret" looks like a credential`)
	requireProblem(t, ds("        type: api_key_query\n        value: ${KEY}\n"), 8, "orders", "source.auth.param", "required for api_key_query")
	requireProblem(t, ds("        type: basic\n"), 9, "orders", "source.auth.type", `unknown authentication type "basic"`)
	requireProblem(t, ds("        type: bearer\n        token: ${T}\n        scopes: [a]\n"), 11, "orders", "source.auth.scopes", "not used by authentication type bearer")
	requireProblem(t, ds("        type: bearer\n        tokne: ${T}\n"), 10, "orders", "source.auth.tokne", `unknown field "tokne"`)
}

func TestLoadTimeoutsProblems(t *testing.T) {
	base := header + `  - id: orders
    source:
      url: https://api.example.com/orders
      key: id
      pagination: {type: page}
`
	requireProblem(t, base+"      timeout: 10s\n      timeouts: {total: 20s}\n", 9, "orders", "source.timeouts.total", "timeout is the older name of timeouts.total")
	requireProblem(t, base+"      timeouts:\n        idle: soon\n", 9, "orders", "source.timeouts.idle", "invalid duration")
}

func TestLoadAuthAndTimeouts(t *testing.T) {
	path := writeConfig(t, header+`  - id: orders
    source:
      url: https://api.example.com/orders
      key: id
      pagination: {type: page}
      timeouts: {header: 5s, idle: 2s, total: 3m}
      auth:
        type: oauth2_client_credentials
        token_url: https://auth.example.com/token
        client_id: ${CLIENT_ID}
        client_secret: ${CLIENT_SECRET}
        scopes: [read, write]
`)
	f, err := Load(path)
	require.NoError(t, err)
	o := f.Datasets[0].Source
	assert.Equal(t, &source.Auth{Type: source.AuthOAuth2ClientCredentials, TokenURL: "https://auth.example.com/token",
		ClientID: "${CLIENT_ID}", ClientSecret: "${CLIENT_SECRET}", Scopes: []string{"read", "write"}}, o.Auth)
	assert.Zero(t, o.Timeout, "timeouts.total set: no default for the older field")
	assert.Equal(t, source.Timeouts{Header: source.Duration(5e9), Idle: source.Duration(2e9), Total: source.Duration(180e9)}, o.Timeouts)
	assert.Equal(t, []string{"CLIENT_ID", "CLIENT_SECRET"}, f.EnvVars())
	assert.Equal(t, "api.example.com.CLIENT_ID.CLIENT_SECRET", f.Datasets[0].LimitKey())
}

// Datasets that send the same credentials to the same host share one key
// unless they set rate_limit.key; different credentials or hosts do not.
func TestSharedKeyByDefault(t *testing.T) {
	mk := func(id, url, hdr string, auth *source.Auth, key string) Dataset {
		d := Dataset{ID: id, Source: source.Config{URL: url, Auth: auth}, RateLimit: RateLimit{Key: key}}
		if hdr != "" {
			d.Source.Headers = map[string]string{"Authorization": hdr}
		}
		return d
	}
	bearer := &source.Auth{Type: source.AuthBearer, Token: "${TOKEN}"}
	a := mk("a", "https://API.example.com/a", "Bearer ${TOKEN}", nil, "")
	b := mk("b", "https://api.example.com/b?x=1", "", bearer, "")
	assert.Equal(t, "api.example.com.TOKEN", a.LimitKey())
	assert.Equal(t, a.LimitKey(), b.LimitKey(), "same credential, same host: one budget")
	assert.Equal(t, "api.example.com-8443.TOKEN", mk("c", "https://api.example.com:8443/c", "Bearer ${TOKEN}", nil, "").LimitKey())
	assert.Equal(t, "d", mk("d", "https://other.example.com/d", "", nil, "").LimitKey(), "no credential: the dataset's own")
	assert.Equal(t, "mine", mk("e", "https://api.example.com/e", "Bearer ${TOKEN}", nil, "mine").LimitKey(), "explicit key wins")
	assert.NotEqual(t, a.LimitKey(), mk("f", "https://api.example.com/f", "Bearer ${OTHER}", nil, "").LimitKey())
	long := mk("g", "https://"+strings.Repeat("h", 70)+".example.com/", "Bearer ${TOKEN}", nil, "")
	assert.Regexp(t, `^shared-[0-9a-f]{16}$`, long.LimitKey())
	assert.True(t, isSafeID(long.LimitKey()))
}

// Implicit sharing meets different declared limits: Load refuses, naming
// both datasets, the credential and both ways out.
func TestSharedKeyDifferentLimits(t *testing.T) {
	content := header + `  - id: orders
    source:
      url: https://api.example.com/orders
      headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
      key: id
      pagination: {type: page}
    rate_limit: {rps: 5}
  - id: customers
    source:
      url: https://api.example.com/customers
      auth: {type: bearer, token: "${SHOP_TOKEN}"}
      key: id
      pagination: {type: page}
    rate_limit: {rps: 10}
`
	requireProblem(t, content, 16, "customers", "rate_limit.rps",
		`dataset "customers" sends the same credentials (${SHOP_TOKEN}) to the same host as dataset "orders" (datasets[0], line 9), so they share one budget (rate-limit key "api.example.com.SHOP_TOKEN"), but it declares rps 10 where "orders" declares 5: declare the same rps, burst and global_rps, or give each dataset its own rate_limit.key`)
	// Separate keys keep separate budgets, and load.
	separate := strings.Replace(content, "{rps: 10}", "{rps: 10, key: customers}", 1)
	_, err := Load(writeConfig(t, separate))
	require.NoError(t, err)
}
