//go:build !fixdemo_unfixed_iface

package shapes

// Area is on the value receiver, so both Square and *Square are Shapes.
func (s Square) Area() float64 { return s.Side * s.Side }

// NewSquare returns a square of the given side as a Shape. The conversion
// of a Square value to Shape is resolved at compile time, which puts a
// static itab for (Square, Shape) into the binary.
//
// It is kept out of line: were it inlined, a newer compiler (Go 1.26 on) could
// see through the interface at the call site and leave no itab in the binary.
//
//go:noinline
func NewSquare(side float64) Shape { return Square{Side: side} }
