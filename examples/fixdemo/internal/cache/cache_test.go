package cache

import (
	"fmt"
	"testing"
)

func TestPutGet(t *testing.T) {
	c := New(4)
	c.Put("a", []byte("1"))
	c.Put("b", []byte("2"))
	c.Put("a", []byte("3")) // replace, not a new entry
	if got := c.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	if v, ok := c.Get("a"); !ok || string(v) != "3" {
		t.Fatalf("Get(a) = %q, %v; want \"3\", true", v, ok)
	}
	if _, ok := c.Get("zzz"); ok {
		t.Fatal("Get of a missing key reported ok")
	}
}

func TestNewClampsMax(t *testing.T) {
	if got := New(0).Max(); got != 1 {
		t.Fatalf("New(0).Max() = %d, want 1", got)
	}
}

// TestBoundedGrowth is the regression test for the unbounded cache: many
// distinct keys must leave exactly max entries, the newest ones.
func TestBoundedGrowth(t *testing.T) {
	const max, n = 64, 1000
	c := New(max)
	for i := 0; i < n; i++ {
		c.Put(fmt.Sprintf("key-%d", i), []byte{byte(i)})
		if c.Len() > max {
			t.Fatalf("after %d puts Len = %d, exceeds max %d", i+1, c.Len(), max)
		}
	}
	if c.Len() != max || len(c.m) != max || len(c.order) != max {
		t.Fatalf("Len = %d, map = %d, order = %d; want %d each", c.Len(), len(c.m), len(c.order), max)
	}
	if _, ok := c.Get("key-0"); ok {
		t.Error("oldest key key-0 still present")
	}
	if _, ok := c.Get(fmt.Sprintf("key-%d", n-1)); !ok {
		t.Error("newest key missing")
	}
}
