package topology

import (
	"errors"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
)

// loopback is where every service listens.
const loopback = "127.0.0.1"

// addrMap maps a service's container ports to host ports: "SERVICE:PORT"
// → "127.0.0.1:HOSTPORT".
type addrMap map[string]string

// hostPort returns the host port of service's container port, "" if none.
func (m addrMap) hostPort(service, port string) string {
	a, ok := m[service+":"+port]
	if !ok {
		return ""
	}
	_, p, _ := net.SplitHostPort(a)
	return p
}

// rewrite replaces every "SERVICE:PORT" in s with its host address, longest
// service names first so that "temporal-ui:8080" is not taken for
// "temporal:…".
func (m addrMap) rewrite(s string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, m[k])
	}
	return s
}

// rewriteEnv rewrites an environment: "SERVICE:PORT" anywhere in a value;
// the value of a *HOST or *SEEDS variable that is just a service name
// becomes 127.0.0.1, and then a *PORT variable holding one of that
// service's container ports its host port (DB_HOST=postgresql with
// DB_PORT=5432). Other values equal to a service name stay (the user
// "temporal" is not the service "temporal").
func (m addrMap) rewriteEnv(env map[string]string, services []string) map[string]string {
	out := make(map[string]string, len(env))
	var hosts []string
	for k, v := range env {
		out[k] = m.rewrite(v)
		if !strings.HasSuffix(k, "HOST") && !strings.HasSuffix(k, "SEEDS") {
			continue
		}
		for _, svc := range services {
			if v == svc {
				out[k] = loopback
				hosts = append(hosts, svc)
			}
		}
	}
	for k, v := range env {
		if !strings.HasSuffix(k, "PORT") {
			continue
		}
		for _, svc := range hosts {
			if p := m.hostPort(svc, v); p != "" {
				out[k] = p
			}
		}
	}
	return out
}

// rewriteOwn rewrites the arguments of a process that listens on own
// (container port → host port): ":PORT" and "127.0.0.1:PORT" and a bare
// PORT right after "127.0.0.1" (nc -z 127.0.0.1 7233).
func rewriteOwn(args []string, own map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for cport, hport := range own {
			switch {
			case a == ":"+cport:
				out[i] = net.JoinHostPort(loopback, hport)
			case strings.Contains(a, loopback+":"+cport):
				out[i] = strings.ReplaceAll(a, loopback+":"+cport, loopback+":"+hport)
			case a == cport && i > 0 && args[i-1] == loopback:
				out[i] = hport
			}
		}
	}
	return out
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// freeLowPort returns a free loopback port below 32768: Temporal stores
// membership ports in a PostgreSQL smallint, and the kernel's ephemeral
// ports (port 0) are above it.
func freeLowPort() (string, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return strconv.Itoa(port), nil
	}
	return "", errors.New("no free port between 20000 and 32000")
}
