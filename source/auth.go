package source

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
)

// Authentication types of Auth.Type.
const (
	// AuthBearer sends Authorization: Bearer <Token>, Token a ${NAME}
	// reference resolved for the request's host.
	AuthBearer = "bearer"
	// AuthOAuth2ClientCredentials fetches an access token from TokenURL with
	// the OAuth2 client-credentials grant and sends it as a bearer token.
	AuthOAuth2ClientCredentials = "oauth2_client_credentials"
	// AuthAPIKeyQuery adds the query parameter Param=Value to each request,
	// at request time only, so the key never enters a cursor or a URL in
	// workflow history.
	AuthAPIKeyQuery = "api_key_query"
)

var authTypes = []string{AuthBearer, AuthOAuth2ClientCredentials, AuthAPIKeyQuery}

// Auth is how a dataset's requests authenticate (ARCHITECTURE.md §Data flow,
// "Secret binding", "Authentication"). It holds references, never secrets:
// Token, ClientSecret and Value are ${NAME} references the worker resolves
// through the operator's bindings, for the dataset URL's host (Token, Value)
// or the token URL's host (ClientID, ClientSecret).
type Auth struct {
	Type string `json:"type" yaml:"type"`
	// Token is the bearer token (bearer).
	Token string `json:"token,omitempty" yaml:"token,omitempty"`
	// TokenURL is the token endpoint (oauth2_client_credentials).
	TokenURL string `json:"token_url,omitempty" yaml:"token_url,omitempty"`
	// ClientID may be literal or a reference (oauth2_client_credentials).
	ClientID string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	// ClientSecret is a reference (oauth2_client_credentials).
	ClientSecret string `json:"client_secret,omitempty" yaml:"client_secret,omitempty"`
	// Scopes are requested with the token (oauth2_client_credentials).
	Scopes []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
	// Param is the query parameter of the key (api_key_query).
	Param string `json:"param,omitempty" yaml:"param,omitempty"`
	// Value is the key, a reference (api_key_query).
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
}

// Refs returns the ${NAME} names a's fields use, in field order, with
// duplicates: what a dataset's authentication sends.
func (a *Auth) Refs() []string {
	if a == nil {
		return nil
	}
	var names []string
	for _, v := range []string{a.Token, a.ClientID, a.ClientSecret, a.Value} {
		names = append(names, secrets.Refs(v)...)
	}
	return names
}

// TokenHostRefs returns the names resolved for the token URL's host (the
// client ID's and secret's), and that host as bindings hold it ("" when a
// has no valid token URL).
func (a *Auth) TokenHostRefs() (host string, names []string) {
	if a == nil || a.Type != AuthOAuth2ClientCredentials {
		return "", nil
	}
	u, err := url.Parse(a.TokenURL)
	if err != nil || u.Host == "" {
		return "", nil
	}
	host, err = secrets.Host(u.Host)
	if err != nil {
		return "", nil
	}
	return host, append(secrets.Refs(a.ClientID), secrets.Refs(a.ClientSecret)...)
}

// APIHostRefs returns the names resolved for the dataset URL's host (the
// bearer token's, the API key's).
func (a *Auth) APIHostRefs() []string {
	if a == nil {
		return nil
	}
	return append(secrets.Refs(a.Token), secrets.Refs(a.Value)...)
}

// checkAuth checks the auth block: a known type, the fields it needs and no
// others, each credential a single ${NAME} reference (the value itself is
// never written in a configuration: it would enter workflow history).
func (v *ValidationError) checkAuth(a *Auth, rawURL string) {
	if a == nil {
		return
	}
	switch a.Type {
	case AuthBearer:
		v.needRef("auth.token", a.Token)
		v.unused(a.Type, map[string]bool{"token_url": a.TokenURL != "", "client_id": a.ClientID != "", "client_secret": a.ClientSecret != "", "scopes": len(a.Scopes) > 0, "param": a.Param != "", "value": a.Value != ""})
	case AuthOAuth2ClientCredentials:
		v.checkTokenURL(a.TokenURL)
		if a.ClientID == "" {
			v.add("auth.client_id", "required for %s", a.Type)
		} else if err := checkHeaderValue(a.ClientID); err != nil {
			v.add("auth.client_id", "%v", err)
		}
		v.needRef("auth.client_secret", a.ClientSecret)
		for i, s := range a.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
				v.add(fmt.Sprintf("auth.scopes[%d]", i), "a scope is a non-empty word without spaces, quotes or backslashes")
			}
		}
		v.unused(a.Type, map[string]bool{"token": a.Token != "", "param": a.Param != "", "value": a.Value != ""})
	case AuthAPIKeyQuery:
		v.checkKeyParam(a.Param, rawURL)
		v.needRef("auth.value", a.Value)
		v.unused(a.Type, map[string]bool{"token": a.Token != "", "token_url": a.TokenURL != "", "client_id": a.ClientID != "", "client_secret": a.ClientSecret != "", "scopes": len(a.Scopes) > 0})
	case "":
		v.add("auth.type", "missing authentication type (want one of %s)", strings.Join(authTypes, ", "))
	default:
		v.add("auth.type", "unknown authentication type %q (want one of %s)", a.Type, strings.Join(authTypes, ", "))
	}
}

// needRef wants value to be exactly one ${NAME} reference.
func (v *ValidationError) needRef(field, value string) {
	refs := secrets.Refs(value)
	switch {
	case value == "":
		v.add(field, "required: a reference such as ${API_TOKEN} to a variable of the worker's environment")
	case len(refs) != 1 || value != "${"+refs[0]+"}":
		v.add(field, "must be a single reference such as ${API_TOKEN}, not contain the secret (the worker resolves it; a value here would enter workflow history)")
	}
}

// unused reports the fields set that typ does not use, in name order.
func (v *ValidationError) unused(typ string, set map[string]bool) {
	names := make([]string, 0, len(set))
	for name, ok := range set {
		if ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		v.add("auth."+name, "not used by authentication type %s", typ)
	}
}

// checkTokenURL wants an absolute http or https URL with a host and no
// reference or credential in it.
func (v *ValidationError) checkTokenURL(raw string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		v.add("auth.token_url", "required for %s", AuthOAuth2ClientCredentials)
	case strings.Contains(raw, "${"):
		v.add("auth.token_url", "references are not expanded in a URL (it enters workflow history)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add("auth.token_url", "invalid URL %q (want an absolute http or https URL with a host)", sferrors.Redact(raw))
	case u.User != nil:
		v.add("auth.token_url", "must not carry user information: the client ID and secret go in client_id and client_secret")
	}
}

// checkKeyParam wants a query parameter name the dataset's URL does not
// already set.
func (v *ValidationError) checkKeyParam(param, rawURL string) {
	if param == "" {
		v.add("auth.param", "required for %s: the query parameter that carries the key", AuthAPIKeyQuery)
		return
	}
	if strings.ContainsAny(param, "&=#?% ") {
		v.add("auth.param", "invalid query parameter name %q", param)
		return
	}
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has(param) {
		v.add("auth.param", "the url already sets query parameter %q", param)
	}
}
