package codec

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// EnvToken holds the codec server's bearer token (the worker reads it; a
// token in a flag would show in process lists).
const EnvToken = "SYNCFLOW_CODEC_TOKEN"

// maxRequestBody bounds a codec request: a batch's payloads are at most a
// few MB (ARCHITECTURE.md §Data flow).
const maxRequestBody = 16 << 20

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Origins are the Web UI origins (scheme://host:port) a browser may
	// call the codec from; a request with any other Origin header is
	// refused with 403. Requests without an Origin (the temporal CLI,
	// programs) are not browser requests and are served.
	Origins []string
	// Token, when set, must come as "Authorization: Bearer TOKEN" on every
	// request but CORS preflights (a browser sends no credentials on
	// those, and they decode nothing); others get 401.
	Token string
}

// Handler serves Temporal's remote codec protocol for c: POST /encode and
// POST /decode with a JSON Payloads body (the Web UI's codec endpoint and
// `temporal --codec-endpoint`), with CORS for o.Origins and o.Token checked.
func (c *Codec) Handler(o HandlerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	origins := slices.Clone(o.Origins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !slices.Contains(origins, origin) {
				http.Error(w, "codec: origin "+origin+" is not allowed (the worker's --codec-origin)", http.StatusForbidden)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && origin != "" {
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o.Token != "" && !bearerMatches(r.Header.Get("Authorization"), o.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncflow codec"`)
			http.Error(w, "codec: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || (r.URL.Path != "/encode" && r.URL.Path != "/decode") {
			http.Error(w, "codec: POST /encode or /decode", http.StatusNotFound)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		inner.ServeHTTP(w, r)
	})
}

// bearerMatches compares an Authorization header with "Bearer token" in
// constant time.
func bearerMatches(header, token string) bool {
	const prefix = "bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(header[len(prefix):])), []byte(token)) == 1
}

// ListenAddr is the address to listen on for a codec address as given:
// a bare port (":8234" or "8234") means localhost, so that the codec is
// reachable from other hosts only when an operator names their interface.
func ListenAddr(addr string) string {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// UIOrigins are the browser origins of a Web UI at address
// (http://127.0.0.1:PORT, as internal/devserver reports it): as given and,
// for a loopback address, as localhost. "" gives none.
func UIOrigins(address string) []string {
	u, err := url.Parse(address)
	if address == "" || err != nil || u.Host == "" {
		return nil
	}
	out := []string{u.Scheme + "://" + u.Host}
	if h := u.Hostname(); h == "127.0.0.1" || h == "::1" {
		out = append(out, u.Scheme+"://"+net.JoinHostPort("localhost", u.Port()))
	}
	return out
}
