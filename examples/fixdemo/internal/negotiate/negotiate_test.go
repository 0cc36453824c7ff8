package negotiate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
)

func TestPick(t *testing.T) {
	cases := []struct {
		header string
		want   language.Tag
	}{
		{"fr-CH, fr;q=0.9, en;q=0.8", language.French},
		{"de", language.German},
		{"ja, en;q=0.5", language.English},
		{"", language.English},
	}
	for _, c := range cases {
		t.Run(c.header, func(t *testing.T) {
			got, err := Pick(c.header)
			if err != nil {
				t.Fatalf("Pick(%q): %v", c.header, err)
			}
			if got != c.want {
				t.Fatalf("Pick(%q) = %v, want %v", c.header, got, c.want)
			}
		})
	}
}

// TestRegressionGO20221059 proves the fix for GO-2022-1059 is linked: an
// Accept-Language header with more than 1000 dashes must be rejected at once
// instead of being parsed in quadratic time.
func TestRegressionGO20221059(t *testing.T) {
	header := "x" + strings.Repeat("-a", 2000)
	start := time.Now()
	_, err := Pick(header)
	if err == nil {
		t.Fatalf("a %d-byte tag list was accepted; golang.org/x/text is older than v0.3.8", len(header))
	}
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("unexpected error: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("rejecting the header took %v", d)
	}
}
