package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is one running process of the topology: a service replica, a
// one-shot or an on-demand command. Its output goes to Log.
type Proc struct {
	Name string // service name, with "-N" for replica N > 1
	Log  string // file holding its stdout and stderr
	Cmd  *exec.Cmd

	stopSig syscall.Signal
	done    chan struct{}
	err     error // set before done is closed
}

// startProc starts cmd with its output in log.
func startProc(name, log string, cmd *exec.Cmd, stopSig syscall.Signal) (*Proc, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	p := &Proc{Name: name, Log: log, Cmd: cmd, stopSig: stopSig, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit error (nil for status 0) once it has exited.
func (p *Proc) Err() error { <-p.done; return p.err }

// Wait waits for the process to exit, bounded by ctx, and returns its exit
// error with the end of its log.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit: %w", p.Name, ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name, p.err, p.Tail(40))
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() error {
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return nil
}

// Stop sends the process its stop signal and kills it if it has not exited
// after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(p.stopSig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Kill()
	}
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	raw, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + p.Log + " (end) ---\n" + strings.Join(lines, "\n")
}
