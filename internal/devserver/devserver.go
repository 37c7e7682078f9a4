// Package devserver runs an embedded Temporal server with SQLite persistence
// and the Temporal Web UI, for local development (`starter demo`,
// `worker --dev`) and for integration tests.
//
// State lives in a SQLite file, so workflows survive a restart of the
// process; InMemory trades that for a clean slate on every start.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/syncflow/syncflow/ratelimit/fairness"
)

// Defaults applied by Start to zero-valued Options fields.
const (
	// DefaultDBPath is where the SQLite file lives unless told otherwise.
	DefaultDBPath = ".syncflow/temporal.db"
	// DefaultHost is the address both the frontend and the UI listen on.
	DefaultHost = "127.0.0.1"
	// DefaultGRPCPort is the frontend port every Temporal tool assumes.
	DefaultGRPCPort = 7233
	// DefaultUIPort is the Web UI port of the Temporal CLI's dev server.
	DefaultUIPort = 8233
	// DefaultNamespace is the namespace created on start.
	DefaultNamespace = "default"
	// UIDisabled as Options.UIPort runs no Web UI.
	UIDisabled = -1
	// DefaultHistoryShards is the history shard count of a new database.
	// An existing database keeps the count it was created with (see
	// Options.HistoryShards). One: more did not measurably speed up a
	// batch of small tasks on 2 cores, where the single SQLite connection
	// is the bottleneck (BENCHMARKS.md, batch row).
	DefaultHistoryShards = 1
)

// clusterName is the single local cluster; it is stored in the database, so
// it must never change between releases.
const clusterName = "active"

// startupTimeout bounds the wait for the server to answer, on top of the
// caller's context.
const startupTimeout = 60 * time.Second

// Options configures Start. The zero value is a file-backed server on the
// standard ports with the UI.
type Options struct {
	// DBPath is the SQLite file holding all state; parent directories are
	// created. Default DefaultDBPath. Must be empty when InMemory is set.
	DBPath string
	// InMemory keeps all state in memory: nothing survives Stop.
	InMemory bool
	// Host is the address the frontend and the UI listen on. Default DefaultHost.
	Host string
	// GRPCPort is the frontend port. Default DefaultGRPCPort (a free port
	// when FreePorts is set).
	GRPCPort int
	// UIPort is the Web UI port. Default DefaultUIPort (a free port when
	// FreePorts is set); UIDisabled runs no UI.
	UIPort int
	// FreePorts makes a zero GRPCPort or UIPort mean "any free port" rather
	// than the default, so tests can run side by side.
	FreePorts bool
	// Namespace is created on start if missing. Default DefaultNamespace.
	Namespace string
	// SearchAttributes are custom search attributes registered in Namespace;
	// ones already registered with the same type are left alone.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig holds extra dynamic config values keyed by name (e.g.
	// "matching.enableFairness"); they override the dev server's own.
	DynamicConfig map[string]any
	// Logger receives the server's warnings and errors (it is too chatty
	// below that). Nil discards them.
	Logger *slog.Logger
	// HistoryShards is the history shard count of a new database; default
	// DefaultHistoryShards. A persisted cluster's count cannot change: an
	// existing file keeps the count it was created with, whatever this
	// says (the server logs the mismatch and uses the stored count);
	// Server.HistoryShards reports the count in use.
	HistoryShards int32
	// CodecEndpoint is the remote codec (http://host:port, serving /encode
	// and /decode) the Web UI decodes payloads with; "" shows them as
	// stored (ARCHITECTURE.md §Payload encryption).
	CodecEndpoint string
}

// Server is a running dev server. Stop it when done.
type Server struct {
	server    temporal.Server
	ui        *uiServer
	conn      *grpc.ClientConn
	frontend  string
	uiAddr    string
	namespace string
	shards    int32
	quiet     *atomic.Bool // drops the server's warnings while starting and stopping

	stopOnce sync.Once
	stopErr  error
}

// resolved holds Options after defaults and port assignment.
type resolved struct {
	Options
	dialHost     string // where clients connect: Host, or loopback for a wildcard Host
	grpcPort     int
	uiPort       int
	historyPort  int
	matchingPort int
	workerPort   int
}

// Start starts the server and the UI and returns once the frontend answers,
// the namespace exists and the search attributes are registered. It fails
// with an error matching ErrPortInUse if a port is taken.
func Start(ctx context.Context, opts Options) (*Server, error) {
	r, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	sqlCfg, err := prepareDatabase(r)
	if err != nil {
		return nil, err
	}

	quiet := &atomic.Bool{}
	quiet.Store(true)
	srv, err := newTemporalServer(r, sqlCfg, newServerLogger(r.Logger, quiet))
	if err != nil {
		return nil, err
	}
	if err := startTemporal(srv); err != nil {
		// Release whatever did start (listeners, goroutines).
		return nil, errors.Join(err, stopTemporal(srv))
	}
	s := &Server{
		server:    srv,
		frontend:  net.JoinHostPort(r.dialHost, strconv.Itoa(r.grpcPort)),
		namespace: r.Namespace,
		quiet:     quiet,
	}

	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := s.afterStart(ctx, r); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	quiet.Store(false)
	return s, nil
}

