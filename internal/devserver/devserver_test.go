package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/common/dynamicconfig"
)

const testSearchAttribute = "SyncflowDatasetTest"

// testLogger sends the server's warnings to the test log, where they help
// when a test fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	begin := time.Now()
	s, err := Start(ctx, opts)
	require.NoError(t, err)
	t.Logf("dev server started in %v (frontend %s, ui %q)", time.Since(begin), s.FrontendAddress(), s.UIAddress())
	t.Cleanup(func() { assert.NoError(t, s.Stop()) })
	return s
}

func TestFileBackedServerKeepsStateAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "nested", "dir", "temporal.db")
	opts := Options{
		DBPath:           dbPath,
		FreePorts:        true,
		Namespace:        "syncflow-test",
		SearchAttributes: map[string]enumspb.IndexedValueType{testSearchAttribute: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           testLogger(t),
	}
	s := startServer(t, opts)
	require.Equal(t, "syncflow-test", s.Namespace())
	require.NotEmpty(t, s.UIAddress())
	c := dial(t, s)

	ns, err := c.WorkflowService().DescribeNamespace(ctx, describeNamespace(s.Namespace()))
	require.NoError(t, err)
	assert.Equal(t, "syncflow-test", ns.GetNamespaceInfo().GetName())
	assertSearchAttribute(t, c, s.Namespace())

	resp, err := http.Get(s.UIAddress() + "/")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// No worker: the execution just stays running, which is all we need.
	dataset := temporal.NewSearchAttributeKeyKeyword(testSearchAttribute)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "devserver-restart-test",
		TaskQueue:             "devserver-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(dataset.ValueSet("orders")),
	}, "NoSuchWorkflow")
	require.NoError(t, err)
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())

	// Restart on the same file and the same ports: Stop must free them.
	frontend, ui := s.FrontendAddress(), s.UIAddress()
	c.Close()
	require.NoError(t, s.Stop())
	_, grpcPort, err := net.SplitHostPort(frontend)
	require.NoError(t, err)
	var uiPort int
	_, err = fmt.Sscanf(ui, "http://127.0.0.1:%d", &uiPort)
	require.NoError(t, err)
	opts.FreePorts = false
	_, err = fmt.Sscanf(grpcPort, "%d", &opts.GRPCPort)
	require.NoError(t, err)
	opts.UIPort = uiPort

	s2 := startServer(t, opts)
	assert.Equal(t, frontend, s2.FrontendAddress())
	c2 := dial(t, s2)
	_, err = c2.WorkflowService().DescribeNamespace(ctx, describeNamespace(s2.Namespace()))
	require.NoError(t, err)
	assertSearchAttribute(t, c2, s2.Namespace())
	desc, err = c2.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
	assert.Equal(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
}

func TestInMemoryServer(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, Options{InMemory: true, FreePorts: true, UIPort: UIDisabled})
	assert.Equal(t, DefaultNamespace, s.Namespace())
	assert.Empty(t, s.UIAddress())
	c := dial(t, s)
	_, err := c.WorkflowService().DescribeNamespace(ctx, describeNamespace(DefaultNamespace))
	require.NoError(t, err)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "devserver-memory-test", TaskQueue: "devserver-test"}, "NoSuchWorkflow")
	require.NoError(t, err)
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), "")
	require.NoError(t, err)
	assert.Equal(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
}

func TestStartFailsClearlyWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		opts Options
		flag string
	}{
		{"grpc", Options{InMemory: true, GRPCPort: port, UIPort: UIDisabled}, "--port"},
		{"ui", Options{InMemory: true, FreePorts: true, UIPort: port}, "--ui-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(context.Background(), tt.opts)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.True(t, errors.Is(err, ErrPortInUse), "error %v should match ErrPortInUse", err)
			assert.Equal(t, fmt.Sprintf("devserver: port %d on 127.0.0.1 is already in use "+
				"(another Temporal server or syncflow worker --dev running?); choose another with %s", port, tt.flag), err.Error())
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	r, err := resolve(Options{FreePorts: true})
	require.NoError(t, err)
	assert.Equal(t, DefaultDBPath, r.DBPath)
	assert.Equal(t, DefaultHost, r.Host)
	assert.Equal(t, DefaultNamespace, r.Namespace)
	ports := map[int]bool{}
	for _, p := range []int{r.grpcPort, r.uiPort, r.historyPort, r.matchingPort, r.workerPort} {
		assert.Positive(t, p)
		ports[p] = true
	}
	assert.Len(t, ports, 5, "ports must be distinct")

	r, err = resolve(Options{Host: "0.0.0.0", FreePorts: true, UIPort: UIDisabled})
	require.NoError(t, err)
	assert.Equal(t, DefaultHost, r.dialHost)
	assert.Equal(t, UIDisabled, r.uiPort)

	_, err = resolve(Options{InMemory: true, DBPath: "x.db"})
	assert.ErrorContains(t, err, "mutually exclusive")
	_, err = resolve(Options{UIPort: -2})
	assert.ErrorContains(t, err, "invalid UI port")
}

func TestDynamicConfigOverrides(t *testing.T) {
	dc := dynamicConfig(map[string]any{"matching.enableFairness": false, "limit.blobSize.error": 1024})
	assert.Equal(t, false, dc[dynamicconfig.MakeKey("matching.enableFairness")])
	assert.Equal(t, 1024, dc[dynamicconfig.MakeKey("limit.blobSize.error")])
	assert.Equal(t, false, dc[dynamicconfig.MakeKey("frontend.enableServerVersionCheck")])
}

func describeNamespace(name string) *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: name}
}

func assertSearchAttribute(t *testing.T, c client.Client, namespace string) {
	t.Helper()
	list, err := c.OperatorService().ListSearchAttributes(context.Background(),
		&operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	require.NoError(t, err)
	assert.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, list.GetCustomAttributes()[testSearchAttribute])
}
