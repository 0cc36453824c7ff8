//go:build !fixdemo_unfixed_cache

package cache

// makeRoom drops the oldest entries until one more fits under max, so the
// cache never holds more than max entries.
func (c *Cache) makeRoom() {
	for c.size >= c.max {
		c.evictOldest()
	}
}
