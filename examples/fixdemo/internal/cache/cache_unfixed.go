//go:build fixdemo_unfixed_cache

package cache

// makeRoom is the vulnerable version: it never evicts, so the cache keeps
// every key it was ever given and max is ignored.
func (c *Cache) makeRoom() {}
