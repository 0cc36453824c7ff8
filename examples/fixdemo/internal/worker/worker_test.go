package worker

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// settle waits up to timeout for the number of goroutines to drop to at
// most want, and returns the last count seen.
func settle(want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunsJobs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := Start(ctx, 4)
	var sum atomic.Int64
	for i := 1; i <= 10; i++ {
		i := i
		if err := p.Submit(func() { sum.Add(int64(i)) }); err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(time.Second)
	for p.Ran() < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if p.Ran() != 10 || sum.Load() != 55 {
		t.Fatalf("ran %d jobs, sum %d; want 10, 55", p.Ran(), sum.Load())
	}
}

func TestSubmitAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Start(ctx, 2)
	cancel()
	// While a worker is still waiting, both cases of Submit's select may be
	// ready; once the workers are gone only ErrStopped remains.
	if !p.Wait(time.Second) {
		t.Skip("workers still running after cancel (see TestNoLeakAfterCancel)")
	}
	if err := p.Submit(func() {}); err != ErrStopped {
		t.Fatalf("Submit after cancel = %v, want ErrStopped", err)
	}
}

// TestNoLeakAfterCancel is the regression test for the goroutine leak: once
// the pool's context is cancelled every worker must return, bringing the
// goroutine count back to what it was before the pool started.
func TestNoLeakAfterCancel(t *testing.T) {
	const workers = 50
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	p := Start(ctx, workers)
	for i := 0; i < 5; i++ {
		if err := p.Submit(func() {}); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	cancel()
	if !p.Wait(time.Second) {
		t.Errorf("%d of %d workers still running 1s after cancel", p.Live(), workers)
	}
	if n := settle(base, time.Second); n > base {
		t.Fatalf("goroutines = %d after cancel, want at most the %d from before Start", n, base)
	}
}
