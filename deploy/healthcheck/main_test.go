package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		delay     time.Duration
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
		{name: "slow answer is unhealthy", status: http.StatusOK, delay: 500 * time.Millisecond, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(tt.delay)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			url := srv.URL + "/healthz"
			if tt.down {
				srv.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := probe(ctx, srv.Client(), url, tt.anyStatus)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probe() error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
