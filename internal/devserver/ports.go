package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// ErrPortInUse is matched (errors.Is) by the error Start returns when a port it
// needs is already taken, typically by another dev server.
var ErrPortInUse = errors.New("port already in use")

// portInUseError names the port, the host and the flag that changes it.
type portInUseError struct {
	host string
	port int
	flag string
}

func (e *portInUseError) Error() string {
	return fmt.Sprintf("devserver: port %d on %s is already in use "+
		"(another Temporal server or syncflow worker --dev running?); choose another with %s",
		e.port, e.host, e.flag)
}

func (e *portInUseError) Unwrap() error { return ErrPortInUse }

// portRequest asks for one port on host: a fixed one, or any free one when
// port is 0. flag names the command-line flag that chooses a fixed port.
type portRequest struct {
	host string
	port int
	flag string
}

// reservePorts checks that every fixed port can be bound and picks distinct
// free ports for the others. All probe listeners are held until every port is
// settled, so a picked port can never equal another requested one; they are
// released before returning so that the servers can bind them. Another
// process may take one in that short window: the server then fails to start
// with a bind error.
func reservePorts(reqs []portRequest) ([]int, error) {
	listeners := make([]net.Listener, 0, len(reqs))
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, len(reqs))
	for _, r := range reqs {
		addr := net.JoinHostPort(r.host, strconv.Itoa(r.port))
		ln, err := net.Listen("tcp", addr)
		switch {
		case err != nil && r.port != 0 && errors.Is(err, syscall.EADDRINUSE):
			return nil, &portInUseError{host: r.host, port: r.port, flag: r.flag}
		case err != nil && r.port != 0:
			return nil, fmt.Errorf("devserver: cannot listen on %s: %w", addr, err)
		case err != nil:
			return nil, fmt.Errorf("devserver: find a free port on %s: %w", r.host, err)
		}
		listeners = append(listeners, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
