package hints

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The provider table is declared once (Providers): the README and
// ARCHITECTURE.md show it row for row.
func TestProviderTableDocumented(t *testing.T) {
	for _, doc := range []string{"README.md", "ARCHITECTURE.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatalf("read %s: %v", doc, err)
		}
		for _, p := range Providers {
			row := fmt.Sprintf("| %s | %s | %s |", p.Name, p.Signals, p.Treatment)
			if !strings.Contains(string(b), row) {
				t.Errorf("%s lacks the provider row:\n%s", doc, row)
			}
		}
	}
}
