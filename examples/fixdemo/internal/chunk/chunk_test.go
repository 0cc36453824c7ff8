package chunk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestReadSmall(t *testing.T) {
	got, err := Read(strings.NewReader("hello, world"), 5)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Read = %q, %v; want \"hello\", nil", got, err)
	}
}

func TestReadShortStream(t *testing.T) {
	got, err := Read(strings.NewReader("abc"), 10)
	if err != nil || string(got) != "abc" {
		t.Fatalf("Read = %q, %v; want \"abc\", nil", got, err)
	}
}

func TestReadNegative(t *testing.T) {
	if _, err := Read(strings.NewReader("x"), -1); !errors.Is(err, ErrNegative) {
		t.Fatalf("err = %v, want ErrNegative", err)
	}
}

// TestReadCapped is the regression test for the missing size cap: asking
// for more than Max must never yield (or allocate) more than Max bytes.
func TestReadCapped(t *testing.T) {
	src := bytes.Repeat([]byte{'x'}, 3*Max)
	for _, n := range []int{Max, Max + 1, 10000, 3 * Max} {
		got, err := Read(bytes.NewReader(src), n)
		if err != nil {
			t.Fatalf("Read(%d): %v", n, err)
		}
		if want := min(n, Max); len(got) != want {
			t.Errorf("Read(%d) returned %d bytes, want %d", n, len(got), want)
		}
	}
}
