package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
)

// maxRefreshMargin bounds how long before its expiry a token is replaced.
const maxRefreshMargin = time.Minute

// tokenCache holds the OAuth2 access tokens of one Client (one worker),
// keyed by token URL, client ID and scopes, so that every dataset of a
// client shares its token. Tokens live in memory only.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

// tokenEntry is one client's token; its mutex makes concurrent requests
// that find it expired wait for one fetch.
type tokenEntry struct {
	mu        sync.Mutex
	conf      *clientcredentials.Config // kept: it remembers the auth style that worked
	token     string
	refreshAt time.Time // zero: valid until the API refuses it
	fetches   int
}

// entry returns the entry of key, creating it.
func (tc *tokenCache) entry(key string) *tokenEntry {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.entries == nil {
		tc.entries = map[string]*tokenEntry{}
	}
	e := tc.entries[key]
	if e == nil {
		e = &tokenEntry{}
		tc.entries[key] = e
	}
	return e
}

// tokenKey is the cache key of a client: token URL, client ID, scopes.
func tokenKey(tokenURL, clientID string, scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return tokenURL + "\x00" + clientID + "\x00" + strings.Join(s, " ")
}

// oauthToken returns a valid access token for a's client, fetching one when
// the cache has none, it is due for refresh, or it is stale (the token the
// API just refused). The client ID and secret resolve for the token URL's
// host through the operator's bindings.
func (c *Client) oauthToken(ctx context.Context, a *Auth, t resolvedTimeouts, stale string) (string, *sferrors.Error) {
	tu, _ := url.Parse(a.TokenURL) // valid: checked by Validate
	host := secrets.URLHost(tu)
	id, err := c.secrets.Expand(a.ClientID, host)
	if err != nil {
		return "", refError("auth.client_id", a.TokenURL, err)
	}
	secret, err := c.secrets.Expand(a.ClientSecret, host)
	if err != nil {
		return "", refError("auth.client_secret", a.TokenURL, err)
	}
	e := c.tokens.entry(tokenKey(a.TokenURL, id, a.Scopes))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && e.token != stale && (e.refreshAt.IsZero() || c.now().Before(e.refreshAt)) {
		return e.token, nil
	}
	if e.conf == nil || e.conf.ClientID != id {
		e.conf = &clientcredentials.Config{TokenURL: a.TokenURL, ClientID: id, Scopes: slices.Clone(a.Scopes)}
	}
	e.conf.ClientSecret = secret
	return c.fetchToken(ctx, e, t)
}

// fetchToken asks the token endpoint for a new token (e.mu held). The
// request is bounded by the header timeout, redirects are not followed (the
// secret is in it) and it goes through the Client's transport.
func (c *Client) fetchToken(ctx context.Context, e *tokenEntry, t resolvedTimeouts) (string, *sferrors.Error) {
	hc := &http.Client{
		Transport:     c.hc.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, hc), t.header)
	defer cancel()
	start := time.Now()
	tok, err := e.conf.Token(tctx)
	e.fetches++
	if err != nil {
		e.token = ""
		return "", tokenError(ctx, tctx, e.conf.TokenURL, err, c.now())
	}
	e.token, e.refreshAt = tok.AccessToken, time.Time{}
	if !tok.Expiry.IsZero() {
		life := tok.Expiry.Sub(start)
		e.refreshAt = c.now().Add(life - min(maxRefreshMargin, life/10))
	}
	return e.token, nil
}

// refError is a credential reference that could not be resolved: invalid
// request when the operator did not bind it there (nothing was sent).
func refError(field, rawURL string, err error) *sferrors.Error {
	var se *secrets.Error
	if errors.As(err, &se) {
		return fetchFailure(sferrors.InvalidRequest, rawURL, fmt.Errorf("%s: %w", field, err))
	}
	return fetchFailure(sferrors.Unrecoverable, rawURL, fmt.Errorf("%s: %w", field, err))
}

// tokenError classifies a failed token request. The token endpoint's
// refusal of the client (400, 401, 403) is unrecoverable, like the API's
// 401; its 429 and 5xx follow the failure table; no message carries the
// body or a credential.
func tokenError(ctx, tctx context.Context, tokenURL string, err error, now time.Time) *sferrors.Error {
	var re *oauth2.RetrieveError
	var e *sferrors.Error
	switch {
	case ctx.Err() != nil:
		e = sferrors.Classify(ctx.Err())
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		e = &sferrors.Error{Class: sferrors.Transient, Err: errors.New("token endpoint: no answer within timeouts.header")}
	case errors.As(err, &re) && re.Response != nil:
		e = retrieveError(re, tokenURL, now)
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			e = sferrors.Classify(ue.Err)
		} else {
			e = &sferrors.Error{Class: sferrors.Unrecoverable, Err: fmt.Errorf("token endpoint: %w", err)}
		}
	}
	cp := *e
	cp.Op, cp.Method, cp.URL = opFetch, http.MethodPost, sferrors.Redact(tokenURL)
	if cp.Err != nil && !strings.HasPrefix(cp.Err.Error(), "token endpoint") {
		cp.Err = fmt.Errorf("token endpoint: %w", cp.Err)
	}
	return &cp
}

// retrieveError classifies the token endpoint's error answer.
func retrieveError(re *oauth2.RetrieveError, tokenURL string, now time.Time) *sferrors.Error {
	status := re.Response.StatusCode
	code := ""
	if re.ErrorCode != "" {
		code = " (" + re.ErrorCode + ")"
	}
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return &sferrors.Error{Class: sferrors.Unrecoverable, Status: status,
			Err: fmt.Errorf("token endpoint refused the client credentials: status %d%s", status, code)}
	}
	if e := sferrors.FromResponse(http.MethodPost, tokenURL, status, re.Response.Header, nil, now); e != nil {
		return e
	}
	return &sferrors.Error{Class: sferrors.Unrecoverable, Status: status, Err: fmt.Errorf("token endpoint answered status %d%s", status, code)}
}
