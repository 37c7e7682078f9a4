package sink

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/syncflow/syncflow/source"
)

// NUL characters (U+0000) are the one thing a JSON record may hold that
// PostgreSQL refuses: TEXT cannot store the byte 0 and JSONB refuses the
// escape \u0000 (SQLSTATE 22021 and 22P05). Rather than failing a whole sync
// on one odd record, every driver stores a NUL character as the six
// characters `\u0000` (backslash, u, four zeros), the way JSON writes it:
//
//   - in a record key (source.Record.Key, already decoded), the byte 0
//     becomes the text `\u0000`: key "a\x00b" is stored as `a\u0000b`;
//   - in record data, the JSON escape \u0000 inside a string becomes the
//     escaped backslash \\u0000, so the stored string holds the text
//     `\u0000` where the source's held a NUL; all other bytes are kept.
//
// SQLite could store both as they are, but applies the same rule so that
// the two destinations hold the same records. The rule is not reversible
// for a key or string that already contains the text `\u0000`; no other
// key or data changes.

// nulEscape is the JSON escape of U+0000 and the text a NUL is stored as.
const nulEscape = `\u0000`

// StoredKey is the key a record is stored under: key with every NUL byte
// written as the text `\u0000`.
func StoredKey(key string) string {
	if strings.IndexByte(key, 0) < 0 {
		return key
	}
	return strings.ReplaceAll(key, "\x00", nulEscape)
}

// StoredData is the JSON text a record's data is stored as: data with
// every \u0000 escape turned into the text `\u0000` (see above). data is
// returned unchanged, without a copy, when it holds none.
func StoredData(data json.RawMessage) json.RawMessage {
	if !bytes.Contains(data, []byte(nulEscape)) {
		return data
	}
	out := make([]byte, 0, len(data)+8)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '\\' || i+1 >= len(data) {
			out = append(out, c)
			continue
		}
		// In valid JSON a backslash only starts an escape inside a string;
		// copy the escape whole so that `\\u0000` (a literal backslash
		// followed by u0000) is left alone.
		if bytes.HasPrefix(data[i:], []byte(nulEscape)) {
			out = append(out, `\\u0000`...)
			i += len(nulEscape) - 1
			continue
		}
		out = append(out, c, data[i+1])
		i++
	}
	return out
}

// StoredRecords applies StoredKey and StoredData to a page: records itself
// when no record holds a NUL, else a copy. Every driver's Commit calls it.
func StoredRecords(records []source.Record) []source.Record {
	var out []source.Record
	for i, r := range records {
		k, d := StoredKey(r.Key), StoredData(r.Data)
		if out == nil && (k != r.Key || len(d) != len(r.Data)) {
			out = make([]source.Record, len(records))
			copy(out, records[:i])
		}
		if out != nil {
			out[i] = source.Record{Key: k, Data: d}
		}
	}
	if out == nil {
		return records
	}
	return out
}