// afterStart waits for the frontend, registers search attributes and starts
// the UI.
func (s *Server) afterStart(ctx context.Context, r resolved) error {
	conn, err := grpc.NewClient(s.frontend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("devserver: connect to frontend %s: %w", s.frontend, err)
	}
	s.conn = conn
	wf := workflowservice.NewWorkflowServiceClient(conn)
	err = poll(ctx, func(ctx context.Context) error {
		_, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: r.Namespace})
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: frontend %s not ready: %w", s.frontend, err)
	}
	info, err := wf.GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if err != nil {
		return fmt.Errorf("devserver: cluster info: %w", err)
	}
	s.shards = info.GetHistoryShardCount()
	if err := registerSearchAttributes(ctx, operatorservice.NewOperatorServiceClient(conn), r.Namespace, r.SearchAttributes); err != nil {
		return err
	}
	if r.uiPort == UIDisabled {
		return nil
	}
	ui, err := startUI(ctx, uiSettings{
		host: r.Host, dialHost: r.dialHost, port: r.uiPort,
		frontend: s.frontend, namespace: r.Namespace, codec: r.CodecEndpoint,
	})
	if err != nil {
		return err
	}
	s.ui = ui
	s.uiAddr = "http://" + net.JoinHostPort(r.dialHost, strconv.Itoa(r.uiPort))
	return nil
}

// FrontendAddress is the host:port to pass to client.Dial.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress is the Web UI's base URL, or "" when the UI is disabled.
func (s *Server) UIAddress() string { return s.uiAddr }

// HistoryShards is the server's history shard count: Options.HistoryShards
// for a new database, the count it was created with for an existing one.
func (s *Server) HistoryShards() int32 { return s.shards }

// Namespace is the namespace Start created.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the server and frees their ports. It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.quiet.Store(true)
		var errs []error
		if s.ui != nil {
			s.ui.stop()
		}
		if s.conn != nil {
			if err := s.conn.Close(); err != nil {
				errs = append(errs, fmt.Errorf("devserver: close frontend connection: %w", err))
			}
		}
		errs = append(errs, stopTemporal(s.server))
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// resolve applies defaults, validates, and settles every port.
func resolve(opts Options) (resolved, error) {
	r := resolved{Options: opts}
	if r.InMemory && r.DBPath != "" {
		return r, errors.New("devserver: DBPath and InMemory are mutually exclusive")
	}
	if !r.InMemory && r.DBPath == "" {
		r.DBPath = DefaultDBPath
	}
	if r.Host == "" {
		r.Host = DefaultHost
	}
	if r.Namespace == "" {
		r.Namespace = DefaultNamespace
	}
	if r.HistoryShards < 0 {
		return r, fmt.Errorf("devserver: invalid history shard count %d", r.HistoryShards)
	}
	if r.HistoryShards == 0 {
		r.HistoryShards = DefaultHistoryShards
	}
	r.dialHost = r.Host
	if ip := net.ParseIP(r.Host); ip != nil && ip.IsUnspecified() {
		r.dialHost = DefaultHost
	}
	if r.GRPCPort < 0 || r.GRPCPort > 65535 {
		return r, fmt.Errorf("devserver: invalid gRPC port %d", r.GRPCPort)
	}
	if r.UIPort < UIDisabled || r.UIPort > 65535 {
		return r, fmt.Errorf("devserver: invalid UI port %d (use %d to disable the UI)", r.UIPort, UIDisabled)
	}
	if r.GRPCPort == 0 && !r.FreePorts {
		r.GRPCPort = DefaultGRPCPort
	}
	if r.UIPort == 0 && !r.FreePorts {
		r.UIPort = DefaultUIPort
	}

	// The frontend and UI ports are the user's; the internal services
	// (history, matching, worker) get free loopback ports, which nobody
	// needs to know and which cannot clash with a second dev server.
	reqs := []portRequest{{host: r.Host, port: r.GRPCPort, flag: "--port"}}
	if r.UIPort != UIDisabled {
		reqs = append(reqs, portRequest{host: r.Host, port: r.UIPort, flag: "--ui-port"})
	}
	for range 3 {
		reqs = append(reqs, portRequest{host: DefaultHost})
	}
	ports, err := reservePorts(reqs)
	if err != nil {
		return r, err
	}
	r.grpcPort, ports = ports[0], ports[1:]
	r.uiPort = UIDisabled
	if r.UIPort != UIDisabled {
		r.uiPort, ports = ports[0], ports[1:]
	}
	r.historyPort, r.matchingPort, r.workerPort = ports[0], ports[1], ports[2]
	return r, nil
}

