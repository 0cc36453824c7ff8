//go:build fixdemo_unfixed_chunk

package chunk

// tooLarge is the vulnerable version: it only trips for requests over 1 GiB,
// so the peer can still make Read allocate far more than Max.
func tooLarge(n int) bool { return n > 1<<30 }
