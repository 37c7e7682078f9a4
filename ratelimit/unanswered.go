package ratelimit

// Unanswered records that a request let through by Wait got no answer the
// key's rate can learn from: a transport error, a fetch cut off or dropped
// after the limiter let it go, a server error while the key is still in
// slow start (Strained then cuts nothing), a rate-limit answer nobody will
// read. Each request let through is answered by exactly one Observe,
// Freeze, Strained or Unanswered: the key counts the requests in flight so
// as to take the answers to requests sent before a cut as the same
// congestion event (no second cut, no doubled hintless freeze), and a
// request never answered would count as in flight for the life of the
// worker, so that later refusals passed for echoes of an old one.
func (r *Registry) Unanswered(key string) {
	k := r.get(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ctl.answer()
}
