//go:build !fixdemo_unfixed_race

package counter

import "sync/atomic"

// Inc adds one to the counter atomically. It is kept out of line so it
// shows up as its own function in the binary.
//
//go:noinline
func (c *Counter) Inc() { atomic.AddInt64(&c.n, 1) }

// Value returns the current count.
func (c *Counter) Value() int64 { return atomic.LoadInt64(&c.n) }
