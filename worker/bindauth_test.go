package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
)

// The worker's --config binds an auth block's names like a header's: the
// bearer token and API key to the dataset's host, an OAuth2 client's ID and
// secret to the token URL's host (and not to the API's).
func TestBindAuth(t *testing.T) {
	b := secrets.Bindings{}
	bindAuth(b, source.Config{URL: "https://api.example.com/v1/x", Auth: &source.Auth{Type: source.AuthBearer, Token: "${API_TOKEN}"}})
	bindAuth(b, source.Config{URL: "https://maps.example.com/x", Auth: &source.Auth{Type: source.AuthAPIKeyQuery, Param: "key", Value: "${MAPS_KEY}"}})
	bindAuth(b, source.Config{URL: "https://crm.example.com/x", Auth: &source.Auth{Type: source.AuthOAuth2ClientCredentials,
		TokenURL: "https://Auth.example.com:8443/oauth/token", ClientID: "${CRM_ID}", ClientSecret: "${CRM_SECRET}"}})
	assert.Equal(t, secrets.Bindings{
		"API_TOKEN":  {"api.example.com"},
		"MAPS_KEY":   {"maps.example.com"},
		"CRM_ID":     {"auth.example.com:8443"},
		"CRM_SECRET": {"auth.example.com:8443"},
	}, b)
}
