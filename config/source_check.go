package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncflow/syncflow/source"
)

// fieldProblem is a problem at a field path relative to a dataset's source.
type fieldProblem struct {
	field, msg string
}

func sourceDuration(d time.Duration) source.Duration { return source.Duration(d) }

// sourceProblems checks a dataset's source: the secrets policy (config's
// concern: secrets never enter workflow inputs), then the source fields
// themselves through source.Config.Validate.
func sourceProblems(ds Dataset) []fieldProblem {
	probs := secretProblems(ds)
	return append(probs, sourceConfigProblems(ds.Source)...)
}

// sensitiveWords mark a header or query parameter whose value is a credential.
var sensitiveWords = []string{"auth", "token", "key", "secret", "password", "passwd", "cookie", "session", "signature", "credential"}

func isSensitive(name string) bool {
	name = strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

var nonEnvChars = regexp.MustCompile(`[^A-Z0-9_]+`)

// envSuggestion proposes an environment variable name for a dataset's token.
func envSuggestion(id string) string {
	name := nonEnvChars.ReplaceAllString(strings.ToUpper(id), "_") + "_TOKEN"
	if !envNameRE.MatchString(name) || strings.HasPrefix(name, "_") {
		return "API_TOKEN"
	}
	return name
}

// secretProblems checks that header values that carry credentials reference
// environment variables instead of holding the secret, and that the URL (which
// is never expanded) carries neither references nor credentials. Messages
// never repeat the values.
func secretProblems(ds Dataset) []fieldProblem {
	var probs []fieldProblem
	names := make([]string, 0, len(ds.Source.Headers))
	for name := range ds.Source.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		value := ds.Source.Headers[name]
		// Malformed references are reported by source.Config.Validate.
		if !strings.Contains(value, "${") && isSensitive(name) && value != "" {
			probs = append(probs, fieldProblem{"headers." + name, fmt.Sprintf(
				"%s header must reference an environment variable such as ${%s}, not contain the secret",
				strings.ToLower(name), envSuggestion(ds.ID))})
		}
	}
	if strings.Contains(ds.Source.URL, "${") {
		probs = append(probs, fieldProblem{"url",
			"environment variable references are resolved in header values only, not in the URL"})
	} else {
		probs = append(probs, queryProblems("url", ds.Source.URL, ds.ID)...)
	}
	if a := ds.Source.Auth; a != nil && a.TokenURL != "" && !strings.Contains(a.TokenURL, "${") {
		probs = append(probs, queryProblems("auth.token_url", a.TokenURL, ds.ID)...)
	}
	return probs
}

// queryProblems reports the query parameters of a URL that look like
// credentials: a URL enters workflow history.
func queryProblems(field, rawURL, id string) []fieldProblem {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	var probs []fieldProblem
	params := u.Query()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if isSensitive(k) && slices.ContainsFunc(params[k], func(v string) bool { return v != "" }) {
			probs = append(probs, fieldProblem{field, fmt.Sprintf(
				"query parameter %q looks like a credential: the URL enters workflow history; send it in a header that references an environment variable such as ${%s}, or with auth type api_key_query",
				k, envSuggestion(id))})
		}
	}
	return probs
}

// sourceConfigProblems maps the problems of source.Config.Validate, whose
// field paths are relative to the source like ours.
func sourceConfigProblems(c source.Config) []fieldProblem {
	err := c.Validate()
	if err == nil {
		return nil
	}
	var verr *source.ValidationError
	if !errors.As(err, &verr) {
		return []fieldProblem{{"", err.Error()}}
	}
	probs := make([]fieldProblem, len(verr.Problems))
	for i, p := range verr.Problems {
		probs[i] = fieldProblem{p.Field, p.Message}
	}
	return probs
}
