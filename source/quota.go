package source

import "github.com/syncflow/syncflow/ratelimit/hints"

// checkQuotaHeaders checks a custom quota header pair (Config.QuotaHeaders,
// `source.quota_headers`): remaining and reset are required, every name
// must be a valid header name.
func (v *ValidationError) checkQuotaHeaders(h *hints.Headers) {
	if h == nil {
		return
	}
	for _, f := range []struct{ field, name string }{
		{"quota_headers.remaining", h.Remaining}, {"quota_headers.reset", h.Reset}, {"quota_headers.limit", h.Limit},
	} {
		switch {
		case f.name == "" && f.field != "quota_headers.limit":
			v.add(f.field, "required: the response header that says %s", quotaMeaning(f.field))
		case f.name != "" && !validHeaderName(f.name):
			v.add(f.field, "invalid header name %q", f.name)
		}
	}
}

// quotaMeaning says what the header of a quota_headers field carries.
func quotaMeaning(field string) string {
	if field == "quota_headers.remaining" {
		return "how many requests are left"
	}
	return "when the quota resets (seconds, or an epoch in seconds or milliseconds)"
}
