package counter

import (
	"sync"
	"testing"
)

func TestZeroValue(t *testing.T) {
	var c Counter
	if got := c.Value(); got != 0 {
		t.Fatalf("zero Counter Value = %d, want 0", got)
	}
	c.Inc()
	c.Inc()
	if got := c.Value(); got != 2 {
		t.Fatalf("Value after 2 Inc = %d, want 2", got)
	}
}

// TestConcurrentInc is the regression test for the data race: many
// goroutines incrementing at once must not race (run it with -race, which
// fails the test on a detected race) and must not lose increments.
func TestConcurrentInc(t *testing.T) {
	const goroutines, each = 8, 1000
	var c Counter
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < each; j++ {
				c.Inc()
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := c.Value(); got != goroutines*each {
		t.Fatalf("Value = %d, want %d", got, goroutines*each)
	}
}
