package errors_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sferrors "github.com/syncflow/syncflow/errors"
)

// hdr builds a header from name, value pairs; a name may repeat.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fromResponseTests are the cases of TestFromResponse: status, headers, class and delay.
var fromResponseTests = []struct {
	name       string
	status     int
	h          http.Header
	want       sferrors.Class // "" means nil
	retryAfter time.Duration
}{
	// Successes.
	{"200", 200, nil, "", 0},
	{"204", 204, nil, "", 0},
	{"304", 304, nil, "", 0},
	{"200 with exhausted quota is still a page", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "30"), "", 0},
	// Transient.
	{"408", 408, nil, sferrors.Transient, 0},
	{"500", 500, nil, sferrors.Transient, 0},
	{"502", 502, nil, sferrors.Transient, 0},
	{"503", 503, nil, sferrors.Transient, 0},
	{"504", 504, nil, sferrors.Transient, 0},
	{"599", 599, nil, sferrors.Transient, 0},
	{"503 with garbage Retry-After", 503, hdr("Retry-After", "soon"), sferrors.Transient, 0},
	{"500 with Retry-After stays transient", 500, hdr("Retry-After", "5"), sferrors.Transient, 0},
	// Rate limited.
	{"429", 429, nil, sferrors.RateLimited, 0},
	{"429 with Retry-After", 429, hdr("Retry-After", "7"), sferrors.RateLimited, 7 * time.Second},
	{"429 with RateLimit t", 429, hdr("RateLimit", `"default";r=0;t=30`), sferrors.RateLimited, 30 * time.Second},
	{"503 with Retry-After", 503, hdr("Retry-After", "120"), sferrors.RateLimited, 2 * time.Minute},
	{"503 with HTTP-date Retry-After", 503, hdr("Date", "Fri, 01 May 2026 12:00:00 GMT", "Retry-After", "Fri, 01 May 2026 12:01:00 GMT"), sferrors.RateLimited, time.Minute},
	{"403 with X-RateLimit-Remaining 0", 403, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), sferrors.RateLimited, time.Minute},
	{"403 with lower-case x-ratelimit-remaining 0", 403, http.Header{"X-Ratelimit-Remaining": {"0"}}, sferrors.RateLimited, 0},
	{"403 with RateLimit r=0", 403, hdr("RateLimit", `"default";r=0;t=12`), sferrors.RateLimited, 12 * time.Second},
	{"403 with Retry-After", 403, hdr("Retry-After", "60"), sferrors.RateLimited, time.Minute},
	{"502 with exhausted quota", 502, hdr("RateLimit", `"default";r=0;t=5`), sferrors.RateLimited, 5 * time.Second},
	// Invalid request.
	{"400", 400, nil, sferrors.InvalidRequest, 0},
	{"404", 404, nil, sferrors.InvalidRequest, 0},
	{"405", 405, nil, sferrors.InvalidRequest, 0},
	{"410", 410, nil, sferrors.InvalidRequest, 0},
	{"422", 422, nil, sferrors.InvalidRequest, 0},
	{"501", 501, nil, sferrors.InvalidRequest, 0},
	{"418", 418, nil, sferrors.InvalidRequest, 0},
	{"404 with exhausted quota is still invalid", 404, hdr("X-RateLimit-Remaining", "0"), sferrors.InvalidRequest, 0},
	// Unrecoverable.
	{"401", 401, nil, sferrors.Unrecoverable, 0},
	{"403", 403, nil, sferrors.Unrecoverable, 0},
	{"403 with quota left", 403, hdr("X-RateLimit-Remaining", "10"), sferrors.Unrecoverable, 0},
	{"407", 407, nil, sferrors.Unrecoverable, 0},
	{"401 with exhausted quota is still unrecoverable", 401, hdr("X-RateLimit-Remaining", "0"), sferrors.Unrecoverable, 0},
	{"600", 600, nil, sferrors.Unrecoverable, 0},
	{"0", 0, nil, sferrors.Unrecoverable, 0},
}

