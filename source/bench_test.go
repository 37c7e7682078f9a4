package source

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/syncflow/syncflow/secrets"
)

// BenchmarkFetch measures one page of 500 records (about 100 KB) from an
// httptest server: request, body read, validation, record and key
// extraction.
func BenchmarkFetch(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":[`)
	for i := range 500 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"customer %d","email":"c%d@example.test","tags":["a","b"],"address":{"city":"Lyon","zip":"69001"},"total":%d.5}`, i, i, i, i*3)
	}
	sb.WriteString(`],"meta":{"next_cursor":"c500"}}`)
	body := []byte(sb.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	c := NewClient(WithSecrets(secrets.New(secrets.Bindings{"TOKEN": {"127.0.0.1"}}, func(string) (string, bool) { return "t0ken", true })))
	cfg := Config{
		URL:        srv.URL + "/orders",
		Headers:    map[string]string{"Authorization": "Bearer ${TOKEN}"},
		Records:    "data",
		Key:        "id",
		Pagination: Pagination{Type: PaginationCursor, Next: "meta.next_cursor", SizeParam: "limit", PageSize: 500},
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		page, err := c.Fetch(b.Context(), cfg, "c0")
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Records) != 500 || page.Next != "c500" {
			b.Fatalf("got %d records, next %q", len(page.Records), page.Next)
		}
	}
}
