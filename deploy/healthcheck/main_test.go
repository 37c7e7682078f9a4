package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestProbe checks what counts as healthy. No case depends on how fast the
// machine is: an answer comes within the generous test bound, and the slow
// case is a server that never answers, whose probe ends when its context is
// cancelled once the request has arrived (the timeout flag is such a
// cancellation).
func TestProbe(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		hang      bool
		anyStatus bool
		down      bool
		wantErr   bool
	}{
		{name: "200 is healthy", status: http.StatusOK},
		{name: "204 is healthy", status: http.StatusNoContent},
		{name: "503 is unhealthy", status: http.StatusServiceUnavailable, wantErr: true},
		{name: "404 is unhealthy", status: http.StatusNotFound, wantErr: true},
		{name: "404 with any-status is healthy", status: http.StatusNotFound, anyStatus: true},
		{name: "429 with any-status is healthy", status: http.StatusTooManyRequests, anyStatus: true},
		{name: "server down is unhealthy even with any-status", down: true, anyStatus: true, wantErr: true},
		{name: "no answer before the timeout is unhealthy", status: http.StatusOK, hang: true, anyStatus: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.hang {
					cancel() // the probe's time is up while the server has not answered
					select {
					case <-r.Context().Done(): // the probe gave up
						return
					case <-time.After(30 * time.Second): // a probe that ignores its context gets a late 200
					}
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			url := srv.URL + "/healthz"
			if tt.down {
				srv.Close()
			}
			err := probe(ctx, srv.Client(), url, tt.anyStatus)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probe() error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
