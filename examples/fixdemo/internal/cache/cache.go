// Package cache is a small in-memory key/value cache with a fixed capacity.
//
// The capacity bound is the fix this package demonstrates: an earlier
// version never dropped entries, so a client sending many distinct keys made
// the process grow without limit. Build with the tag fixdemo_unfixed_cache to
// get that old behaviour back (for showing that the checks catch it).
package cache

// Cache maps string keys to byte slices and holds at most max entries once
// the fix is in. It is not safe for concurrent use.
type Cache struct {
	// size is the number of entries, kept as a plain field (rather than
	// derived from len(m)) so a debugger can read it directly.
	size  int
	max   int
	m     map[string][]byte
	order []string // keys, oldest first
}

// New returns an empty cache meant to hold at most max entries.
// A max below 1 is treated as 1.
func New(max int) *Cache {
	if max < 1 {
		max = 1
	}
	return &Cache{max: max, m: make(map[string][]byte)}
}

// Put stores val under key. Replacing an existing key does not change the
// size; a new key may first push out the oldest entry (see makeRoom).
//
//go:noinline
func (c *Cache) Put(key string, val []byte) {
	if _, ok := c.m[key]; ok {
		c.m[key] = val
		return
	}
	c.makeRoom()
	c.m[key] = val
	c.order = append(c.order, key)
	c.size++
}

// Get returns the value stored under key and whether it was present.
func (c *Cache) Get(key string) ([]byte, bool) {
	v, ok := c.m[key]
	return v, ok
}

// Len reports how many entries the cache holds.
func (c *Cache) Len() int { return c.size }

// Max reports the capacity given to New.
func (c *Cache) Max() int { return c.max }

// evictOldest drops the entry that was inserted first.
func (c *Cache) evictOldest() {
	if len(c.order) == 0 {
		return
	}
	oldest := c.order[0]
	c.order[0] = "" // let the string be collected
	c.order = c.order[1:]
	delete(c.m, oldest)
	c.size--
}
