package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"
)

// startCPUProfile writes a CPU profile of the whole process (worker,
// in-process server, demo API, SQLite) to path until the returned function
// is called; an empty path profiles nothing. Read it with
// `go tool pprof -top <binary> <path>`.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// processCPU is the CPU time the whole process has used so far (user and
// system): under load from other processes it moves less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
