//go:build fixdemo_unfixed_iface

package shapes

// Area is the vulnerable version: on the pointer receiver, only *Square is a
// Shape, so NewSquare has to return a pointer and the "shapes are values"
// contract that Describe relies on is broken.
func (s *Square) Area() float64 { return s.Side * s.Side }

// NewSquare returns a square of the given side as a Shape (here a *Square).
//
// It is kept out of line: were it inlined, a newer compiler (Go 1.26 on) could
// see through the interface at the call site and leave no itab in the binary.
//
//go:noinline
func NewSquare(side float64) Shape { return &Square{Side: side} }