// prepareDatabase creates the SQLite schema on a new file and the namespace
// if missing, and returns the store config for the server.
func prepareDatabase(r resolved) (*config.SQL, error) {
	cfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	if r.InMemory {
		// The plugin creates the schema itself on an in-memory database. A
		// shared cache lets the server's many connections see one database;
		// a random name keeps servers in one process apart.
		cfg.DatabaseName = "syncflow-" + strconv.FormatUint(rand.Uint64(), 36)
		cfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		path, err := filepath.Abs(r.DBPath)
		if err != nil {
			return nil, fmt.Errorf("devserver: resolve database path %q: %w", r.DBPath, err)
		}
		cfg.DatabaseName = path
		// WAL with synchronous=normal is durable across process crashes and
		// makes the many small commits of schema setup and of a busy dev
		// server much faster than the default rollback journal.
		cfg.ConnectAttributes = map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("devserver: create directory for %s: %w", path, err)
		}
		_, err = os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := sqliteschema.SetupSchema(cfg); err != nil {
				// Leave no half-made file behind: the next start would
				// take it for a complete one.
				_ = os.Remove(path)
				return nil, fmt.Errorf("devserver: create schema in %s: %w", path, err)
			}
		case err != nil:
			return nil, fmt.Errorf("devserver: inspect database %s: %w", path, err)
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, r.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q config: %w", r.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(cfg, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", r.Namespace, err)
	}
	return cfg, nil
}

// dynamicConfig is the dev server's dynamic config: the values it needs plus
// the caller's overrides.
func dynamicConfig(extra map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// No calls home from a dev server.
		dynamicconfig.EnableServerVersionCheck.Key(): false,
		// New search attributes are usable at once, not after a cache refresh.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// One partition per task queue: on a single host more partitions only
		// add forwarding latency and split per-key rate limits.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// The Web UI and `list` poll visibility often.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// A dev machine does not need a 128k-entry mutable state cache.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
	}
	// Fairness keys and per-key rate limits (DESIGN §4): fairness on, eager
	// activities (which bypass matching and its limits) off.
	for k, v := range fairness.ServerSettings() {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	for k, v := range extra {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}

// newTemporalServer builds a single-process server: all four services in one
// process, static membership (no gossip, so start-up is quick),
// Options.HistoryShards history shards (the server keeps a persisted
// cluster's own count), archival and metrics off.
func newTemporalServer(r resolved, sqlCfg *config.SQL, logger log.Logger) (temporal.Server, error) {
	const store = "sqlite-default"
	frontend := net.JoinHostPort(r.dialHost, strconv.Itoa(r.grpcPort))
	internal := func(port int) string { return net.JoinHostPort(DefaultHost, strconv.Itoa(port)) }

	cfg := &config.Config{}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: DefaultHost}
	cfg.Persistence = config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  store,
		NumHistoryShards: r.HistoryShards,
		DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: r.grpcPort, BindOnIP: r.Host}},
		string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: r.historyPort, BindOnIP: DefaultHost}},
		string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: r.matchingPort, BindOnIP: DefaultHost}},
		string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: r.workerPort, BindOnIP: DefaultHost}},
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The server's internal SDK clients (e.g. the system worker) dial this.
	cfg.PublicClient.HostPort = frontend

	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(frontend),
			primitives.HistoryService:  static.SingleLocalHost(internal(r.historyPort)),
			primitives.MatchingService: static.SingleLocalHost(internal(r.matchingPort)),
			primitives.WorkerService:   static.SingleLocalHost(internal(r.workerPort)),
		}),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig(r.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: create temporal server: %w", err)
	}
	return srv, nil
}

// startTemporal starts the server, turning a panic during start-up (the
// server's logger panics on fatal errors) into an error.
func startTemporal(srv temporal.Server) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("devserver: start temporal server: %v", p)
		}
	}()
	if err := srv.Start(); err != nil {
		return fmt.Errorf("devserver: start temporal server: %w", err)
	}
	return nil
}

// stopTemporal stops the server, turning a panic (possible after a failed
// start) into an error.
func stopTemporal(srv temporal.Server) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("devserver: stop temporal server: %v", p)
		}
	}()
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("devserver: stop temporal server: %w", err)
	}
	return nil
}

// registerSearchAttributes adds the attributes missing from namespace. An
// attribute already registered with another type is an error: changing a
// type is not something a dev server should do silently.
func registerSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("devserver: list search attributes of %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		have, ok := list.GetCustomAttributes()[name]
		if !ok {
			if _, system := list.GetSystemAttributes()[name]; system {
				return fmt.Errorf("devserver: search attribute %q is a system attribute", name)
			}
			missing[name] = typ
			continue
		}
		if have != typ {
			return fmt.Errorf("devserver: search attribute %q is registered as %s, not %s", name, have, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("devserver: add search attributes to %q: %w", namespace, err)
	}
	return nil
}

// poll calls try until it succeeds or ctx ends, and then returns try's last
// error.
func poll(ctx context.Context, try func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := try(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
