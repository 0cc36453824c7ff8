//go:build !fixdemo_unfixed_chunk

package chunk

// tooLarge reports whether a request must be cut down by limit: anything
// over Max.
func tooLarge(n int) bool { return n > Max }
