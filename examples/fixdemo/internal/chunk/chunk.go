// Package chunk reads size-prefixed chunks from a stream.
//
// The requested size comes from the peer, so it must not decide on its own
// how much memory is allocated. The fix caps it at Max before the buffer is
// made; the tag fixdemo_unfixed_chunk restores the old, far too loose check.
package chunk

import (
	"errors"
	"io"
)

// Max is the largest chunk Read will allocate, in bytes.
const Max = 4096

// ErrNegative is returned for a negative requested size.
var ErrNegative = errors.New("chunk: negative size")

// Read reads up to n bytes from r and returns what it got. A short stream
// is not an error: the returned slice is simply shorter. Sizes above the
// limit are cut down by limit before anything is allocated.
func Read(r io.Reader, n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrNegative
	}
	if tooLarge(n) {
		n = limit(n)
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:got], err
}

// limit returns the size to use for a request of n bytes that tooLarge
// rejected. It is kept out of line so that it shows up as its own function
// (and breakpoint target) in the binary.
//
//go:noinline
func limit(n int) int {
	if n > Max {
		return Max
	}
	return n
}
