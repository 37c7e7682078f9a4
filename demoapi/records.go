package demoapi

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Record is one synthetic record. Every field derives from the dataset, the
// record's number and the seed: the same seed gives the same records.
type Record struct {
	ID        string  `json:"id"`
	N         int     `json:"n"`
	Dataset   string  `json:"dataset"`
	Name      string  `json:"name"`
	Amount    float64 `json:"amount"`
	Currency  string  `json:"currency"`
	Status    string  `json:"status"`
	CreatedAt string  `json:"created_at"`
}

var (
	adjectives = []string{"amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hollow", "icy", "jolly", "keen", "lucky", "mellow", "nimble", "olive", "proud"}
	nouns      = []string{"anchor", "badger", "cactus", "dune", "ember", "falcon", "glacier", "harbor", "island", "juniper", "kettle", "lantern", "meadow", "nebula", "orchid", "pebble"}
	currencies = []string{"EUR", "USD", "GBP", "CHF"}
	statuses   = []string{"new", "paid", "shipped", "refunded"}
	epoch      = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// hashString is a stable 64-bit hash of s (FNV-1a).
func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// mix is the splitmix64 finaliser: a cheap, well-spread function of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// makeRecord returns record n (1-based) of a dataset.
func makeRecord(seed uint64, dataset string, dsHash uint64, n int) Record {
	h := mix(seed ^ mix(dsHash^uint64(n)))
	cents := int64(h%1_000_000) + 100 // 1.00 .. 10000.99
	return Record{
		ID:        fmt.Sprintf("%s-%06d", dataset, n),
		N:         n,
		Dataset:   dataset,
		Name:      adjectives[(h>>20)%uint64(len(adjectives))] + " " + nouns[(h>>28)%uint64(len(nouns))],
		Amount:    float64(cents) / 100,
		Currency:  currencies[(h>>36)%uint64(len(currencies))],
		Status:    statuses[(h>>44)%uint64(len(statuses))],
		CreatedAt: epoch.Add(time.Duration(n)*17*time.Minute + time.Duration(h>>52)*time.Second).Format(time.RFC3339),
	}
}
