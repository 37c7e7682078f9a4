package config

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
)

// SharedKey is the rate-limit key a dataset gets without rate_limit.key
// when its requests send credential references: the ${NAME}s of its
// headers and its auth block, with its URL's host. Datasets that send the
// same credentials to the same host share one budget by default, since a
// provider's quota belongs to the credential (ARCHITECTURE.md §Rate-limit
// layers, "Shared budgets"). It is "" for a dataset that sends none.
//
// The key reads HOST[-PORT].NAME[.NAME…] (names sorted, the port only when
// the URL gives one); one that would not be a valid key (longer than
// MaxIDLength, an IPv6 address) is "shared-" and a hash of the same text.
// It holds names and a host, never a value.
func (d Dataset) SharedKey() string {
	names := d.CredentialRefs()
	if len(names) == 0 {
		return ""
	}
	u, err := url.Parse(d.Source.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" {
		host += "-" + p
	}
	key := host + "." + strings.Join(names, ".")
	if !isSafeID(key) {
		sum := sha256.Sum256([]byte(key))
		key = "shared-" + hex.EncodeToString(sum[:8])
	}
	return key
}

// CredentialRefs returns the ${NAME}s a dataset's requests send (headers
// and auth), sorted, without duplicates.
func (d Dataset) CredentialRefs() []string {
	var names []string
	// The order of the map does not matter: the names are sorted below.
	//workflowcheck:ignore
	for _, v := range d.Source.Headers {
		refs, _ := EnvRefs(v) // a malformed one is reported by validation
		names = append(names, refs...)
	}
	names = append(names, d.Source.Auth.Refs()...)
	slices.Sort(names)
	return slices.Compact(names)
}
