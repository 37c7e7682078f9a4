package hints_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/syncflow/syncflow/ratelimit/hints"
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

func TestParseRetryAfter(t *testing.T) {
	date := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC) // Wed, 21 Oct 2015 07:28:00 GMT
	tests := []struct {
		name string
		v    string
		want time.Duration
		ok   bool
	}{
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"leading zeros", "007", 7 * time.Second, true},
		{"surrounding spaces", "  5\t", 5 * time.Second, true},
		{"decimal whole", "2.0", 2 * time.Second, true},
		{"decimal half", "1.5", 1500 * time.Millisecond, true},
		{"decimal rounds up to the millisecond", "0.0001", time.Millisecond, true},
		{"decimal rounds up past the ninth digit", "1.0000000001", 1001 * time.Millisecond, true},
		{"trailing point", "3.", 3 * time.Second, true},
		{"huge seconds clamped", "99999999999999999999999999", time.Hour, true},
		{"just over the cap clamped", "3601", time.Hour, true},
		{"IMF-fixdate", "Wed, 21 Oct 2015 07:28:30 GMT", 30 * time.Second, true},
		{"RFC 850", "Wednesday, 21-Oct-15 07:29:00 GMT", time.Minute, true},
		{"asctime", "Wed Oct 21 07:28:10 2015", 10 * time.Second, true},
		{"date now", "Wed, 21 Oct 2015 07:28:00 GMT", 0, true},
		{"past date means now", "Wed, 21 Oct 2015 07:00:00 GMT", 0, true},
		{"far future date clamped", "Fri, 31 Dec 9999 23:59:59 GMT", time.Hour, true},
		{"empty", "", 0, false},
		{"blank", "   ", 0, false},
		{"negative", "-5", 0, false},
		{"negative decimal", "-0.5", 0, false},
		{"plus sign", "+5", 0, false},
		{"unit", "5s", 0, false},
		{"exponent", "1e3", 0, false},
		{"hex", "0x10", 0, false},
		{"leading point", ".5", 0, false},
		{"infinity", "Infinity", 0, false},
		{"nan", "NaN", 0, false},
		{"two values", "5, 10", 0, false},
		{"garbage", "soon", 0, false},
		{"bad date", "Wed, 32 Oct 2015 07:28:00 GMT", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hints.ParseRetryAfter(tt.v, date)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRetryAfterRespectsMaxHint(t *testing.T) {
	old := hints.MaxHint
	t.Cleanup(func() { hints.MaxHint = old })
	tests := []struct {
		max  time.Duration
		v    string
		want time.Duration
	}{
		{10 * time.Second, "60", 10 * time.Second},
		{10 * time.Second, "5", 5 * time.Second},
		{0, "5", 0},
		{-time.Second, "5", 0},
	}
	for _, tt := range tests {
		hints.MaxHint = tt.max
		got, ok := hints.ParseRetryAfter(tt.v, now)
		assert.True(t, ok)
		assert.Equal(t, tt.want, got, "MaxHint %v, value %q", tt.max, tt.v)
	}
}

func TestResponseDate(t *testing.T) {
	server := time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Time
	}{
		{"none", nil, now},
		{"valid", hdr("Date", "Fri, 01 May 2026 11:00:00 GMT"), server},
		{"garbage", hdr("Date", "yesterday"), now},
		{"first valid of duplicates", hdr("Date", "yesterday", "Date", "Fri, 01 May 2026 11:00:00 GMT"), server},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.True(t, tt.want.Equal(hints.ResponseDate(tt.h, now)))
		})
	}
}

// epoch is now as a Unix time, for X-RateLimit-Reset epochs.
var epoch = now.Unix()

