package demoapi

import (
	"fmt"
	"net/http"
	"time"
)

// StatsJSON is the body of GET /datasets/{id}/stats: what the dataset's
// record endpoint answered so far, so that a test or an operator running the
// API as a separate process can see the request counts a sync caused.
type StatsJSON struct {
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	RateLimited  int64            `json:"rate_limited"`
	Unauthorized int64            `json:"unauthorized"`
	BadRequests  int64            `json:"bad_requests"`
	Faults       map[string]int64 `json:"faults"`
	FirstRequest *time.Time       `json:"first_request,omitempty"`
	LastRequest  *time.Time       `json:"last_request,omitempty"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeUnauthorized(w)
		return
	}
	id := r.PathValue("id")
	if _, ok := s.datasets[id]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown dataset %q", id))
		return
	}
	st := s.Stats(id)
	out := StatsJSON{
		Requests: st.Requests, OK: st.OK, RateLimited: st.RateLimited,
		Unauthorized: st.Unauthorized, BadRequests: st.BadRequests,
		Faults: make(map[string]int64, len(st.Faults)),
	}
	for k, v := range st.Faults {
		out.Faults[string(k)] = v
	}
	if !st.FirstRequest.IsZero() {
		out.FirstRequest, out.LastRequest = &st.FirstRequest, &st.LastRequest
	}
	writeJSON(w, http.StatusOK, out)
}
