// Package shapes holds the value types a renderer draws.
//
// The contract is that a shape is a plain value: callers copy it freely and
// handlers take it by value. The fix puts Square's Area method on the value
// receiver, so Square itself satisfies Shape and NewSquare can hand out
// values. The build tag fixdemo_unfixed_iface restores the old pointer
// receiver, under which NewSquare returns *Square and Describe fails.
package shapes

import "fmt"

// Shape is what the renderer needs from every shape.
type Shape interface {
	Area() float64
}

// Square is an axis-aligned square.
type Square struct {
	Side float64
}

// Describe handles one "describe" request for a shape the decoder produced
// as v. A panic inside the handler (for instance a failed type assertion)
// is turned into an error, as a server's recover wrapper would do, so one bad
// request cannot take the process down.
func Describe(v any) (desc string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("shapes: describe: %v", r)
		}
	}()
	s := v.(Shape)   // whatever it is, it must be a Shape
	sq := v.(Square) // and squares travel by value, never by pointer
	return fmt.Sprintf("square side=%g area=%g", sq.Side, s.Area()), nil
}