// parseQuotaTests are the cases of TestParseQuota.
var parseQuotaTests = []struct {
	name string
	h    http.Header
	want hints.Quota
}{
	{"none", nil, hints.Quota{}},
	{"IETF both fields", hdr("RateLimit", `"default";r=50;t=30`, "RateLimit-Policy", `"default";q=100;w=60`),
		hints.Quota{Known: true, Limit: 100, Remaining: 50, Reset: 30 * time.Second, Window: time.Minute}},
	{"IETF token name and spaces", hdr("RateLimit", `default; r=0; t=5`),
		hints.Quota{Known: true, Remaining: 0, Reset: 5 * time.Second}},
	{"IETF r without t", hdr("RateLimit", `"x";r=3`), hints.Quota{Known: true, Remaining: 3}},
	{"IETF first member counts", hdr("RateLimit", `"burst";r=5;t=1, "day";r=0;t=3000`),
		hints.Quota{Known: true, Remaining: 5, Reset: time.Second}},
	{"IETF policy matched by name", hdr("RateLimit", `"day";r=10;t=20`, "RateLimit-Policy", `"burst";q=5;w=1, "day";q=1000;w=86400`),
		hints.Quota{Known: true, Limit: 1000, Remaining: 10, Reset: 20 * time.Second, Window: 24 * time.Hour}},
	{"IETF policy falls back to first", hdr("RateLimit-Policy", `"a";q=5;w=1;pk=:cHsdsRa894==:, "b";q=7`),
		hints.Quota{Limit: 5, Window: time.Second}},
	{"IETF extra parameters ignored", hdr("RateLimit", `"default";r=9;t=2;pk=:cHsdsRa894==:;foo=?1;bar="x"`),
		hints.Quota{Known: true, Remaining: 9, Reset: 2 * time.Second}},
	{"IETF t clamped", hdr("RateLimit", `"default";r=0;t=999999`), hints.Quota{Known: true, Reset: time.Hour}},
	{"IETF duplicated: first valid", hdr("RateLimit", `"default";r=oops`, "RateLimit", `"default";r=4;t=8`, "RateLimit", `"default";r=1;t=1`),
		hints.Quota{Known: true, Remaining: 4, Reset: 8 * time.Second}},
	{"IETF missing r", hdr("RateLimit", `"default";t=8`), hints.Quota{}},
	{"IETF negative r", hdr("RateLimit", `"default";r=-1;t=8`), hints.Quota{}},
	{"IETF negative t", hdr("RateLimit", `"default";r=1;t=-8`), hints.Quota{}},
	{"IETF unterminated string", hdr("RateLimit", `"default;r=1;t=8`), hints.Quota{}},
	{"IETF trailing comma", hdr("RateLimit", `"default";r=1;t=8,`), hints.Quota{}},
	{"IETF upper-case key", hdr("RateLimit", `"default";R=1`), hints.Quota{}},
	{"IETF integer item", hdr("RateLimit", `5;r=1`), hints.Quota{}},
	{"IETF inner list", hdr("RateLimit", `("a" "b");r=1`), hints.Quota{}},
	{"IETF old dictionary syntax", hdr("RateLimit", `limit=100, remaining=50, reset=5`), hints.Quota{}},
	{"IETF garbage", hdr("RateLimit", `!!!`), hints.Quota{}},
	{"IETF policy missing q", hdr("RateLimit-Policy", `"default";w=60`), hints.Quota{}},
	{"X-RateLimit delta reset", hdr("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", "90"),
		hints.Quota{Known: true, Limit: 5000, Remaining: 4999, Reset: 90 * time.Second}},
	{"X-RateLimit epoch reset", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", itoa(epoch+120)),
		hints.Quota{Known: true, Reset: 2 * time.Minute}},
	{"X-RateLimit epoch reset against the Date header", hdr("Date", "Fri, 01 May 2026 11:59:00 GMT", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", itoa(epoch+120)),
		hints.Quota{Known: true, Reset: 3 * time.Minute}},
	{"X-RateLimit epoch in milliseconds", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", itoa(epoch*1000+1500)),
		hints.Quota{Known: true, Reset: 1500 * time.Millisecond}},
	{"X-RateLimit past epoch", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", itoa(epoch-100)),
		hints.Quota{Known: true, Reset: 0}},
	{"X-RateLimit far epoch clamped", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", itoa(epoch+86400)),
		hints.Quota{Known: true, Reset: time.Hour}},
	{"X-RateLimit garbage ignored", hdr("X-RateLimit-Limit", "lots", "X-RateLimit-Remaining", "-1", "X-RateLimit-Reset", "soon"), hints.Quota{}},
	{"X-RateLimit duplicated: first valid", hdr("X-RateLimit-Remaining", "n/a", "X-RateLimit-Remaining", "7", "X-RateLimit-Remaining", "3"),
		hints.Quota{Known: true, Remaining: 7}},
	{"X-RateLimit old draft list syntax", hdr("X-RateLimit-Limit", "100, 100;w=60"), hints.Quota{Limit: 100}},
	{"draft-06 names", hdr("RateLimit-Limit", "10", "RateLimit-Remaining", "2", "RateLimit-Reset", "4"),
		hints.Quota{Known: true, Limit: 10, Remaining: 2, Reset: 4 * time.Second}},
	{"IETF wins over X-RateLimit", hdr("RateLimit", `"d";r=1;t=2`, "X-RateLimit-Remaining", "99", "X-RateLimit-Reset", "50", "X-RateLimit-Limit", "100"),
		hints.Quota{Known: true, Limit: 100, Remaining: 1, Reset: 2 * time.Second}},
}

func TestParseQuota(t *testing.T) {
	for _, tt := range parseQuotaTests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, hints.ParseQuota(tt.h, now))
		})
	}
}

