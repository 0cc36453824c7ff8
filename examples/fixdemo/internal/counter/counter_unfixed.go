//go:build fixdemo_unfixed_race

package counter

// Inc is the racy version: a plain read-modify-write, so concurrent calls
// race and can lose increments. It is kept out of line so it shows up as its
// own function in the binary.
//
//go:noinline
func (c *Counter) Inc() { c.n++ }

// Value returns the current count.
func (c *Counter) Value() int64 { return c.n }
