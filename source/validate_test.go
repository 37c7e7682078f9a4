package source

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		URL:        "https://api.test/v1/orders?status=open",
		Headers:    map[string]string{"Authorization": "Bearer ${ORDERS_TOKEN}"},
		Records:    "data",
		Key:        "id",
		Pagination: Pagination{Type: PaginationCursor, Param: "after", Next: "meta.next_cursor", SizeParam: "limit", PageSize: 100},
		Timeout:    Duration(10 * time.Second),
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []FieldError
	}{
		{"valid", func(c *Config) {}, nil},
		{"valid page without size", func(c *Config) {
			c.Pagination = Pagination{Type: PaginationPage, Total: "meta.total"}
		}, nil},
		{"valid link header", func(c *Config) { c.Pagination = Pagination{Type: PaginationLinkHeader} }, nil},
		{"missing url", func(c *Config) { c.URL = "" }, []FieldError{{"url", "missing source URL"}}},
		{"relative url", func(c *Config) { c.URL = "/v1/orders" }, []FieldError{{"url", `invalid URL "/v1/orders" (want an absolute http or https URL with a host)`}}},
		{"ftp url", func(c *Config) { c.URL = "ftp://api.test/x" }, []FieldError{{"url", `invalid URL "ftp://api.test/x" (want an absolute http or https URL with a host)`}}},
		{"url secret redacted", func(c *Config) { c.URL = "file:///x?api_key=hunter2" }, []FieldError{{"url", `invalid URL "file:///x?api_key=REDACTED" (want an absolute http or https URL with a host)`}}},
		{"unknown type", func(c *Config) { c.Pagination.Type = "foo" }, []FieldError{{"pagination.type", `unknown pagination type "foo" (want one of cursor, next_url, link_header, page, offset)`}}},
		{"missing type", func(c *Config) { c.Pagination.Type = "" }, []FieldError{{"pagination.type", `missing pagination type (want one of cursor, next_url, link_header, page, offset)`}}},
		{"missing key", func(c *Config) { c.Key = "" }, []FieldError{{"key", "missing record key path"}}},
		{"missing next", func(c *Config) { c.Pagination.Next = "" }, []FieldError{{"pagination.next", "required for cursor pagination"}}},
		{"next_url without next", func(c *Config) {
			c.Pagination = Pagination{Type: PaginationNextURL}
		}, []FieldError{{"pagination.next", "required for next_url pagination"}}},
		{"bad paths", func(c *Config) { c.Records, c.Key, c.Pagination.Next = "data..items", ".id", "meta." }, []FieldError{
			{"records", `invalid path "data..items" (empty segment)`},
			{"key", `invalid path ".id" (empty segment)`},
			{"pagination.next", `invalid path "meta." (empty segment)`},
		}},
		{"negative numbers", func(c *Config) { c.Pagination.PageSize, c.Timeout, c.MaxBytes = -1, Duration(-time.Second), -5 }, []FieldError{
			{"pagination.page_size", "negative page size -1"},
			{"timeout", "negative timeout -1s"},
			{"max_body_bytes", "negative size cap -5"},
		}},
		{"headers", func(c *Config) {
			c.Headers = map[string]string{"Bad Name": "x", "X-Ok": "${ok_1}", "X-Open": "Bearer ${TOKEN", "X-Var": "${1X}", "X-Nl": "a\nb"}
		}, []FieldError{
			{"headers.Bad Name", `invalid header name "Bad Name"`},
			{"headers.X-Nl", "header value contains a control character"},
			{"headers.X-Open", "unterminated ${ in header value"},
			{"headers.X-Var", `invalid environment variable name "1X" in header value`},
		}},
		{"unused fields", func(c *Config) {
			c.Pagination = Pagination{Type: PaginationLinkHeader, Param: "p", Next: "n", Total: "t", SizeParam: "per_page"}
		}, []FieldError{
			{"pagination.next", "not used by link_header pagination"},
			{"pagination.total", "not used by link_header pagination"},
			{"pagination.param", "not used by link_header pagination"},
			{"pagination.size_param", "set but pagination.page_size is 0"},
		}},
		{"same params", func(c *Config) {
			c.Pagination = Pagination{Type: PaginationOffset, Param: "limit", PageSize: 10}
		}, []FieldError{{"pagination.size_param", `same query parameter "limit" as pagination.param`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Problems, tt.want) {
				t.Errorf("Validate() problems:\n got  %q\n want %q", ve.Problems, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want[0].Field+": "+tt.want[0].Message) {
				t.Errorf("Error() = %q, missing the first problem", err)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TOKEN": "t0k", "USER": "ann", "EMPTY": "", "BAD": "x\r\nInjected: 1"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"plain", "plain", ""},
		{"Bearer ${TOKEN}", "Bearer t0k", ""},
		{"${USER}:${TOKEN}!", "ann:t0k!", ""},
		{"a${EMPTY}b", "ab", ""},
		{"cost $5 and $", "cost $5 and $", ""},
		{"Bearer ${MISSING}", "", "environment variable MISSING is not set"},
		{"${BAD}", "", "environment variable BAD holds a control character, not allowed in a header"},
		{"${TOKEN", "", "unterminated ${ in header value"},
		{"${}", "", `invalid environment variable name "" in header value`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
