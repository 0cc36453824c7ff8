// Package counter is a counter shared by many goroutines.
//
// Safe concurrent increments are the fix this package demonstrates: an
// earlier version incremented a plain field, so concurrent calls raced and
// lost updates. Build with the tag fixdemo_unfixed_race to get that old
// behaviour back (the race detector reports it under -race).
package counter

// Counter counts events. Its zero value is ready to use, and once the fix is
// in, Inc and Value are safe for concurrent use.
type Counter struct {
	n int64
}
