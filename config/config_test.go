package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
)

// writeConfig writes content to dir/orders.yaml and returns the path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// header is lines 1-2 of every failing example, so that line numbers below
// are easy to count.
const header = "sink: sqlite://x.db\ndatasets:\n"

// okDataset is a valid dataset entry (5 lines + pagination), used next to
// the broken ones.
const okDataset = `  - id: customers
    source:
      url: http://api.example.com/customers
      key: id
      pagination: {type: link_header}
`

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Problem // File is filled in by the test
		text    string  // a substring the message must contain
	}{
		{
			name: "unknown pagination type",
			content: header + okDataset + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination:
        type: pages
`,
			want: Problem{Line: 13, Entry: "datasets[1]", Dataset: "orders", Field: "source.pagination.type"},
			text: `unknown pagination type "pages" (want one of cursor, next_url, link_header, page, offset)`,
		},
		{
			name: "missing key path",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      pagination: {type: page}
`,
			want: Problem{Line: 4, Entry: "datasets[0]", Dataset: "orders", Field: "source.key"},
			text: "missing record key path",
		},
		{
			name: "invalid URL scheme",
			content: header + `  - id: orders
    source:
      url: ftp://api.example.com/orders
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "source.url"},
			text: `invalid URL "ftp://api.example.com/orders" (want an absolute http or https URL with a host)`,
		},
		{
			name: "invalid URL no host",
			content: header + `  - id: orders
    source:
      url: http:///orders
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "source.url"},
			text: "want an absolute http or https URL with a host",
		},
		{
			name: "next path required for cursor",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination:
        type: cursor
`,
			want: Problem{Line: 7, Entry: "datasets[0]", Dataset: "orders", Field: "source.pagination.next"},
			text: "required for cursor pagination",
		},
		{
			name: "negative page size",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: offset, page_size: -5}
`,
			want: Problem{Line: 7, Entry: "datasets[0]", Dataset: "orders", Field: "source.pagination.page_size"},
			text: "negative page size -5",
		},
		{
			name: "concurrency of a cursor source",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: cursor, next: meta.next}
      concurrency: 4