func TestFromResponse(t *testing.T) {
	for _, tt := range fromResponseTests {
		t.Run(tt.name, func(t *testing.T) {
			got := sferrors.FromResponse("GET", "https://u:p@api.example.com/orders?page=2&api_key=s3cr3t", tt.status, tt.h, []byte("{\"error\":\"nope\"}\n"), now)
			if tt.want == "" {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tt.want, got.Class)
			assert.Equal(t, tt.retryAfter, got.RetryAfter)
			assert.Equal(t, sferrors.OpFetch, got.Op)
			assert.Equal(t, "GET", got.Method)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, "https://api.example.com/orders?page=2&api_key=REDACTED", got.URL)
			assert.Equal(t, `{"error":"nope"}`, got.Body)
			assert.NotContains(t, got.Error(), "s3cr3t")
			if tt.status != 0 {
				assert.Contains(t, got.Error(), "status")
			}
		})
	}
}

func TestFromResponseBodyExcerpt(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string // "" means: check only the invariants
	}{
		{"empty", nil, ""},
		{"control characters dropped, breaks become spaces", []byte("line1\r\n\tline2\x00\x07\x1b[31m"), "line1 line2[31m"},
		{"invalid utf-8 dropped", []byte("ok\xff\xfe done"), "ok done"},
		{"multi-byte kept", []byte("café ✓"), "café ✓"},
		{"long ascii", []byte(strings.Repeat("a", 5000)), ""},
		{"long multi-byte", []byte(strings.Repeat("✓", 5000)), ""},
		{"long with garbage", []byte(strings.Repeat("é\xff\x01", 5000)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sferrors.FromResponse("GET", "https://h/", 400, nil, tt.body, now)
			require.NotNil(t, e)
			assert.LessOrEqual(t, len(e.Body), sferrors.MaxBodyExcerpt)
			assert.True(t, utf8.ValidString(e.Body))
			for _, r := range e.Body {
				assert.False(t, unicode.IsControl(r), "control character %U", r)
			}
			if tt.want != "" || len(tt.body) == 0 {
				assert.Equal(t, tt.want, e.Body)
			}
			if len(tt.body) > sferrors.MaxBodyExcerpt {
				assert.True(t, strings.HasSuffix(e.Body, "…"), "a cut is marked")
				assert.Greater(t, len(e.Body), sferrors.MaxBodyExcerpt-8, "the budget is used")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://api.example.com/v1/orders", "https://api.example.com/v1/orders"},
		{"https://alice:hunter2@api.example.com/x", "https://api.example.com/x"},
		{"https://api.example.com/x?page=2&token=abc&limit=10", "https://api.example.com/x?page=2&token=REDACTED&limit=10"},
		{"https://h/?access_token=a&api_key=b&apikey=c&key=d&secret=e", "https://h/?access_token=REDACTED&api_key=REDACTED&apikey=REDACTED&key=REDACTED&secret=REDACTED"},
		{"https://h/?password=a&passwd=b&signature=c&sig=d&auth=e&client_secret=f", "https://h/?password=REDACTED&passwd=REDACTED&signature=REDACTED&sig=REDACTED&auth=REDACTED&client_secret=REDACTED"},
		{"https://h/?API_KEY=a&Token=b&X-Amz-Signature=c", "https://h/?API_KEY=REDACTED&Token=REDACTED&X-Amz-Signature=REDACTED"},
		{"https://h/?refreshToken=a&my_secret_value=b&db_password=c&pageToken=d", "https://h/?refreshToken=REDACTED&my_secret_value=REDACTED&db_password=REDACTED&pageToken=REDACTED"},
		{"https://h/?to%6Ben=a&q=x%20y", "https://h/?to%6Ben=REDACTED&q=x%20y"},
		{"https://h/?token&keyboard=qwerty&monkey=1", "https://h/?token&keyboard=qwerty&monkey=1"},
		{"https://h/?token=a&token=b", "https://h/?token=REDACTED&token=REDACTED"},
		{"https://h/cb#access_token=abc&state=xyz", "https://h/cb#access_token=REDACTED&state=xyz"},
		{"https://h/page#section-2", "https://h/page#section-2"},
		{"/relative/path?key=k", "/relative/path?key=REDACTED"},
		{"", ""},
		{"http://[::1", "<unparseable url>"},
		{"https://h/\x7f", "<unparseable url>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := sferrors.Redact(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, sferrors.Redact(got), "idempotent")
		})
	}
}
