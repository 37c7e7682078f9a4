package codec

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Environment variables that configure the codec of every syncflow process
// (worker, starter, starter demo, a program using connect).
const (
	// EnvKeys holds the keys: ID:BASE64KEY[,ID:BASE64KEY…].
	EnvKeys = "SYNCFLOW_CODEC_KEYS"
	// EnvKeysFile names a file holding the keys in EnvKeys's format (commas
	// or new lines between keys). Exclusive with EnvKeys.
	EnvKeysFile = "SYNCFLOW_CODEC_KEYS_FILE"
	// EnvCompress set to true compresses payloads before encrypting them.
	EnvCompress = "SYNCFLOW_CODEC_COMPRESS"
)

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte // KeySize bytes
}

// ParseKeys parses ID:BASE64KEY entries separated by commas or new lines;
// blank entries are skipped. from names the source in errors (a variable
// or a file). The secret never appears in an error.
func ParseKeys(spec, from string) ([]Key, error) {
	var keys []Key
	entries := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	n := 0
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		n++
		id, b64, ok := strings.Cut(e, ":")
		id = strings.TrimSpace(id)
		if !ok {
			return nil, fmt.Errorf("%s: key %d: want ID:BASE64KEY", from, n)
		}
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", from, n, err)
		}
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("%s: key %d (%q): not standard base64", from, n, id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("%s: key %d (%q): %d bytes, want %d (generate one with `openssl rand -base64 32`)", from, n, id, len(secret), KeySize)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key (want ID:BASE64KEY[,ID:BASE64KEY…])", from)
	}
	return keys, nil
}

// checkKeyID refuses IDs that could not be written back in EnvKeys's format.
func checkKeyID(id string) error {
	if id == "" {
		return fmt.Errorf("codec: empty key ID")
	}
	if strings.ContainsAny(id, ":, \t\r\n") {
		return fmt.Errorf("codec: key ID %q: no ':', ',' or spaces allowed", id)
	}
	return nil
}

// FromEnv returns the codec the environment configures (EnvKeys or
// EnvKeysFile, EnvCompress), read through lookup (os.LookupEnv when nil).
// Without either variable it returns a codec without keys, which encrypts
// nothing. Bad key material is an error naming the variable, the file and
// the key's position and ID, never the key.
func FromEnv(lookup func(string) (string, bool)) (*Codec, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(k string) string {
		v, ok := lookup(k)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	compress := false
	if v := get(EnvCompress); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", EnvCompress, v)
		}
		compress = b
	}
	spec, file := get(EnvKeys), get(EnvKeysFile)
	var from string
	switch {
	case spec != "" && file != "":
		return nil, fmt.Errorf("%s and %s are both set: set one", EnvKeys, EnvKeysFile)
	case spec != "":
		from = EnvKeys
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeysFile, err)
		}
		spec, from = string(b), EnvKeysFile+" "+file
	default:
		return New(nil, compress)
	}
	keys, err := ParseKeys(spec, from)
	if err != nil {
		return nil, err
	}
	return New(keys, compress)
}