`,
			want: Problem{Line: 8, Entry: "datasets[0]", Dataset: "orders", Field: "source.concurrency"},
			text: "cursor pagination fetches one page at a time",
		},
		{
			name: "negative timeout",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: offset}
      timeout: -5s
`,
			want: Problem{Line: 8, Entry: "datasets[0]", Dataset: "orders", Field: "source.timeout"},
			text: "negative duration",
		},
		{
			name:    "duplicate dataset id",
			content: header + okDataset + okDataset,
			want:    Problem{Line: 8, Entry: "datasets[1]", Dataset: "customers", Field: "id"},
			text:    `duplicate dataset id "customers" (first at line 3)`,
		},
		{
			name: "unsafe dataset id",
			content: header + `  - id: "orders/eu west"
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
`,
			want: Problem{Line: 3, Entry: "datasets[0]", Field: "id"},
			text: "may contain only letters, digits",
		},
		{
			name: "missing dataset id",
			content: header + `  - source: {url: "http://a.example/x", key: id, pagination: {type: page}}
`,
			want: Problem{Line: 3, Entry: "datasets[0]", Field: "id"},
			text: "dataset id is required",
		},
		{
			name: "unknown field",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination:
        type: page
        pagesize: 100
`,
			want: Problem{Line: 9, Entry: "datasets[0]", Dataset: "orders", Field: "source.pagination.pagesize"},
			text: `unknown field "pagesize"`,
		},
		{
			name: "wrong type",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
    rate_limit:
      burst: lots
`,
			want: Problem{Line: 6, Entry: "datasets[0]", Dataset: "orders", Field: "rate_limit.burst"},
			text: "must be a whole number",
		},
		{
			name: "literal secret in authorization header",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      headers:
        Authorization: Bearer abc123
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 7, Entry: "datasets[0]", Dataset: "orders", Field: "source.headers.Authorization"},
			text: "authorization header must reference an environment variable such as ${ORDERS_TOKEN}, not contain the secret",
		},
		{
			name: "literal secret in URL query",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders?api_key=abc123
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "source.url"},
			text: `query parameter "api_key" looks like a credential`,
		},
		{
			name: "unclosed env reference",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      headers:
        X-Tenant: ${TENANT
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 7, Entry: "datasets[0]", Dataset: "orders", Field: "source.headers.X-Tenant"},
			text: "unterminated ${ in header value",
		},
		{
			name: "invalid env name",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders
      headers:
        Authorization: Bearer ${1TOKEN}
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 7, Entry: "datasets[0]", Dataset: "orders", Field: "source.headers.Authorization"},
			text: `invalid environment variable name "1TOKEN" in header value`,
		},
		{
			name: "reference in URL",
			content: header + `  - id: orders
    source:
      url: http://api.example.com/orders?tenant=${TENANT}
      key: id
      pagination: {type: page}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "source.url"},
			text: "resolved in header values only",
		},
		{
			name:    "empty datasets",
			content: "sink: sqlite://x.db\ndatasets: []\n",
			want:    Problem{Line: 2, Field: "datasets"},
			text:    "at least one dataset is required",
		},
		{
			name:    "empty file",
			content: "",
			want:    Problem{Field: "datasets"},
			text:    "at least one dataset is required",
		},
		{
			name:    "literal sink password",
			content: "sink: postgres://app:s3cret@db:5432/sync\ndatasets:\n" + okDataset,
			want:    Problem{Line: 1, Field: "sink"},
			text:    "password in the userinfo must reference an environment variable such as ${PG_PASSWORD}, not contain the secret",
		},
		{
			name:    "literal sink password parameter",
			content: "datasets:\n" + okDataset + "sink: postgres://db/sync?user=app&password=s3cret\n",
			want:    Problem{Line: 7, Field: "sink"},
			text:    "password parameter must reference an environment variable",
		},
		{
			name:    "malformed sink reference",
			content: "sink: postgres://app:${PG_PASSWORD@db/sync\ndatasets:\n" + okDataset,
			want:    Problem{Line: 1, Field: "sink"},
			text:    `"${" is not closed`,
		},
		{
			name:    "bad sink scheme",
			content: "sink: mysql://u@h/db\ndatasets:\n" + okDataset,
			want:    Problem{Line: 1, Field: "sink"},
			text:    `unsupported sink (scheme "mysql")`,
		},
		{
			name: "negative rps",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
    rate_limit: {rps: -1}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "rate_limit.rps"},
			text: ">= 0",
		},
		{
			name: "unsafe rate-limit key",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
    rate_limit: {key: "a b"}
`,
			want: Problem{Line: 5, Entry: "datasets[0]", Dataset: "orders", Field: "rate_limit.key"},
			text: "rate-limit key",
		},
		{
			name: "shared key, different rps",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
    rate_limit: {rps: 20, burst: 5, key: api}
  - id: customers
    source: {url: "http://a.example/y", key: id, pagination: {type: page}}
    rate_limit:
      key: api
`,
			want: Problem{Line: 8, Entry: "datasets[1]", Dataset: "customers", Field: "rate_limit.rps"},
			text: `dataset "customers" shares rate_limit.key "api" with dataset "orders" (datasets[0], line 5) but declares rps 0 (undeclared) where "orders" declares 20`,
		},
		{
			name: "shared key, different burst",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
    rate_limit: {rps: 20, burst: 5, key: api}
  - id: customers
    source: {url: "http://a.example/y", key: id, pagination: {type: page}}
    rate_limit:
      key: api
      rps: 20
      burst: 4
`,
			want: Problem{Line: 11, Entry: "datasets[1]", Dataset: "customers", Field: "rate_limit.burst"},
			text: `declares burst 4 where "orders" declares 5`,
		},
		{
			name: "default key shared by id, different global_rps",
			content: header + `  - id: orders
    source: {url: "http://a.example/x", key: id, pagination: {type: page}}
  - id: customers
    source: {url: "http://a.example/y", key: id, pagination: {type: page}}
    rate_limit: {key: orders, global_rps: 2}
`,
			want: Problem{Line: 7, Entry: "datasets[1]", Dataset: "customers", Field: "rate_limit.global_rps"},
			text: `shares rate_limit.key "orders" with dataset "orders" (datasets[0], line 3) but declares global_rps 2`,
		},
		{
			name:    "yaml syntax error",
			content: header + okDataset + "\t- id: x\n",
			want:    Problem{Line: 8},
			text:    "invalid YAML: found character that cannot start any token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			f, err := Load(path)
			require.Error(t, err)
			assert.Nil(t, f)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			want := tt.want
			want.File = path
			var found bool
			for _, p := range cerr.Problems {
				if strings.Contains(p.Message, tt.text) {
					found = true
					want.Message = p.Message
					assert.Equal(t, want, p)
				}
			}
			require.True(t, found, "no problem mentions %q in:\n%v", tt.text, err)
			// The rendered line names file, line, entry and field.
			prefix := path
			if want.Line > 0 {
				prefix += ":" + strconv.Itoa(want.Line)
			}
			prefix += ": "
			if want.Entry != "" {
				prefix += want.Entry
				if want.Dataset != "" {
					prefix += " (" + want.Dataset + ")"
				}
				prefix += ": "
			}
			if want.Field != "" {
				prefix += want.Field + ": "
			}
			assert.Contains(t, err.Error(), prefix+want.Message)
		})
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	path := writeConfig(t, `sink: mysql://x
datasets:
  - id: orders
    source:
      url: ftp://x
      pagination: {type: pages}
    rate_limit: {burst: -1}
`)
	_, err := Load(path)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	fields := make([]string, len(cerr.Problems))
	for i, p := range cerr.Problems {
		fields[i] = p.Field
	}
	assert.Equal(t, []string{"sink", "source.key", "source.url", "source.pagination.type", "rate_limit.burst"}, fields)
	assert.Len(t, strings.Split(err.Error(), "\n"), 5)
}

func TestLoadUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "read config file "+path+": no such file or directory", err.Error())
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		path string
		ids  []string
	}{
		{"testdata/valid.yaml", []string{"orders", "customers.v2"}},
		{"example.yaml", []string{"orders", "customers", "products", "invoices", "events"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, err := Load(tt.path)
			require.NoError(t, err)
			assert.Equal(t, tt.ids, f.DatasetIDs())
			require.NoError(t, f.CheckSink())
			for _, ds := range f.Datasets {
				assert.True(t, ds.Source.Timeout > 0 || ds.Source.Timeouts.Total > 0, "timeout default for %s", ds.ID)
				if ds.RateLimit.RPS > 0 {
					assert.GreaterOrEqual(t, ds.RateLimit.Burst, 1, "burst default for %s", ds.ID)
				}
			}
		})
	}
}

func TestLoadDefaultsAndFields(t *testing.T) {
	f, err := Load("testdata/valid.yaml")
	require.NoError(t, err)
	orders, err := f.Dataset("orders")
	require.NoError(t, err)
	assert.Equal(t, Dataset{
		ID: "orders",
		Source: source.Config{
			URL:     "https://api.example.com/v1/orders?status=all",
			Headers: map[string]string{"Authorization": "Bearer ${ORDERS_TOKEN}"},
			Records: "data",
			Key:     "id",
			Pagination: source.Pagination{
				Type: source.PaginationCursor, Param: "cursor", Next: "meta.next_cursor",
			},
			Timeout: source.Duration(DefaultTimeout),
		},
		RateLimit: RateLimit{RPS: 5, Burst: 1},
	}, orders)
	// It sends a credential: the budget is that of its host and credential.
	assert.Equal(t, "api.example.com.ORDERS_TOKEN", orders.LimitKey())
	customers, err := f.Dataset("customers.v2")
	require.NoError(t, err)
	assert.Equal(t, source.Duration(5*time.Second), customers.Source.Timeout)
	assert.Zero(t, customers.RateLimit.Burst, "no burst default without rps")
	assert.Equal(t, []string{"ORDERS_TOKEN"}, f.EnvVars())

	_, err = f.Dataset("nope")
	assert.EqualError(t, err, `unknown dataset "nope" (known: orders, customers.v2)`)
}

func TestLoadMergeKeysAndAliases(t *testing.T) {
	path := writeConfig(t, `sink: sqlite://x.db
defaults: &src
  key: id
  pagination: {type: page}
datasets:
  - id: a
    source:
      <<: *src
      url: http://a.example/a
  - id: b
    source:
      <<: *src
      url: http://a.example/b
      key: uuid
`)
	_, err := Load(path)
	// "defaults" is not a field: anchors must live inside known fields.
	require.ErrorContains(t, err, `orders.yaml:2: defaults: unknown field "defaults"`)

	path = writeConfig(t, `sink: sqlite://x.db
datasets:
  - id: a
    source: &src
      url: http://a.example/a
      key: id
      pagination: {type: page}
  - id: b
    source:
      <<: *src
      key: uuid
`)
	f, err := Load(path)
	require.NoError(t, err)
	b, err := f.Dataset("b")
	require.NoError(t, err)
	assert.Equal(t, "uuid", b.Source.Key)
	assert.Equal(t, "http://a.example/a", b.Source.URL)
}