func TestRateLimitDelay(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"nothing", nil, 0, false},
		{"Retry-After seconds", hdr("Retry-After", "10"), 10 * time.Second, true},
		{"Retry-After date against Date", hdr("Date", "Fri, 01 May 2026 10:00:00 GMT", "Retry-After", "Fri, 01 May 2026 10:00:45 GMT"), 45 * time.Second, true},
		{"Retry-After past date", hdr("Retry-After", "Fri, 01 May 2026 11:00:00 GMT"), 0, true},
		{"Retry-After duplicated: first valid", hdr("Retry-After", "later", "Retry-After", "3", "Retry-After", "9"), 3 * time.Second, true},
		{"Retry-After wins over RateLimit", hdr("Retry-After", "1", "RateLimit", `"d";r=0;t=50`), time.Second, true},
		{"invalid Retry-After falls back to RateLimit", hdr("Retry-After", "-1", "RateLimit", `"d";r=0;t=50`), 50 * time.Second, true},
		{"RateLimit t only when r=0", hdr("RateLimit", `"d";r=3;t=50`), 0, false},
		{"RateLimit r=0 without t", hdr("RateLimit", `"d";r=0`), 0, false},
		{"RateLimit wins over X-RateLimit", hdr("RateLimit", `"d";r=0;t=50`, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "7"), 50 * time.Second, true},
		{"X-RateLimit-Reset when remaining 0", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "7"), 7 * time.Second, true},
		{"X-RateLimit-Reset ignored when remaining > 0", hdr("X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "7"), 0, false},
		{"X-RateLimit-Reset alone", hdr("X-RateLimit-Reset", "7"), 0, false},
		{"huge Retry-After clamped", hdr("Retry-After", "1000000"), time.Hour, true},
		{"Retry-After duplicated, none valid", hdr("Retry-After", "soon", "Retry-After", "-3"), 0, false},
		{"non-numeric Retry-After falls back to X-RateLimit", hdr("Retry-After", "later", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "7"), 7 * time.Second, true},
		{"X-RateLimit-Reset negative", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "-7"), 0, false},
		{"X-RateLimit-Reset huge clamped", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "99999999999999999999"), time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hints.RateLimitDelay(tt.h, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"none", nil, 0, false},
		{"seconds", hdr("Retry-After", "10"), 10 * time.Second, true},
		{"date against Date", hdr("Date", "Fri, 01 May 2026 10:00:00 GMT", "Retry-After", "Fri, 01 May 2026 10:00:45 GMT"), 45 * time.Second, true},
		{"date against now without Date", hdr("Retry-After", "Fri, 01 May 2026 12:00:30 GMT"), 30 * time.Second, true},
		{"first valid of duplicates", hdr("Retry-After", "later", "Retry-After", "3"), 3 * time.Second, true},
		{"none valid", hdr("Retry-After", "soon"), 0, false},
		{"quota headers are not Retry-After", hdr("RateLimit", `"d";r=0;t=50`), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hints.RetryAfter(tt.h, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExhausted(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"nothing", nil, false},
		{"RateLimit r=0", hdr("RateLimit", `"d";r=0;t=5`), true},
		{"RateLimit r>0", hdr("RateLimit", `"d";r=3;t=5`), false},
		{"X-RateLimit-Remaining 0", hdr("X-RateLimit-Remaining", "0"), true},
		{"RateLimit-Remaining 0", hdr("RateLimit-Remaining", "0"), true},
		{"X-RateLimit-Remaining left", hdr("X-RateLimit-Remaining", "10"), false},
		{"either source suffices", hdr("RateLimit", `"d";r=5`, "X-RateLimit-Remaining", "0"), true},
		{"malformed RateLimit ignored", hdr("RateLimit", `"d";r=-1`), false},
		{"Retry-After alone is not a quota", hdr("Retry-After", "5"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, hints.Exhausted(tt.h))
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
