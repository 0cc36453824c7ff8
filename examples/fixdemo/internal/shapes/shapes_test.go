package shapes

import "testing"

func TestArea(t *testing.T) {
	if got := NewSquare(3).Area(); got != 9 {
		t.Fatalf("Area = %g, want 9", got)
	}
}

func TestDescribeRecovers(t *testing.T) {
	if _, err := Describe("not a shape"); err == nil {
		t.Fatal("Describe of a string returned no error")
	}
}

// TestSquareIsValueShape is the regression test for the receiver mix-up: a
// Square value must satisfy Shape, and what NewSquare returns must be
// accepted by Describe.
func TestSquareIsValueShape(t *testing.T) {
	var v any = Square{Side: 2}
	if _, ok := v.(Shape); !ok {
		t.Error("Square (a value) does not satisfy Shape")
	}
	got, err := Describe(NewSquare(2))
	if err != nil {
		t.Fatalf("Describe(NewSquare(2)): %v", err)
	}
	if want := "square side=2 area=4"; got != want {
		t.Fatalf("Describe = %q, want %q", got, want)
	}
}