func TestSinkOverride(t *testing.T) {
	noSink := "datasets:\n" + okDataset
	tests := []struct {
		name     string
		content  string
		override string
		want     string // "" = no error
	}{
		{"file sink", header + okDataset, "", ""},
		{"override replaces file sink", header + okDataset, "postgres://u@db/sync", ""},
		{"override supplies missing sink", noSink, "postgresql://u@db/sync", ""},
		{"missing sink", noSink, "", "orders.yaml: sink: a sink is required"},
		{"bad override", header + okDataset, "mysql://u:secret@h/db", `orders.yaml: sink (from SYNCFLOW_SINK): unsupported sink (scheme "mysql")`},
		{"override with a reference", header + okDataset, "postgres://app:${PG_PASSWORD}@db/sync", ""},
		{"override with a literal password", header + okDataset, "postgres://app:hunter2@db/sync", `orders.yaml: sink (from SYNCFLOW_SINK): the password in the userinfo must reference an environment variable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Load(writeConfig(t, tt.content))
			require.NoError(t, err)
			f.ApplySinkOverride(tt.override)
			err = f.CheckSink()
			if tt.want == "" {
				require.NoError(t, err)
				if tt.override != "" {
					assert.Equal(t, tt.override, f.Sink)
				}
				return
			}
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), "secret@", "the DSN's password must not leak")
			assert.NotContains(t, err.Error(), "hunter2", "the DSN's password must not leak")
		})
	}
}

func TestEnvRefs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"plain", nil, ""},
		{"Bearer ${TOKEN}", []string{"TOKEN"}, ""},
		{"${A}:${_b1}", []string{"A", "_b1"}, ""},
		{"cost $5", nil, ""},
		{"${A", nil, "not closed"},
		{"${}", nil, "empty reference"},
		{"${A-B}", nil, "invalid environment variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := EnvRefs(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadTasks(t *testing.T) {
	f, err := Load("testdata/valid.yaml")
	require.NoError(t, err)
	for _, path := range []string{"testdata/tasks.yaml", "testdata/tasks.json"} {
		t.Run(path, func(t *testing.T) {
			tasks, err := LoadTasks(path)
			require.NoError(t, err)
			require.Len(t, tasks, 2)
			assert.Equal(t, "sync-orders-1", tasks[0].ID)
			assert.Equal(t, "customers.v2", tasks[1].Dataset)
			assert.Positive(t, tasks[1].Line)
			require.NoError(t, f.CheckTasks(tasks, path))
		})
	}
}

func TestLoadTasksProblems(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"duplicate id", "- {id: t1, dataset: orders}\n- {id: t1, dataset: orders}\n",
			`tasks.yaml:2: tasks[1] (t1): id: duplicate task id "t1" (first at line 1)`},
		{"unsafe id", "- {id: \"t 1\", dataset: orders}\n",
			`tasks.yaml:1: tasks[0]: id: task id "t 1" may contain only`},
		{"missing dataset", "- id: t1\n",
			`tasks.yaml:1: tasks[0] (t1): dataset: the dataset to sync is required`},
		{"unknown field", "- id: t1\n  dataset: orders\n  priority: 3\n",
			`tasks.yaml:3: tasks[0] (t1): priority: unknown field "priority"`},
		{"not a list", "id: t1\n", `tasks.yaml:1: tasks: must be a list, not a mapping`},
		{"empty", "[]\n", `tasks.yaml:1: tasks: at least one task is required`},
		{"over the cap", strings.Repeat("- {id: t, dataset: orders}\n", MaxBatchTasks+1),
			`tasks.yaml:1: tasks: 10001 tasks: a batch holds at most 10000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tasks.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			_, err := LoadTasks(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCheckTasksUnknownDataset(t *testing.T) {
	f, err := Load("testdata/valid.yaml")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tasks.yaml")
	require.NoError(t, os.WriteFile(path, []byte("- id: t1\n  dataset: orders\n- id: t2\n  dataset: invoices\n"), 0o600))
	tasks, err := LoadTasks(path)
	require.NoError(t, err)
	err = f.CheckTasks(tasks, path)
	require.Error(t, err)
	assert.Equal(t, path+`:3: tasks[1] (t2): dataset: unknown dataset "invoices" (known: orders, customers.v2)`, err.Error())
	var cerr *Error
	require.True(t, errors.As(err, &cerr))
	assert.Len(t, cerr.Problems, 1)
}

func TestLoadBoundsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("datasets:\n")
	for range 300 {
		b.WriteString("  - 42\n")
	}
	_, err := Load(writeConfig(t, b.String()))
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, maxProblems+1)
	assert.Equal(t, Problem{File: cerr.Problems[0].File, Line: 2, Entry: "datasets[0]", Message: "must be a mapping of fields, not a single value"}, cerr.Problems[0])
	assert.Equal(t, "and 200 more problems", cerr.Problems[maxProblems].Message)
}

func TestLoadWrongShapes(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"root is a list", "- a\n", []string{"orders.yaml:1: must be a mapping of fields, not a list"}},
		{"datasets is a mapping", "datasets: {id: a}\n", []string{"orders.yaml:1: datasets: must be a list, not a mapping"}},
		{"source is a string", "datasets:\n  - id: a\n    source: http://x\n", []string{"orders.yaml:3: datasets[0] (a): source: must be a mapping of fields, not a single value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.content))
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			var got []string
			for _, p := range cerr.Problems {
				got = append(got, filepath.Base(p.String()))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
