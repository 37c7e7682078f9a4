package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiServer is a running Temporal Web UI.
type uiServer struct {
	srv  *uiserver.Server
	done chan struct{} // closed when srv.Start has returned and the port is free
}

// uiSettings are what the Web UI is started with.
type uiSettings struct {
	host, dialHost string // listen on host; check readiness on dialHost
	port           int
	frontend       string // the Temporal frontend's host:port
	namespace      string
	codec          string // the codec endpoint, "" for none
}

// startUI serves the Web UI on host:port for the frontend at frontend, and
// returns once GET / answers 200.
//
// The UI server's Start blocks and, should binding fail, ends the process
// through its logger; Start checked the port just before, which leaves only a
// narrow race.
func startUI(ctx context.Context, u uiSettings) (*uiServer, error) {
	host, dialHost, port := u.host, u.dialHost, u.port
	srv := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		TemporalGRPCAddress: u.frontend,
		Host:                bracketIPv6(host),
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    u.namespace,
		Codec:               uiconfig.Codec{Endpoint: u.codec},
		// Plain HTTP on localhost: a Secure cookie would never be sent back.
		CORS:             uiconfig.CORS{CookieInsecure: true},
		HideLogs:         true,
		DisableNewsFetch: true, // no outbound calls
	}))
	ui := &uiServer{srv: srv, done: make(chan struct{})}
	go func() {
		defer close(ui.done)
		_ = srv.Start() // returns nil once stopped; bind errors never reach here
	}()

	url := "http://" + net.JoinHostPort(dialHost, strconv.Itoa(port)) + "/"
	client := &http.Client{}
	err := poll(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	})
	client.CloseIdleConnections()
	if err != nil {
		ui.stop()
		return nil, fmt.Errorf("devserver: web ui on port %d not ready: %w", port, err)
	}
	return ui, nil
}

// stop closes the UI server and waits until its listener is closed.
func (u *uiServer) stop() {
	u.srv.Stop()
	<-u.done
}

// bracketIPv6 makes an IPv6 literal usable in "host:port" as the UI server
// formats it.
func bracketIPv6(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]"
	}
	return host
}
